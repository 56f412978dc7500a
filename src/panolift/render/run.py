"""Rendering a trained run to image folders (and a video for a camera trajectory).

Layout (what the evaluation reads as it is)::

    OUT/rgb/<frame>.png        colour
    OUT/depth/<frame>.png      uint16 z-depth in millimetres (world units x 1000)
    OUT/semantics/<frame>.png  class index (uint8; uint16 when more than 255 classes)
    OUT/instance/<frame>.png   uint16, 0 for stuff/void, 3D-consistent ids (slot + 1) for things
    OUT/overlay/<frame>.png    [semantic overlay | panoptic overlay] side by side
    OUT/video.mp4              trajectories only: [rgb | panoptic overlay]
with OUT = RUN/render/<split> by default (RUN/render/trajectory for a trajectory).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from panolift.config import RenderConfig
from panolift.lift.checkpoint import LoadedRun
from panolift.scene import Scene, SceneError, scale_intrinsics
from panolift.scene.io import read_matrix, write_image

from .colors import colorize_panoptic, colorize_semantics, depth_to_uint16, overlay
from .image import panoptic_from_rendering, render_image

log = logging.getLogger(__name__)

RenderProgress = Callable[[int, int, str], None]
"""progress(done, total, frame_name) after each rendered frame."""


def load_field_for_render(
    run_dir: str | Path, device: torch.device | str | None = None
) -> tuple[nn.Module, LoadedRun]:
    """The field ``panolift render`` draws, with its run. The one place where an edited run's field
    (RUN/edits.json) is to be wrapped by scene editing; here: the trained field as it is."""
    # --- scene editing (issue 7): an edited run renders its source run's field wrapped with the edits.
    from panolift.edit.runs import load_run_with_edits

    loaded = load_run_with_edits(run_dir, device)
    return loaded.field, loaded


def read_trajectory(path: str | Path) -> list[np.ndarray]:
    """Camera-to-world poses (world units, OpenCV) from a JSON list of 4x4 matrices or a folder of .txt."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
        if not files:
            raise SceneError(f"{path}: no pose .txt files in trajectory folder")
        return [read_matrix(f) for f in files]
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SceneError(f"{path}: cannot read trajectory ({exc})") from exc
    poses = [np.asarray(m, dtype=np.float64) for m in raw]
    bad = [i for i, m in enumerate(poses) if m.shape != (4, 4) or not np.all(np.isfinite(m))]
    if not poses or bad:
        raise SceneError(
            f"{path}: a trajectory is a JSON list of finite 4x4 matrices (bad entries: {bad[:5]})"
        )
    return poses


def write_frame_outputs(
    out: Path, name: str, rendering: dict[str, torch.Tensor], loaded: LoadedRun
) -> np.ndarray:
    """Write rgb / depth / semantics / instance / overlay PNGs of one frame; returns the video frame."""
    num_classes = loaded.class_set.num_classes
    semantics, instance = panoptic_from_rendering(rendering, loaded.class_set)
    rgb = rendering["rgb"].clamp(0, 1).cpu().numpy()
    write_image(out / "rgb" / f"{name}.png", np.round(rgb * 255).astype(np.uint8))
    write_image(out / "depth" / f"{name}.png", depth_to_uint16(rendering["depth"].cpu().numpy()))
    write_image(
        out / "semantics" / f"{name}.png", semantics.astype(np.uint8 if num_classes <= 256 else np.uint16)
    )
    write_image(out / "instance" / f"{name}.png", instance.astype(np.uint16))
    sem_overlay = overlay(rgb, colorize_semantics(semantics, num_classes))
    pan_overlay = overlay(rgb, colorize_panoptic(semantics, instance, num_classes))
    write_image(out / "overlay" / f"{name}.png", np.concatenate([sem_overlay, pan_overlay], axis=1))
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), pan_overlay], axis=1)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    """Encode frames as an H.264 mp4 (imageio-ffmpeg); odd sizes are padded to even."""
    import imageio.v2 as imageio

    from panolift.scene.io import atomic_path

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
) -> Path:
    """Render the ``split`` frames of the run's scene (or the poses of ``trajectory``) and write the folders.

    ``width`` 0 renders at the scene's native size (what the evaluation expects), else at ``width`` with
    the native aspect ratio. Returns the output folder.
    """
    run_dir = Path(run_dir)
    field, loaded = load_field_for_render(run_dir, device)
    scene = Scene(loaded.scene_path)
    w, h = (
        scene.native_size
        if width <= 0
        else (width, max(1, round(width * scene.native_size[1] / scene.native_size[0])))
    )
    K = scale_intrinsics(scene.intrinsics, scene.size, (w, h))
    config = RenderConfig(
        **{**loaded.config.render.__dict__, **({"chunk_rays": chunk_rays} if chunk_rays else {})}
    )
    if trajectory is not None:
        poses = read_trajectory(trajectory)
        names = [f"{i:05d}" for i in range(len(poses))]
        out = Path(out) if out is not None else run_dir / "render" / "trajectory"
    else:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got '{split}'")
        names = scene.train_frames if split == "train" else scene.test_frames
        poses = [scene.pose(n) for n in names]
        out = Path(out) if out is not None else run_dir / "render" / split
    video = []
    for i, (name, pose) in enumerate(zip(names, poses, strict=True)):
        rendering = render_image(field, K, pose, w, h, normalization=loaded.normalization, config=config)
        video.append(write_frame_outputs(out, name, rendering, loaded))
        if (run_dir / "edits.json").exists():  # --- scene editing (issue 7): before/after strip per frame
            from panolift.edit.strip import write_before_after

            write_before_after(out, name, field, rendering, K, pose, w, h, loaded, config)
        if progress is not None:
            progress(i + 1, len(names), name)
    if trajectory is not None:
        write_video(out / "video.mp4", video)
    log.info("rendered %d frames of %s to %s", len(names), run_dir, out)
    return out
