"""`panolift info SCENE`: summary and validation of a scene folder."""

from __future__ import annotations

from pathlib import Path


def scene_summary(scene) -> list[str]:
    """Lines describing a scene: frames, resolution, splits, classes present, 2D instances."""
    import numpy as np

    lines = [
        f"scene        {scene.root}",
        f"frames       {len(scene.frame_names)}  (train {len(scene.train_frames)}, test {len(scene.test_frames)})"
        + ("  the test split is empty: nothing to evaluate on" if not scene.test_frames else ""),
        f"resolution   {scene.native_size[0]}x{scene.native_size[1]}",
        f"classes      {scene.class_set.num_classes} (incl. void), things: "
        + ", ".join(scene.class_set.names[k] for k in scene.class_set.thing_ids),
    ]
    if scene.has_machine_labels:
        present: set[int] = set()
        n_instances = 0
        for name in scene.frame_names:
            semantics, instance = scene.machine_label_maps(name)
            present |= set(np.unique(semantics).tolist())
            n_instances += len(np.unique(instance[instance > 0]))
        names = [scene.class_set.names[k] for k in sorted(present) if k > 0]
        lines.append(f"m2f classes  {len(names)}: {', '.join(names)}")
        lines.append(f"2D instances {n_instances} over all frames (ids are per frame)")
    else:
        lines.append("m2f labels   none (run `panolift segment`)")
    lines.append(f"ground truth {'yes' if scene.has_ground_truth else 'no'}")
    return lines


def info(path: Path, /, deep: bool = False) -> None:
    """Print a summary of a scene folder (or a training run) and validate it.

    Args:
        path: a scene folder, or a run folder written by `panolift train`.
        deep: also decode every image, label and probability file and check their values (slower).
    """
    from panolift.scene import Scene, SceneError

    run_info = _run_info_or_none(path)
    if run_info is not None:
        run_info(path)
        return
    scene = Scene(path)
    try:
        scene.validate(deep=deep)
    except SceneError as exc:  # list every problem, then the CLI reports the error (exit status 2)
        print("validation   FAILED" + "".join(f"\n  {p}" for p in getattr(exc, "problems", [exc])))
        raise
    for line in scene_summary(scene):
        print(line)
    print(
        "validation   ok"
        + (" (every file decoded and checked)" if deep else " (headers; --deep decodes every file)")
    )


def _run_info_or_none(path: Path):
    """A run folder (has run.json) is described by `panolift info RUN` (its step, edits and 3D instances)."""
    import os

    if not os.path.lexists(Path(path) / "run.json"):  # a broken link or a FIFO is a run's, and reported
        return None
    from panolift.commands.run_info import run_info

    return run_info
