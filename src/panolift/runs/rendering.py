"""Rendering a run (trained or edited) to image folders, a video for a camera trajectory, and finding
the predictions of a run for the evaluation.

Layout (what the evaluation reads as it is)::

    OUT/rgb/<frame>.png        colour
    OUT/depth/<frame>.png      uint16 z-depth in millimetres (world units x 1000)
    OUT/semantics/<frame>.png  class index (uint8; uint16 when more than 255 classes)
    OUT/instance/<frame>.png   uint16, 0 for stuff/void, 3D-consistent ids for things: slot + 1, or
                               32768 and up for further pieces of a slot (`panolift info RUN` lists them)
    OUT/overlay/<frame>.png    [semantic overlay | panoptic overlay] side by side
    OUT/video.mp4              trajectories only: [rgb | panoptic overlay]
    OUT/before_after/<frame>.png   edited runs only: [rgb | panoptic] before (top-left) and after the edits
with OUT = RUN/render/<split> by default (RUN/render/trajectory for a trajectory).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from panolift.errors import OptionError
from panolift.evaluate.prediction import PredictionSource
from panolift.field.precision import PRECISIONS
from panolift.lift.threads import ThreadTuner
from panolift.render import (
    colorize_panoptic,
    colorize_semantics,
    depth_to_uint16,
    label_snap_of,
    overlay,
    panoptic_from_rendering,
    remove_classes,
    render_image,
    thing_mask_of,
    unwrap_field,
)
from panolift.scene import SceneError, fit_size, scale_intrinsics
from panolift.scene.io import (
    atomic_path,
    read_json,
    read_label,
    read_matrix,
    read_rgb,
    write_image,
    write_json,
)

from .edited import load_run
from .folder import RUN_FILE, is_edited_run, read_run_info
from .loaded import LoadedRun
from .regions import instance_table_of_run

log = logging.getLogger(__name__)

MAX_RENDER_WIDTH = 8192
RenderProgress = Callable[[int, int, str], None]
"""progress(done, total, frame_name) after each rendered frame."""


def read_trajectory(path: str | Path) -> list[np.ndarray]:
    """Camera-to-world poses (world units, OpenCV) from a JSON list of 4x4 matrices or a folder of .txt."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
        if not files:
            raise SceneError(f"{path}: no pose .txt files in trajectory folder")
        return [read_matrix(f) for f in files]
    raw = read_json(path, "trajectory")  # a regular file of capped size: a FIFO never blocks
    try:
        poses = [np.asarray(m, dtype=np.float64) for m in raw] if isinstance(raw, list) else []
    except (TypeError, ValueError) as exc:
        raise SceneError(f"{path}: cannot read trajectory ({exc})") from None
    bad = [i for i, m in enumerate(poses) if m.shape != (4, 4) or not np.all(np.isfinite(m))]
    if not poses or bad:
        raise SceneError(
            f"{path}: a trajectory is a JSON list of finite 4x4 matrices (bad entries: {bad[:5]})"
        )
    return poses


