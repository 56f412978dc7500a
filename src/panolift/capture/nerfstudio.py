"""nerfstudio / instant-ngp ``transforms.json``: reading (import) and writing (export).

Poses are camera-to-world in the OpenGL camera convention (x right, y up, z backward); intrinsics are
given once at the top level and may be overridden per frame (fl_x, fl_y, cx, cy, w, h, k1..k4, p1, p2,
camera_model), or as instant-ngp's ``camera_angle_x`` (fx = w / (2 tan(camera_angle_x / 2))).
Distortion: nerfstudio's OPENCV is radial-tangential with 1 + k1 r² + k2 r⁴ + k3 r⁶ + k4 r⁸;
OPENCV_FISHEYE (or instant-ngp's ``is_fisheye``) is the equidistant model with k1..k4.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from panolift.errors import OptionError
from panolift.scene import scale_intrinsics
from panolift.scene.io import SceneError, image_size, write_json

from .images import natural_sort_key
from .poses import opencv_from_opengl, opengl_from_opencv
from .undistort import CameraModel
from .world_scale import rescale_frames
from .write_scene import CaptureFrame, check_import_options, write_capture_scene

log = logging.getLogger(__name__)

INTRINSIC_KEYS = (
    "fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1", "p2", "camera_model", "is_fisheye",
    "camera_angle_x", "camera_angle_y",
)  # fmt: skip
PERSPECTIVE_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "PERSPECTIVE")
FISHEYE_MODELS = ("OPENCV_FISHEYE", "FISHEYE")


def resolve_image_path(json_path: Path, file_path: str) -> Path:
    """The image of a frame: ``file_path`` relative to the JSON's folder; a missing suffix (the Blender
    NeRF scenes write ``./train/r_0``) is completed with .png / .jpg / .jpeg."""
    path = Path(file_path)
    if not path.is_absolute():
        path = json_path.parent / path
    if path.is_file():
        return path
    for suffix in (".png", ".jpg", ".jpeg", ".PNG", ".JPG"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    raise SceneError(f"{json_path}: image {file_path!r} of a frame does not exist ({path})")


def camera_from_transforms(params: dict, image_path: Path, json_path: Path) -> CameraModel:
    """The CameraModel of one frame from its merged (top-level, then per-frame) intrinsic keys."""
    model = str(params.get("camera_model", "OPENCV")).upper()
    if params.get("is_fisheye"):
        model = "OPENCV_FISHEYE"
    if model not in PERSPECTIVE_MODELS + FISHEYE_MODELS:
        raise SceneError(
            f"{json_path}: camera_model {model} (frame {image_path.name}) is not supported; panolift imports "
            f"pinhole, {', '.join(PERSPECTIVE_MODELS)} and {', '.join(FISHEYE_MODELS)} cameras"
        )
    if "w" in params and "h" in params:
        w, h = int(params["w"]), int(params["h"])
    else:
        w, h = image_size(image_path)
    if "fl_x" in params:
        fx = float(params["fl_x"])
    elif "camera_angle_x" in params:
        fx = w / (2.0 * math.tan(float(params["camera_angle_x"]) / 2.0))
    else:
        raise SceneError(f"{json_path}: no focal length (fl_x or camera_angle_x) for frame {image_path.name}")
    if "fl_y" in params:
        fy = float(params["fl_y"])
    elif "camera_angle_y" in params:
        fy = h / (2.0 * math.tan(float(params["camera_angle_y"]) / 2.0))
    else:
        fy = fx
    cx, cy = float(params.get("cx", w / 2.0)), float(params.get("cy", h / 2.0))
    k = tuple(float(params.get(f"k{i}", 0.0)) for i in range(1, 5))
    p = (float(params.get("p1", 0.0)), float(params.get("p2", 0.0)))
    if model in FISHEYE_MODELS:
        return CameraModel(w, h, fx, fy, cx, cy, kind="fisheye", radial=k)
    kind = "radtan" if any(k) or any(p) else "pinhole"
    return CameraModel(w, h, fx, fy, cx, cy, kind=kind, radial=k, tangential=p)


def _read_pose(frame: dict, json_path: Path, index: int) -> np.ndarray:
    try:
        pose = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (KeyError, ValueError, TypeError) as exc:
        raise SceneError(f"{json_path}: frame {index} has no valid transform_matrix ({exc})") from exc
    if pose.shape == (3, 4):
        pose = np.vstack([pose, [0.0, 0.0, 0.0, 1.0]])
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise SceneError(f"{json_path}: frame {index} transform_matrix must be a finite 4x4 (or 3x4) matrix")
    return opencv_from_opengl(pose)


def frames_from_transforms(json_path: str | Path) -> tuple[list, set[Path] | None]:
    """CaptureFrames (camera-to-world, OpenCV) of a transforms.json, in natural order of their image paths,
    and the set of test images named by its ``test_filenames`` / ``val_filenames`` (None when it names none)."""
    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
    except FileNotFoundError as exc:
        raise SceneError(f"{json_path}: file does not exist") from exc
    except json.JSONDecodeError as exc:
        raise SceneError(f"{json_path}: invalid JSON ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise SceneError(f"{json_path}: expected an object with a non-empty 'frames' list")
    shared = {k: meta[k] for k in INTRINSIC_KEYS if k in meta}
    frames = []
    for index, frame in enumerate(meta["frames"]):
        if "file_path" not in frame:
            raise SceneError(f"{json_path}: frame {index} has no file_path")
        image_path = resolve_image_path(json_path, frame["file_path"])
        params = {**shared, **{k: frame[k] for k in INTRINSIC_KEYS if k in frame}}
        camera = camera_from_transforms(params, image_path, json_path)
        frames.append(CaptureFrame(image_path, camera, _read_pose(frame, json_path, index)))
    # file order is often the matcher's, not the trajectory's: natural order keeps neighbours together
    frames.sort(key=lambda f: natural_sort_key(str(f.image_path)))
    test_names = meta.get("test_filenames") or meta.get("val_filenames")
    test = {resolve_image_path(json_path, n) for n in test_names} if test_names else None
    return frames, test


def import_nerfstudio(
    json_path: str | Path,
    out: str | Path,
    test_every: int = 8,
    max_size: int | None = None,
    scale: float = 1.0,
    **kwargs,
):
    """Import a nerfstudio / instant-ngp transforms.json and its images as a scene folder; returns the Scene.

    ``scale`` multiplies the camera positions (the file has no 3D points to infer a room scale from).
    """
    check_import_options(test_every, max_size)
    if not (scale > 0 and np.isfinite(scale)):
        raise OptionError(f"--scale must be positive, got {scale}")
    frames, test = frames_from_transforms(json_path)
    if scale != 1.0:
        rescale_frames(frames, scale)
    metadata = {"source": "nerfstudio", "transforms": str(json_path), "world_scale": scale}
    return write_capture_scene(
        frames, out, test_every=test_every, max_size=max_size, test_images=test, metadata=metadata, **kwargs
    )


def export_scene_to_transforms(scene, json_path: str | Path) -> None:
    """Write a scene's cameras as a nerfstudio transforms.json (shared pinhole intrinsics, OpenGL poses,
    image paths relative to the JSON's folder, the scene's test frames as ``test_filenames``)."""
    json_path = Path(json_path)
    K = scale_intrinsics(scene.intrinsics, scene.size, scene.native_size)  # the colour files' resolution

    def rel(name: str) -> str:
        return os.path.relpath(scene.color_path(name), json_path.parent)

    meta = {
        "camera_model": "OPENCV",
        "w": scene.native_size[0], "h": scene.native_size[1],
        "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2]),
        "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0,
        "frames": [
            {"file_path": rel(n), "transform_matrix": opengl_from_opencv(scene.pose(n)).tolist()}
            for n in scene.frame_names
        ],
        "train_filenames": [rel(n) for n in scene.train_frames],
        "test_filenames": [rel(n) for n in scene.test_frames],
    }  # fmt: skip
    write_json(json_path, meta)
