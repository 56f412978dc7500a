"""Importing a COLMAP model (binary or text) and its images as a scene folder (``panolift import colmap``)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from panolift.scene.io import SceneError

from .colmap_io import camera_model_from_colmap, read_colmap_model
from .images import natural_sort_key
from .world_frame import rotate_poses, world_rotation
from .world_scale import compute_world_scale, read_points3d, rescale_frames
from .write_scene import CaptureFrame, check_import_options, write_capture_scene

log = logging.getLogger(__name__)


def frames_from_colmap(
    sparse_dir: str | Path, images_dir: str | Path, scene_depth: float = 0.0, orient: bool = False
) -> tuple[list, float, np.ndarray | None]:
    """The registered images of a COLMAP model as CaptureFrames (camera-to-world, OpenCV), sorted by name,
    the world scale applied to them and the world rotation: with ``scene_depth`` > 0 the world is
    rescaled so that 95 % of the model's point depths lie within ``scene_depth`` (see
    :mod:`panolift.capture.world_scale`); with ``orient`` it is turned upright (z up) with its walls
    along x and y (:mod:`panolift.capture.world_frame`; the rotation is None without it)."""
    sparse_dir, images_dir = Path(sparse_dir), Path(images_dir)
    model = read_colmap_model(sparse_dir)
    if not model.images:
        raise SceneError(f"{sparse_dir}: the model has no registered images")
    cameras_file = next(p for p in (sparse_dir / "cameras.bin", sparse_dir / "cameras.txt") if p.exists())
    cameras = {cid: camera_model_from_colmap(cam, cameras_file) for cid, cam in model.cameras.items()}
    images = sorted(model.images.values(), key=lambda im: natural_sort_key(im.name))
    missing = [im.name for im in images if not (images_dir / im.name).is_file()]
    if missing:
        raise SceneError(
            f"{images_dir}: {len(missing)} image(s) of the model are missing, e.g. {missing[:3]}"
        )
    frames = [CaptureFrame(images_dir / im.name, cameras[im.camera_id], im.c2w) for im in images]
    scale = compute_world_scale(sparse_dir, model, scene_depth) if scene_depth > 0 else None
    if scale is not None:
        rescale_frames(frames, scale)
    rotation = None
    if orient:
        points = read_points3d(sparse_dir)[0]
        rotation = world_rotation(np.stack([f.c2w for f in frames]), points if len(points) else None)
        for frame, pose in zip(
            frames, rotate_poses(np.stack([f.c2w for f in frames]), rotation), strict=True
        ):
            frame.c2w = pose
        log.info(
            "%s: world turned upright, walls along x and y (%.1f degrees; %s)", sparse_dir,
            math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(rotation)) - 1.0) / 2.0)))),
            "from the cameras and the 3D points" if len(points) >= 100 else "from the cameras only",
        )  # fmt: skip
    return frames, scale or 1.0, rotation


def import_colmap(
    sparse_dir: str | Path,
    images_dir: str | Path,
    out: str | Path,
    test_every: int = 8,
    max_size: int | None = None,
    scene_depth: float = 3.5,
    orient: bool = True,
    **kwargs,
):
    """Import a COLMAP model (binary or text) and its images as a scene folder; returns the Scene.

    ``scene_depth`` > 0 rescales the world to room size from the model's 3D points (see
    :mod:`panolift.capture.world_scale`; ROOM_DEPTH = 3.5); 0, or a model without points, keeps its scale.
    ``orient`` turns the world upright and wall-aligned (:mod:`panolift.capture.world_frame`).
    """
    check_import_options(test_every, max_size, scene_depth)
    frames, scale, rotation = frames_from_colmap(sparse_dir, images_dir, scene_depth, orient)
    metadata = {
        "source": "colmap",
        "sparse_dir": str(sparse_dir),
        "images_dir": str(images_dir),
        "world_scale": scale,
        "world_rotation": None if rotation is None else rotation.tolist(),
    }
    return write_capture_scene(
        frames, out, test_every=test_every, max_size=max_size, metadata=metadata, **kwargs
    )
