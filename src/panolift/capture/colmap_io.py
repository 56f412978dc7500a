"""Reading and writing COLMAP sparse models (cameras and images, text and binary), without pycolmap.

Formats as documented at https://colmap.github.io/format.html: ``cameras.txt|bin`` (id, model, width,
height, params) and ``images.txt|bin`` (id, qvec = (w, x, y, z), tvec, camera id, name, 2D points). Poses are
world-to-camera in the OpenCV camera convention. 3D points are not needed here and are not read;
``points3D`` is written empty so that COLMAP tools accept the folder.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from panolift.scene import scale_intrinsics
from panolift.scene.io import SceneError, atomic_path

from .poses import c2w_from_colmap, colmap_from_c2w
from .undistort import CameraModel

log = logging.getLogger(__name__)

# model id -> (name, number of parameters), COLMAP's src/colmap/sensor/models.h
CAMERA_MODELS: dict[int, tuple[str, int]] = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12), 11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
    12: ("SIMPLE_DIVISION", 4), 13: ("DIVISION", 5), 14: ("SIMPLE_FISHEYE", 3), 15: ("FISHEYE", 4),
    16: ("EUCM", 6), 17: ("EQUIRECTANGULAR", 2),
}  # fmt: skip
MODEL_IDS = {name: mid for mid, (name, _) in CAMERA_MODELS.items()}
UNDISTORTABLE_MODELS = (
    "SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV", "OPENCV_FISHEYE",
    "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE", "SIMPLE_FISHEYE", "FISHEYE",
)  # fmt: skip


@dataclass
class ColmapCamera:
    camera_id: int
    model: str  # e.g. "PINHOLE", "OPENCV"
    width: int
    height: int
    params: np.ndarray  # model-specific, COLMAP order


@dataclass
class ColmapImage:
    image_id: int
    qvec: np.ndarray  # (4,) world-to-camera rotation, (w, x, y, z)
    tvec: np.ndarray  # (3,) world-to-camera translation
    camera_id: int
    name: str  # path relative to the images folder

    @property
    def c2w(self) -> np.ndarray:
        """4x4 camera-to-world, OpenCV convention."""
        return c2w_from_colmap(self.qvec, self.tvec)


@dataclass
class ColmapModel:
    cameras: dict[int, ColmapCamera] = field(default_factory=dict)
    images: dict[int, ColmapImage] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- reading
def _data_lines(path: Path) -> list[str]:
    return [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def read_cameras_text(path: Path) -> dict[int, ColmapCamera]:
    cameras = {}
    for line in _data_lines(path):
        tok = line.split()
        try:
            cam = ColmapCamera(
                int(tok[0]), tok[1], int(tok[2]), int(tok[3]), np.array(tok[4:], dtype=np.float64)
            )
        except (IndexError, ValueError) as exc:
            raise SceneError(f"{path}: malformed camera line {line!r} ({exc})") from exc
        expected = CAMERA_MODELS[MODEL_IDS[cam.model]][1] if cam.model in MODEL_IDS else len(cam.params)
        if len(cam.params) != expected:
            raise SceneError(
                f"{path}: camera {cam.camera_id} ({cam.model}) needs {expected} parameters, got {len(cam.params)}"
            )
        cameras[cam.camera_id] = cam
    return cameras


def read_images_text(path: Path) -> dict[int, ColmapImage]:
    images = {}
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    # Each image has two lines (pose, then 2D points); the points line may be empty, so no filtering here.
    while lines and not lines[-1].strip():
        lines.pop()
    for pose_line in lines[0::2]:
        tok = pose_line.split(maxsplit=9)
        try:
            image = ColmapImage(
                int(tok[0]), np.array(tok[1:5], dtype=np.float64), np.array(tok[5:8], dtype=np.float64),
                int(tok[8]), tok[9].strip(),
            )  # fmt: skip
        except (IndexError, ValueError) as exc:
            raise SceneError(f"{path}: malformed image line {pose_line!r} ({exc})") from exc
        images[image.image_id] = image
    return images


def read_cameras_binary(path: Path) -> dict[int, ColmapCamera]:
    data = path.read_bytes()
    (num,), offset = struct.unpack_from("<Q", data, 0), 8
    cameras = {}
    try:
        for _ in range(num):
            camera_id, model_id, width, height = struct.unpack_from("<IiQQ", data, offset)
            offset += 24
            if model_id not in CAMERA_MODELS:
                raise SceneError(f"{path}: camera {camera_id} has unknown model id {model_id}")
            name, num_params = CAMERA_MODELS[model_id]
            params = np.array(struct.unpack_from(f"<{num_params}d", data, offset))
            offset += 8 * num_params
            cameras[camera_id] = ColmapCamera(camera_id, name, width, height, params)
    except struct.error as exc:
        raise SceneError(f"{path}: truncated file ({exc})") from exc
    return cameras


def read_images_binary(path: Path) -> dict[int, ColmapImage]:
    data = path.read_bytes()
    (num,), offset = struct.unpack_from("<Q", data, 0), 8
    images = {}
    try:
        for _ in range(num):
            image_id, *pose, camera_id = struct.unpack_from("<I7dI", data, offset)
            offset += 64
            end = data.index(b"\x00", offset)
            name = data[offset:end].decode("utf-8")
            offset = end + 1
            (num_points,) = struct.unpack_from("<Q", data, offset)
            offset += 8 + num_points * 24  # x, y (double) and point3D id (int64) per 2D point
            images[image_id] = ColmapImage(image_id, np.array(pose[:4]), np.array(pose[4:]), camera_id, name)
    except (struct.error, ValueError) as exc:
        raise SceneError(f"{path}: truncated or malformed file ({exc})") from exc
    return images


def read_colmap_model(sparse_dir: str | Path) -> ColmapModel:
    """Read cameras and images of a COLMAP model folder (``.bin`` preferred over ``.txt`` when both exist)."""
    sparse_dir = Path(sparse_dir)
    if not sparse_dir.is_dir():
        raise SceneError(f"{sparse_dir}: COLMAP model folder does not exist")
    for suffix, read_cams, read_imgs in (
        (".bin", read_cameras_binary, read_images_binary),
        (".txt", read_cameras_text, read_images_text),
    ):
        cams, imgs = sparse_dir / f"cameras{suffix}", sparse_dir / f"images{suffix}"
        if cams.exists() and imgs.exists():
            model = ColmapModel(read_cams(cams), read_imgs(imgs))
            break
    else:
        hint = " (did you mean its subfolder sparse/0?)" if (sparse_dir / "0").is_dir() else ""
        raise SceneError(f"{sparse_dir}: no cameras.bin/images.bin or cameras.txt/images.txt{hint}")
    for image in model.images.values():
        if image.camera_id not in model.cameras:
            raise SceneError(f"{sparse_dir}: image {image.name!r} refers to missing camera {image.camera_id}")
    log.info("COLMAP model %s: %d cameras, %d images", sparse_dir, len(model.cameras), len(model.images))
    return model


# ----------------------------------------------------------------------------------------------- writing
def write_colmap_model(sparse_dir: str | Path, model: ColmapModel, binary: bool = False) -> None:
    """Write cameras, images (without 2D points) and an empty points3D, as text or binary."""
    sparse_dir = Path(sparse_dir)
    sparse_dir.mkdir(parents=True, exist_ok=True)
    cams = sorted(model.cameras.values(), key=lambda c: c.camera_id)
    imgs = sorted(model.images.values(), key=lambda i: i.image_id)
    if binary:
        cam_bytes = struct.pack("<Q", len(cams)) + b"".join(
            struct.pack("<IiQQ", c.camera_id, MODEL_IDS[c.model], c.width, c.height)
            + struct.pack(f"<{len(c.params)}d", *c.params)
            for c in cams
        )
        img_bytes = struct.pack("<Q", len(imgs)) + b"".join(
            struct.pack("<I7dI", i.image_id, *i.qvec, *i.tvec, i.camera_id)
            + i.name.encode("utf-8") + b"\x00" + struct.pack("<Q", 0)
            for i in imgs
        )  # fmt: skip
        files = {"cameras.bin": cam_bytes, "images.bin": img_bytes, "points3D.bin": struct.pack("<Q", 0)}
    else:
        cam_lines = [
            "# Camera list with one line of data per camera:",
            "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        ]
        cam_lines += [
            f"{c.camera_id} {c.model} {c.width} {c.height} " + " ".join(f"{p:.17g}" for p in c.params)
            for c in cams
        ]
        img_lines = ["# Image list with two lines of data per image:", "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "#   POINTS2D[] as (X, Y, POINT3D_ID)"]  # fmt: skip
        for i in imgs:
            pose = " ".join(f"{v:.17g}" for v in (*i.qvec, *i.tvec))
            img_lines += [f"{i.image_id} {pose} {i.camera_id} {i.name}", ""]
        files = {
            "cameras.txt": "\n".join(cam_lines) + "\n",
            "images.txt": "\n".join(img_lines) + "\n",
            "points3D.txt": "# 3D point list with one line of data per point:\n",
        }
    for name, content in files.items():
        with atomic_path(sparse_dir / name) as tmp:
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                tmp.write_text(content)


# ----------------------------------------------------------------------------------------------- cameras
def camera_model_from_colmap(camera: ColmapCamera, source: str | Path = "") -> CameraModel:
    """The :class:`CameraModel` of a COLMAP camera; models that are not (fisheye-)radial-tangential raise
    SceneError naming ``source`` and the model."""
    p = [float(v) for v in camera.params]
    w, h, m = camera.width, camera.height, camera.model
    if m in (
        "SIMPLE_PINHOLE",
        "SIMPLE_RADIAL",
        "RADIAL",
        "SIMPLE_RADIAL_FISHEYE",
        "RADIAL_FISHEYE",
        "SIMPLE_FISHEYE",
    ):
        f, cx, cy, extra = p[0], p[1], p[2], tuple(p[3:])
        kind = "fisheye" if "FISHEYE" in m else ("radtan" if extra else "pinhole")
        return CameraModel(w, h, f, f, cx, cy, kind=kind, radial=extra)
    if m in ("PINHOLE", "FISHEYE"):
        return CameraModel(w, h, *p[:4], kind="fisheye" if m == "FISHEYE" else "pinhole")
    if m == "OPENCV":
        return CameraModel(w, h, *p[:4], kind="radtan", radial=tuple(p[4:6]), tangential=(p[6], p[7]))
    if m == "FULL_OPENCV":
        radial = (p[4], p[5], p[8])
        return CameraModel(w, h, *p[:4], kind="radtan", radial=radial, radial_den=tuple(p[9:12]), tangential=(p[6], p[7]))  # fmt: skip
    if m == "OPENCV_FISHEYE":
        return CameraModel(w, h, *p[:4], kind="fisheye", radial=tuple(p[4:8]))
    raise SceneError(
        f"{source}: camera {camera.camera_id} uses the COLMAP model {m}, which panolift cannot undistort "
        f"(supported: {', '.join(UNDISTORTABLE_MODELS)}); undistort it with `colmap "
        "image_undistorter` first and import the undistorted model"
    )


def export_scene_to_colmap(scene, sparse_dir: str | Path, binary: bool = False) -> None:
    """Write a scene's cameras as a COLMAP model: one PINHOLE camera, one image per frame named like its
    colour file (``0.jpg``), relative to the scene's ``color/`` folder."""
    K = scale_intrinsics(scene.intrinsics, scene.size, scene.native_size)  # the colour files' resolution
    w, h = scene.native_size
    camera = ColmapCamera(1, "PINHOLE", w, h, np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]))
    images = {}
    for i, name in enumerate(scene.frame_names, start=1):
        qvec, tvec = colmap_from_c2w(scene.pose(name))
        images[i] = ColmapImage(i, qvec, tvec, 1, scene.color_path(name).name)
    write_colmap_model(sparse_dir, ColmapModel({1: camera}, images), binary=binary)