def write_frame_outputs(
    out: Path,
    name: str,
    rendering: dict[str, torch.Tensor],
    loaded: LoadedRun,
    instances=None,
    min_segment_share: float = 0.0,
    snap: tuple[int, float, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write rgb / depth / semantics / instance / overlay PNGs of one frame; returns the video frame and
    the class map. ``instances``: the run's :class:`~panolift.edit.InstanceTable` (ids of the pieces of a
    slot); ``min_segment_share``: specks of things merged into their surroundings (``RenderConfig``);
    ``snap``: the labels snapped to the rendered colour (:func:`~panolift.render.label_snap_of`)."""
    semantics, instance = panoptic_from_rendering(
        rendering, loaded.class_set, instances, min_segment_share=min_segment_share, snap=snap
    )
    rgb = rendering["rgb"].clamp(0, 1).cpu().numpy()
    write_image(out / "rgb" / f"{name}.png", np.round(rgb * 255).astype(np.uint8))
    write_image(out / "depth" / f"{name}.png", depth_to_uint16(rendering["depth"].cpu().numpy()))
    return write_labels(out, name, rgb, semantics, instance, loaded.class_set), semantics


def write_labels(
    out: Path, name: str, rgb: np.ndarray, semantics: np.ndarray, instance: np.ndarray, class_set
) -> np.ndarray:
    """Write the semantics / instance / overlay PNGs of one frame (``rgb``: float, (H, W, 3)); returns its
    video frame, [rgb | panoptic overlay]."""
    num_classes = class_set.num_classes
    pan_overlay = panoptic_overlay(rgb, semantics, instance, class_set)
    write_image(
        out / "semantics" / f"{name}.png", semantics.astype(np.uint8 if num_classes <= 256 else np.uint16)
    )
    write_image(out / "instance" / f"{name}.png", instance.astype(np.uint16))
    sem_overlay = overlay(rgb, colorize_semantics(semantics, num_classes))
    write_image(out / "overlay" / f"{name}.png", np.concatenate([sem_overlay, pan_overlay], axis=1))
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), pan_overlay], axis=1)


GUESSED_VOTED_SHARE = 0.1
"""A small class with at most this share of its pixels on voted surfaces (the rest on unvoted surfaces or
on no surface: the ray's opacity under a half) is a guess as well (:func:`stray_classes`). Guessed classes
in sparse outward loops 53 and 57 held 0-4% (a television, a toilet, a refrigerator none of them has),
real ones that the half-unvoted rule would keep 36-44% (109's cabinet, 199's lamp; SUITE.md,
fifty-third round)."""


def stray_classes(
    class_pixels: np.ndarray,
    min_pixels: float,
    unlabelled_pixels: np.ndarray | None = None,
    max_unlabelled_pixels: float = 0.0,
    open_pixels: np.ndarray | None = None,
) -> list[int]:
    """Classes (void aside) that a rendered split shows on fewer than ``min_pixels`` pixels in all its
    frames together: a handful of pixels of a class the scene may not have at all, which would cost
    PQ^scene and mIoU (means over classes) a whole class. With ``unlabelled_pixels`` (each class's pixels
    on surfaces that no training view labelled, :func:`unlabelled_mask`), also a class shown on fewer than
    ``max_unlabelled_pixels`` pixels of which at least half are such: the heads' guess where the capture
    told nothing (a floater before an unseen floor), not a class any training view saw there. With
    ``open_pixels`` (each class's pixels whose ray ends on no surface), such a small class is stray also
    when at most :data:`GUESSED_VOTED_SHARE` of its pixels lie on voted surfaces (neither unlabelled nor
    open): a class drawn in the haze where no training view looked."""
    stray = [c for c in range(1, len(class_pixels)) if 0 < class_pixels[c] < min_pixels]
    if unlabelled_pixels is not None and max_unlabelled_pixels > 0:
        voted = class_pixels - unlabelled_pixels - (0 if open_pixels is None else open_pixels)
        stray += [
            c
            for c in range(1, len(class_pixels))
            if c not in stray
            and 0 < class_pixels[c] < max_unlabelled_pixels
            and (
                2 * unlabelled_pixels[c] >= class_pixels[c]
                or (open_pixels is not None and voted[c] <= GUESSED_VOTED_SHARE * class_pixels[c])
            )
        ]
    return sorted(stray)


UNLABELLED_WARN_SHARE = 0.05
"""Share of a rendered split's pixels that show what no training view labelled (:func:`unlabelled_message`)
above which `panolift render` warns: 0.3-2.0% of the test views' pixels in the dense suite rooms, the
held-out ones and the independent room, 6.9-19.6% in sparse captures 53, 57, 109, 198, 199, 207, of which
53 and 57 lift below their labels (benchmarks/SUITE.md, forty-fourth and fifty-fourth rounds)."""


def unlabelled_measure(field, unlabelled: int, opaque: int, total: int) -> dict:
    """What a rendered split shows that no training view labelled, from its pixels on surfaces no training
    ray labelled, its opaque pixels and all its pixels: ``share`` (what `panolift render` warns on, above
    :data:`UNLABELLED_WARN_SHARE`), ``unlabelled`` and ``open_beyond`` (shares of all pixels) and
    ``train_open`` (the share of the training rays that ended on no surface, fused with the votes since
    stop 73; None before). With ``train_open``: the unlabelled surface pixels plus the open pixels beyond
    that share, over all pixels (a view into the haze where no training view looked shows no surface at
    all; the open background that the training views show as well does not count). Without it: the
    unlabelled share of the surface pixels (``open_beyond`` None)."""
    unlabelled, opaque, total = int(unlabelled), int(opaque), int(total)
    train_open = getattr(field, "label_vote_open_share", None)
    if train_open is None:
        share = unlabelled / max(opaque, 1)
        return {
            "share": share,
            "unlabelled": unlabelled / max(total, 1),
            "open_beyond": None,
            "train_open": None,
        }
    beyond = max(0.0, (total - opaque) - train_open * total)
    return {
        "share": (unlabelled + beyond) / total,
        "unlabelled": unlabelled / total,
        "open_beyond": beyond / total,
        "train_open": train_open,
    }


def unlabelled_message(field, unlabelled: int, opaque: int, total: int) -> tuple[str, float]:
    """(:func:`unlabelled_measure` in words, its share)."""
    measure = unlabelled_measure(field, unlabelled, opaque, total)
    return describe_unlabelled(measure), measure["share"]


def describe_unlabelled(measure: dict) -> str:
    """A :func:`unlabelled_measure` in words."""
    if measure["train_open"] is None:
        return f"{100 * measure['share']:.1f}% of the rendered surface pixels show surfaces that no training view labelled"
    return (
        f"{100 * measure['share']:.1f}% of the rendered pixels show what no training view labelled "
        f"({100 * measure['unlabelled']:.1f}% surfaces no training ray labelled, "
        f"{100 * measure['open_beyond']:.1f}% open beyond the training rays' {100 * measure['train_open']:.1f}% "
        "that end on no surface)"
    )


UNSEEN_FILE = "unseen.json"
"""A rendered split's :func:`unlabelled_measure` (and whether `render` warned), next to its pictures."""

UNLABELLED_COLOR = (255, 140, 0)
"""Orange: a surface that no training ray labelled, in a split's ``unseen/`` pictures."""
OPEN_COLOR = (40, 120, 255)
"""Blue: a ray that ends on no surface, in a split's ``unseen/`` pictures."""


def unseen_picture(rgb: np.ndarray, unlabelled: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the rendered colour ``rgb`` (float, (H, W, 3)) in grey, with the pixels on
    surfaces that no training ray labelled in orange and those on no surface in blue (:func:`unlabelled_mask`'s
    maps): where a view looks beyond what the training views labelled."""
    grey = np.repeat(np.clip(rgb, 0.0, 1.0).mean(axis=2, keepdims=True), 3, axis=2)
    colors = np.round(grey * 255.0).astype(np.uint8)
    colors[unlabelled] = UNLABELLED_COLOR
    colors[~opaque] = OPEN_COLOR
    return overlay(grey, colors)


def unlabelled_mask(field, rendering: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray] | None:
    """(unlabelled, opaque): (H, W) bool maps of a rendering. ``opaque``: the pixel's ray ends on a
    surface (opacity > 0.5); ``unlabelled``: an opaque pixel whose surface point (where its ray ends) has no
    node of the field's label votes among its lattice corners, so the training views told nothing about
    it and its labels are the heads' guess. None when the field keeps no label votes (the `paper`
    preset)."""
    if not getattr(field, "has_label_votes", False) or "points" not in rendering:
        return None
    opaque = rendering["opacity"] > 0.5
    _, voted = field.label_votes_at(rendering["points"][opaque])
    unlabelled = torch.zeros_like(opaque)
    unlabelled[opaque] = ~voted
    return unlabelled.cpu().numpy(), opaque.cpu().numpy()


def drop_stray_classes(
    out: Path,
    names: list[str],
    classes: list[int],
    class_set,
    video: list[np.ndarray] | None = None,
    shown: list[np.ndarray] | None = None,
) -> int:
    """Rewrite the semantics / instance / overlay PNGs (and ``video``'s frames, in the order of ``names``)
    of the frames that show ``classes``, their pixels given the class and id of the nearest other pixels
    (:func:`panolift.render.remove_classes`). ``shown``: each frame's (num_classes,) bool classes, when
    known (the other frames are then not read). Returns the number of frames changed."""
    changed = 0
    for i, name in enumerate(names):
        if shown is not None and not shown[i][classes].any():
            continue
        semantics = read_label(out / "semantics" / f"{name}.png", "rendered semantics").astype(np.int64)
        if not np.isin(semantics, classes).any():
            continue
        instance = read_label(out / "instance" / f"{name}.png", "rendered instance ids").astype(np.int64)
        semantics, instance = remove_classes(semantics, instance, classes)
        rgb = read_rgb(out / "rgb" / f"{name}.png").astype(np.float32) / 255.0
        frame = write_labels(out, name, rgb, semantics, instance, class_set)
        if video is not None:
            video[i] = frame
        changed += 1
    return changed


def panoptic_overlay(rgb: np.ndarray, semantics: np.ndarray, instance: np.ndarray, class_set) -> np.ndarray:
    """(H, W, 3) uint8 panoptic colours (:func:`panolift.render.colorize_panoptic`) over float rgb."""
    return overlay(rgb, colorize_panoptic(semantics, instance, class_set.num_classes, class_set.thing_ids))


GUTTER = 4


def compose_strip(
    before: dict[str, torch.Tensor],
    after: dict[str, torch.Tensor],
    class_set,
    instances=(None, None),
    min_segment_share: float = 0.0,
    snap: tuple[int, float, int] | None = None,
) -> np.ndarray:
    """The before/after picture of an edited run (uint8, a 4-pixel white gutter)::

    rgb before        | rgb after
    panoptic before   | panoptic after

    ``instances``: the instance tables of the two fields (None: slot ids); ``min_segment_share`` and
    ``snap`` as in :func:`write_frame_outputs`."""
    tiles = []
    for rendering, table in zip((before, after), instances, strict=True):
        semantics, instance = panoptic_from_rendering(
            rendering, class_set, table, min_segment_share=min_segment_share, snap=snap
        )
        rgb = rendering["rgb"].clamp(0, 1).cpu().numpy()
        tiles.append(
            (np.round(rgb * 255).astype(np.uint8), panoptic_overlay(rgb, semantics, instance, class_set))
        )
    (rgb_b, pan_b), (rgb_a, pan_a) = tiles
    h, w = rgb_b.shape[:2]
    out = np.full((2 * h + GUTTER, 2 * w + GUTTER, 3), 255, dtype=np.uint8)
    for (row, col), image in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [rgb_b, rgb_a, pan_b, pan_a], strict=True):
        out[row * (h + GUTTER) : row * (h + GUTTER) + h, col * (w + GUTTER) : col * (w + GUTTER) + w] = image
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    """Encode frames as an H.264 mp4 (imageio-ffmpeg); odd sizes are padded to even."""
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(str(tmp), fps=fps, codec="libx264", format="FFMPEG", macro_block_size=2)
        for frame in frames:
            h, w = frame.shape[:2]
            writer.append_data(np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
        writer.close()


def render_run(
    run_dir: str | Path,
    split: str = "test",
    out: str | Path | None = None,
    trajectory: str | Path | None = None,
    width: int = 0,
    device: torch.device | str | None = None,
    progress: RenderProgress | None = None,
    chunk_rays: int = 0,
    tuner: ThreadTuner | None = None,
    min_segment_share: float | None = None,
    precision: str | None = None,
    label_snap_radius: float | None = None,
) -> Path:
    """Render the ``split`` frames of the run's scene (or the poses of ``trajectory``) and write the folders.

    ``width`` 0 renders at the scene's native size (what the evaluation expects), else at ``width`` with
    the native aspect ratio; ``tuner`` is told each chunk of rays' duration and picks the CPU thread
    count (:mod:`panolift.lift.threads`); ``min_segment_share``: thing segments below this share of a
    frame's pixels, and classes below it in all the frames together, merged into their surroundings
    (None: the run's ``RenderConfig``; 0: kept); ``precision``: the MLPs' precision
    (``RenderConfig.image_precision``; None: the run's); ``label_snap_radius``: the labels snapped to the
    rendered colour over this share of the width (``RenderConfig.label_snap_radius``; None: the run's; 0:
    off).
    Returns the output folder.
    """
    if not 0 <= width <= MAX_RENDER_WIDTH:
        raise OptionError(f"--width {width}: must be 0 (the scene's size) or 1..{MAX_RENDER_WIDTH} pixels")
    if chunk_rays < 0:
        raise OptionError(f"chunk_rays {chunk_rays}: must be 0 (the run's setting) or positive")
    if min_segment_share is not None and not 0.0 <= min_segment_share < 1.0:
        raise OptionError(
            f"--min-segment-share {min_segment_share}: must be in [0, 1) (0: keep every segment)"
        )
    if label_snap_radius is not None and not 0.0 <= label_snap_radius <= 0.25:
        raise OptionError(f"--label-snap-radius {label_snap_radius}: must be in [0, 0.25] (0: off)")
    if precision is not None and precision not in PRECISIONS:
        raise OptionError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    run_dir = Path(run_dir)
    loaded = load_run(run_dir, device)
    field = loaded.field
    scene = loaded.open_scene()
    w, h = fit_size(scene.native_size, width=width)
    K = scale_intrinsics(scene.intrinsics, scene.size, (w, h))
    config = dataclasses.replace(loaded.config.render, **({"chunk_rays": chunk_rays} if chunk_rays else {}))
    if precision is not None:
        config = dataclasses.replace(config, image_precision=precision)
    if label_snap_radius is not None:
        config = dataclasses.replace(config, label_snap_radius=label_snap_radius)
    share = config.min_segment_share if min_segment_share is None else min_segment_share
    snap = label_snap_of(config, w)
    edited = is_edited_run(run_dir)
    if trajectory is not None:
        poses = read_trajectory(trajectory)
        names = [f"{i:05d}" for i in range(len(poses))]
        out = Path(out) if out is not None else run_dir / "render" / "trajectory"
    else:
        if split not in ("train", "test"):
            raise OptionError(f"--split {split}: must be train or test")
        names = scene.train_frames if split == "train" else scene.test_frames
        poses = [scene.pose(n) for n in names]
        out = Path(out) if out is not None else run_dir / "render" / split
    instances = instance_table_of_run(loaded, device=device)
    source_instances = (
        instance_table_of_run(loaded, device=device, field=unwrap_field(field)) if edited else None
    )
    thing_mask = thing_mask_of(loaded.class_set)
    video = []
    class_pixels = np.zeros(loaded.class_set.num_classes, dtype=np.int64)
    shown = []  # each frame's classes
    unlabelled = np.zeros(3, dtype=np.int64)  # pixels on surfaces no training ray labelled, opaque, all
    unlabelled_classes = np.zeros_like(class_pixels)  # each class's pixels on such surfaces
    open_classes = np.zeros_like(class_pixels)  # each class's pixels on no surface
    for i, (name, pose) in enumerate(zip(names, poses, strict=True)):
        on_chunk = tuner.step_done if tuner is not None else None
        rendering = render_image(
            field,
            K,
            pose,
            w,
            h,
            normalization=loaded.normalization,
            config=config,
            on_chunk=on_chunk,
            thing_mask=thing_mask,
            parallel_chunks=True,
        )
        frame, semantics = write_frame_outputs(out, name, rendering, loaded, instances, share, snap)
        video.append(frame)
        counts = np.bincount(semantics.ravel(), minlength=len(class_pixels))
        class_pixels += counts
        shown.append(counts > 0)
        if not edited:  # (an edited run's moved objects stand where no vote was cast)
            masks = unlabelled_mask(unwrap_field(field), rendering)
            if masks is not None:
                unlabelled += (int(masks[0].sum()), int(masks[1].sum()), masks[1].size)
                rgb = rendering["rgb"].clamp(0, 1).cpu().numpy()
                write_image(out / "unseen" / f"{name}.png", unseen_picture(rgb, *masks))
                unlabelled_classes += np.bincount(semantics[masks[0]], minlength=len(class_pixels))
                open_classes += np.bincount(semantics[~masks[1]], minlength=len(class_pixels))
        else:
            before = render_image(
                unwrap_field(field),
                K,
                pose,
                w,
                h,
                normalization=loaded.normalization,
                config=config,
                thing_mask=thing_mask,
                parallel_chunks=True,
            )
            write_image(
                out / "before_after" / f"{name}.png",
                compose_strip(
                    before, rendering, loaded.class_set, (source_instances, instances), share, snap
                ),
            )
        if progress is not None:
            progress(i + 1, len(names), name)
    guessed = config.unlabelled_class_share * w * h if share > 0 else 0.0
    stray = stray_classes(class_pixels, share * w * h, unlabelled_classes, guessed, open_classes)
    if stray:
        changed = drop_stray_classes(out, names, stray, loaded.class_set, video, shown)
        log.info(
            "stray classes (%s: under %.0f pixels in all %d frames, or under %.0f mostly where no training view "
            "labelled) merged into their surroundings in %d frames",
            ", ".join(f"{loaded.class_set.names[c]} {class_pixels[c]} px" for c in stray),
            share * w * h,
            len(names),
            guessed,
            changed,
        )
    if unlabelled[2]:
        measure = unlabelled_measure(unwrap_field(field), *unlabelled)
        warned = measure["share"] > UNLABELLED_WARN_SHARE
        write_json(out / UNSEEN_FILE, {**measure, "warned": warned})
        message = describe_unlabelled(measure)
        if warned:
            log.warning(message + ": these views look where the capture saw little or nothing")
        else:
            log.info(message)
    if trajectory is not None:
        write_video(out / "video.mp4", video)
    log.info("rendered %d frames of %s to %s", len(names), run_dir, out)
    return out


def resolve_prediction(path: str | Path, scene: str | Path | None = None) -> PredictionSource:
    """What ``panolift eval PATH`` scores: a run folder (predictions in RUN/render/test/, the scene from its
    run.json) or a folder with semantics/ inside (the scene from ``scene``, or from the run.json two levels
    up, as in RUN/render/<split>/)."""
    path = Path(path)
    run_dir = None
    if os.path.lexists(path / RUN_FILE):
        folder, run_dir = path / "render" / "test", path
        if not (folder / "semantics").is_dir():
            raise SceneError(f"{folder}: no rendered test predictions (run `panolift render {path}` first)")
    elif (path / "semantics").is_dir():
        folder = path
        if (path.parent.parent / RUN_FILE).is_file():
            run_dir = path.parent.parent
    else:
        raise SceneError(f"{path}: neither a run folder (run.json) nor a prediction folder (semantics/)")
    if scene is None:
        if run_dir is None:
            raise SceneError(f"{path}: no run.json to take the scene from; pass --scene")
        scene = read_run_info(run_dir).scene_path
        if not scene.is_dir():
            run_file = run_dir / RUN_FILE
            state = "is not a folder" if os.path.lexists(scene) else "is gone (moved or deleted?)"
            raise SceneError(
                f"{run_file}: the scene the run was trained on, {scene}, {state}; put it back, write its "
                f'new place into the "scene" entry of {run_file}, or pass --scene'
            )
    return PredictionSource(folder=folder, scene_root=Path(scene), run_dir=run_dir)
