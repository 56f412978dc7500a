"""`panolift import images|colmap|nerfstudio ...`: bring your own capture into the scene layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro


@dataclass
class Images:
    """Photos or a video: frames, structure from motion (pycolmap, CPU), undistortion, scene."""

    source: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="DIR_OR_VIDEO")]
    """a folder of photos, or a video file (mp4, mov, ...)"""
    out: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT")]
    """the scene folder to write (frames and the COLMAP model go to OUT/colmap/)"""
    every: int = 1
    """keep every N-th frame (or photo)"""
    max_size: int = 1280
    """longest image side in pixels; larger frames are reduced before structure from motion"""
    test_every: int = 8
    """every k-th frame is a test frame"""
    camera_model: str = "SIMPLE_RADIAL"
    """COLMAP camera model shared by all frames (SIMPLE_RADIAL, OPENCV, PINHOLE, ...)"""
    min_registered: float = 0.5
    """fail when structure from motion registers fewer than this fraction of the frames"""
    threads: int = 1
    """CPU threads for COLMAP (1 gives repeatable results)"""
    fov: float = 0.0
    """the camera's horizontal field of view in degrees, if known: its focal length is then fixed instead
    of estimated (0: estimated; give it for video frames or small images, where self-calibration can fail)"""
    scene_depth: float = 3.5
    """SfM has no scale: rescale the world so that 95% of the 3D points lie within this depth of the
    cameras that see them (a room, in metres); 0 keeps COLMAP's scale"""
    orient: bool = True
    """turn the world upright (z up) with its walls along x and y, as the field's axis-aligned grids
    need (a room turned 37 degrees lost 1.3 dB); --no-orient keeps COLMAP's orientation"""


@dataclass
class Colmap:
    """An existing COLMAP model (binary or text) and its images."""

    sparse_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="SPARSE_DIR")]
    """the model folder (cameras.bin/images.bin or .txt), e.g. sparse/0"""
    images_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="IMAGES_DIR")]
    """the folder the model's image names are relative to"""
    out: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT")]
    """the scene folder to write"""
    max_size: int | None = None
    """longest image side in pixels (default: keep the camera's resolution)"""
    test_every: int = 8
    """every k-th frame is a test frame"""
    scene_depth: float = 3.5
    """rescale the world so that 95% of the model's 3D points lie within this depth of the cameras that
    see them (a room, in metres); 0 keeps the model's scale (also kept when it has no 3D points)"""
    orient: bool = True
    """turn the world upright (z up) with its walls along x and y (from the cameras and the 3D points),
    as the field's axis-aligned grids need; --no-orient keeps the model's orientation"""


@dataclass
class Nerfstudio:
    """A nerfstudio / instant-ngp transforms.json and its images."""

    transforms: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="TRANSFORMS_JSON")]
    """the transforms.json (image paths are relative to its folder)"""
    out: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT")]
    """the scene folder to write"""
    max_size: int | None = None
    """longest image side in pixels (default: keep the camera's resolution)"""
    test_every: int = 8
    """every k-th frame is a test frame (unless the file names test_filenames / val_filenames)"""
    scale: float = 1.0
    """multiply the world (camera positions) by this, e.g. to bring it to metres: training fits camera
    frusta 5 units deep into its unit sphere"""


Source = (
    Annotated[Images, tyro.conf.subcommand("images", prefix_name=False)]
    | Annotated[Colmap, tyro.conf.subcommand("colmap", prefix_name=False)]
    | Annotated[Nerfstudio, tyro.conf.subcommand("nerfstudio", prefix_name=False)]
)


def import_capture(source: Annotated[Source, tyro.conf.OmitArgPrefixes]) -> None:
    """Bring your own capture into the scene layout (then run `panolift segment OUT` and train).

    Args:
        source: where the capture comes from.
    """
    from tqdm import tqdm

    from panolift import capture

    def progress(items):
        return tqdm(items, desc="writing frames", unit="frame")

    if isinstance(source, Images):
        config = capture.SfmConfig(
            camera_model=source.camera_model,
            min_registered_fraction=source.min_registered,
            num_threads=source.threads,
            fov_deg=source.fov,
        )
        scene = capture.import_images(
            source.source, source.out, every=source.every, max_size=source.max_size,
            test_every=source.test_every, config=config, scene_depth=source.scene_depth, orient=source.orient,
            progress=progress,
        )  # fmt: skip
    elif isinstance(source, Colmap):
        scene = capture.import_colmap(
            source.sparse_dir, source.images_dir, source.out, test_every=source.test_every,
            max_size=source.max_size, scene_depth=source.scene_depth, orient=source.orient, progress=progress,
        )  # fmt: skip
    else:
        scene = capture.import_nerfstudio(
            source.transforms, source.out, test_every=source.test_every, max_size=source.max_size,
            scale=source.scale, progress=progress,
        )  # fmt: skip
    scene.validate()
    print(
        f"wrote {scene.root}: {len(scene.frame_names)} frames at {scene.width}x{scene.height} "
        f"(train {len(scene.train_frames)}, test {len(scene.test_frames)})\n"
        f"next: panolift segment {scene.root}"
    )
