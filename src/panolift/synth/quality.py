"""Whether a synthetic scene is a fair test at all: a closed room, frames that see something, ground truth,
and 2D labels of realistic quality (their mIoU comes from :func:`panolift.evaluate.score.machine_label_miou`)."""

from __future__ import annotations

import numpy as np

from panolift.scene import Scene

STRUCTURE = ("wall", "floor", "ceiling")


def check_scene(
    scene: Scene,
    machine_miou: float,
    blind_depth: float = 0.4,
    max_blind_share: float = 0.1,
    min_object_share: float = 0.6,
    miou_range: tuple[float, float] = (0.25, 0.9),
) -> tuple[list[str], dict[str, float]]:
    """Is a synthetic scene a fair test? Returns (problems, numbers); no problems means valid.

    - the room is closed: every pixel of every frame sees a surface (depth > 0);
    - few blind frames: at most ``max_blind_share`` of the frames have a median depth under ``blind_depth``
      metres (a camera staring into a wall from up close);
    - most frames see something in the room: at least ``min_object_share`` of the frames show an object
      (anything but wall, floor and ceiling) on 1% of their pixels or more;
    - every test frame has ground truth without void;
    - the 2D labels' mIoU on the test frames (``machine_miou``) lies within ``miou_range`` (realistic, neither perfect nor
      useless); it is reported in the numbers either way.
    """
    problems: list[str] = []
    structure = [scene.class_set.names.index(n) for n in STRUCTURE if n in scene.class_set.names]
    open_pixels, blind, with_objects = 0, 0, 0
    for name in scene.frame_names:
        depth = scene.depth(name)
        gt = scene.ground_truth(name)
        if depth is None or gt is None:
            problems.append(f"frame {name}: no depth or ground truth")
            continue
        open_pixels += int((depth <= 0).sum())
        blind += int(np.median(depth) < blind_depth)
        with_objects += int(np.mean((gt.semantics > 0) & ~np.isin(gt.semantics, structure)) >= 0.01)
    for name in scene.test_frames:
        gt = scene.ground_truth(name)
        if gt is None or (gt.semantics == 0).any():
            problems.append(f"test frame {name}: ground truth missing or void")
    n = max(len(scene.frame_names), 1)
    miou = machine_miou
    numbers = {
        "open_pixels": float(open_pixels),
        "blind_share": blind / n,
        "object_share": with_objects / n,
        "machine_miou": miou,
    }
    if open_pixels:
        problems.append(f"{open_pixels} pixels see no surface: the room is not closed")
    if numbers["blind_share"] > max_blind_share:
        problems.append(f"{blind} of {n} frames stare at a surface closer than {blind_depth} m")
    if numbers["object_share"] < min_object_share:
        problems.append(f"only {with_objects} of {n} frames show an object on 1% of their pixels")
    if not miou_range[0] <= miou <= miou_range[1]:
        problems.append(f"2D label mIoU {100 * miou:.1f} outside {miou_range}")
    return problems, numbers
