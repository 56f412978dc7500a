"""Importing a COLMAP model (binary or text) and its images as a scene folder (``panolift import colmap``)."""

from __future__ import annotations

from pathlib import Path

from panolift.scene.io import SceneError

from .colmap_io import camera_model_from_colmap, read_colmap_model
from .images import natural_sort_key
from .world_scale import compute_world_scale, rescale_frames
from .write_scene import CaptureFrame, check_import_options, write_capture_scene


def frames_from_colmap(
    sparse_dir: str | Path, images_dir: str | Path, scene_depth: float = 0.0
) -> tuple[list, float]:
    """The registered images of a COLMAP model as CaptureFrames (camera-to-world, OpenCV), sorted by name,
    and the world scale applied to them: with ``scene_depth`` > 0 the world is rescaled so that 95 % of
    the model's point depths lie within ``scene_depth`` (see :mod:`panolift.capture.world_scale`)."""
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
    return frames, scale or 1.0


def import_colmap(
    sparse_dir: str | Path,
    images_dir: str | Path,
    out: str | Path,
    test_every: int = 8,
    max_size: int | None = None,
    scene_depth: float = 3.5,
    **kwargs,
):
    """Import a COLMAP model (binary or text) and its images as a scene folder; returns the Scene.

    ``scene_depth`` > 0 rescales the world to room size from the model's 3D points (see
    :mod:`panolift.capture.world_scale`; ROOM_DEPTH = 3.5); 0, or a model without points, keeps its scale.
    """
    check_import_options(test_every, max_size, scene_depth)
    frames, scale = frames_from_colmap(sparse_dir, images_dir, scene_depth)
    metadata = {
        "source": "colmap",
        "sparse_dir": str(sparse_dir),
        "images_dir": str(images_dir),
        "world_scale": scale,
    }
    return write_capture_scene(
        frames, out, test_every=test_every, max_size=max_size, metadata=metadata, **kwargs
    )
