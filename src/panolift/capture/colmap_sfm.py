"""Structure from motion with pycolmap on the CPU: SIFT features, exhaustive matching, incremental mapping.

Runs with a fixed seed and thread count so that a run on the same images is repeatable (COLMAP's RANSAC
and its multithreaded feature extraction are the sources of run-to-run variation).
"""

from __future__ import annotations

import importlib
import logging
import math
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from panolift.errors import OptionError
from panolift.scene.io import SceneError, image_size

from .colmap_import import frames_from_colmap
from .colmap_io import UNDISTORTABLE_MODELS
from .images import extract_frames
from .world_scale import ROOM_DEPTH
from .write_scene import check_import_options, write_capture_scene

log = logging.getLogger(__name__)


def import_pycolmap():
    """Import pycolmap, after PIL: pycolmap bundles a zlib that makes PIL's PNG encoder abort (free():
    invalid pointer) when pycolmap is loaded first, so PIL's C module is loaded before it."""
    importlib.import_module("PIL.Image")  # first: order matters, see the docstring
    import pycolmap

    return pycolmap


@dataclass
class SfmConfig:
    """Options of the structure-from-motion run."""

    camera_model: str = "SIMPLE_RADIAL"
    """COLMAP camera model shared by all images (SIMPLE_RADIAL, OPENCV, PINHOLE, ...)."""
    max_num_features: int = 8192
    """SIFT features per image."""
    min_registered_fraction: float = 0.5
    """Fail when the largest model registers fewer than this fraction of the images."""
    num_threads: int = 1
    """Threads for extraction, matching and mapping; 1 gives repeatable results."""
    seed: int = 0
    """Seed of COLMAP's random number generator (RANSAC, initial pair trials)."""
    quiet: bool = True
    """Hide COLMAP's INFO log lines (warnings and errors still show)."""
    fov_deg: float = 0.0
    """The camera's horizontal field of view in degrees, when known: the focal length it gives is fixed
    through the reconstruction instead of estimated (0: estimated from a guess of 1.2 x the image width,
    or the images' EXIF focal length). Self-calibration can settle on a wrong focal length, and then on a
    folded trajectory, where the views' baselines are short and the images small (held-out suite room 2,
    160x90 frames, SIMPLE_PINHOLE: focal +10%, cameras 22 degrees off; with the true field of view 0.8
    degrees; benchmarks/SUITE.md, forty-fifth round)."""


FOV_MODELS = {
    "SIMPLE_PINHOLE": "{f},{cx},{cy}",
    "PINHOLE": "{f},{f},{cx},{cy}",
    "SIMPLE_RADIAL": "{f},{cx},{cy},0",
    "RADIAL": "{f},{cx},{cy},0,0",
    "OPENCV": "{f},{f},{cx},{cy},0,0,0,0",
}
"""Camera models that a known field of view can start (their parameters with the principal point at the
image centre and no distortion, which COLMAP refines as usual)."""


def check_fov(config: SfmConfig) -> None:
    """Refuse a field of view outside (0, 180) degrees or for a camera model it cannot start."""
    if config.fov_deg == 0:
        return
    if not 0 < config.fov_deg < 180:
        raise OptionError(f"--fov must lie between 0 and 180 degrees (0: estimate it), got {config.fov_deg}")
    if config.camera_model not in FOV_MODELS:
        raise OptionError(
            f"--fov with --camera-model {config.camera_model}: choose one of {', '.join(FOV_MODELS)}"
        )


def fov_camera_params(config: SfmConfig, width: int, height: int) -> str:
    """COLMAP's parameter string for ``config.camera_model`` with the focal length of ``config.fov_deg``
    over ``width`` pixels."""
    focal = 0.5 * width / math.tan(math.radians(0.5 * config.fov_deg))
    return FOV_MODELS[config.camera_model].format(f=repr(focal), cx=0.5 * width, cy=0.5 * height)


def check_registration(num_registered: int, num_images: int, min_fraction: float, where: str | Path) -> None:
    """Raise SceneError when fewer than max(3, min_fraction * num_images) images registered."""
    needed = max(3, int(min_fraction * num_images + 0.999999))
    if num_registered < needed:
        raise SceneError(
            f"{where}: structure from motion registered only {num_registered} of {num_images} images "
            f"(need at least {needed}). Use images with more overlap and texture, fewer blurry frames, "
            "or a smaller --every for videos"
        )


@contextmanager
def _quiet_colmap(quiet: bool):
    """COLMAP logs every step at INFO level through glog; keep its warnings and errors only."""
    pycolmap = import_pycolmap()

    previous = pycolmap.logging.minloglevel
    if quiet:
        pycolmap.logging.minloglevel = 1  # glog: 0 INFO, 1 WARNING, 2 ERROR
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def run_structure_from_motion(
    image_dir: str | Path,
    work_dir: str | Path,
    config: SfmConfig | None = None,
    source: str | Path | None = None,
) -> Path:
    """Run feature extraction, exhaustive matching and incremental mapping on every image of ``image_dir``.

    Writes ``work_dir/database.db`` and the models under ``work_dir/sparse/<k>``; returns the folder of the
    model with the most registered images, after checking that enough images registered (errors name
    ``source``, the user's input, when given).
    """
    config = config or SfmConfig()
    with _quiet_colmap(config.quiet):
        return _run_sfm(Path(image_dir), Path(work_dir), config, source or image_dir)


def _run_sfm(image_dir: Path, work_dir: Path, config: SfmConfig, source: str | Path) -> Path:
    pycolmap = import_pycolmap()

    num_images = sum(1 for p in image_dir.iterdir() if p.is_file())
    work_dir.mkdir(parents=True, exist_ok=True)
    database = work_dir / "database.db"
    if database.exists():
        database.unlink()  # a stale database would mix features of another run in
    sparse = work_dir / "sparse"
    shutil.rmtree(sparse, ignore_errors=True)  # models of an earlier run would be mistaken for this one's
    sparse.mkdir()
    pycolmap.set_random_seed(config.seed)

    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = config.num_threads
    extraction.sift.max_num_features = config.max_num_features
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = config.camera_model
    if config.fov_deg:
        check_fov(config)
        first = next(p for p in sorted(image_dir.iterdir()) if p.is_file())
        width, height = image_size(first)
        reader.camera_params = fov_camera_params(config, width, height)
        log.info("focal length fixed by --fov %g: %s", config.fov_deg, reader.camera_params)
    log.info("extracting SIFT features from %d images", num_images)
    pycolmap.extract_features(
        database, image_dir, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
        extraction_options=extraction, device=pycolmap.Device.cpu,
    )  # fmt: skip
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = config.num_threads
    log.info("matching features (exhaustive)")
    pycolmap.match_exhaustive(database, matching_options=matching, device=pycolmap.Device.cpu)

    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.num_threads = config.num_threads
    mapping.random_seed = config.seed
    mapping.min_model_size = 3
    if config.fov_deg:  # the focal length is known: keep it through every bundle adjustment
        mapping.ba_refine_focal_length = False
        mapping.mapper.abs_pose_refine_focal_length = False
    log.info("incremental mapping")
    models = pycolmap.incremental_mapping(database, image_dir, sparse, options=mapping)
    if not models:
        check_registration(0, num_images, config.min_registered_fraction, source)
    best = max(models, key=lambda k: models[k].num_reg_images())
    num_registered = models[best].num_reg_images()
    log.info("model %d registered %d of %d images", best, num_registered, num_images)
    check_registration(num_registered, num_images, config.min_registered_fraction, source)
    best_dir = sparse / str(best)
    if not (best_dir / "images.bin").exists():
        best_dir.mkdir(parents=True, exist_ok=True)
        models[best].write_binary(best_dir)  # pycolmap writes every model; this covers versions that do not
    return best_dir


def import_images(
    source: str | Path,
    out: str | Path,
    every: int = 1,
    max_size: int | None = 1280,
    test_every: int = 8,
    config: SfmConfig | None = None,
    scene_depth: float = ROOM_DEPTH,
    orient: bool = True,
    **kwargs,
):
    """Frames from a folder or video -> structure from motion -> undistorted scene folder; returns the Scene.

    SfM has no scale: the world is rescaled so that 95 % of the depths of its 3D points lie within
    ``scene_depth`` units (a room in metres; 0 keeps COLMAP's scale). Nor has it an orientation: with
    ``orient`` the world is turned upright with its walls along x and y (:mod:`panolift.capture.world_frame`).
    The frames and the COLMAP model stay in ``out/colmap/`` (images/, database.db, sparse/<k>/) so that
    the poses can be inspected or refined with COLMAP's own tools; ``capture.json`` records the scale
    and the rotation that take COLMAP's world to the scene's (x_scene = R (s x_colmap)).
    """
    check_import_options(test_every, max_size, scene_depth)
    if every < 1:
        raise OptionError(f"--every must be at least 1, got {every}")
    if config is not None and config.camera_model not in UNDISTORTABLE_MODELS:
        raise OptionError(
            f"--camera-model {config.camera_model}: choose one of {', '.join(UNDISTORTABLE_MODELS)}"
        )
    if config is not None:
        check_fov(config)
    if config is not None and not 0 <= config.min_registered_fraction <= 1:
        raise OptionError(f"--min-registered must lie in [0, 1], got {config.min_registered_fraction}")
    out = Path(out)
    if (out / "color").is_dir() and any((out / "color").iterdir()):
        raise SceneError(f"{out}: already holds a scene (color/ is not empty); choose a new output folder")
    image_dir = out / "colmap" / "images"
    if image_dir.is_dir():
        for stale in image_dir.iterdir():  # frames of an earlier, interrupted import
            stale.unlink()
    written = extract_frames(source, image_dir, every=every, max_size=max_size)
    model_dir = run_structure_from_motion(image_dir, out / "colmap", config, source=source)
    frames, scale, rotation = frames_from_colmap(model_dir, image_dir, scene_depth, orient)
    camera = frames[0].camera
    fov = 2.0 * math.degrees(math.atan(0.5 * camera.width / camera.fx))
    if not (config and config.fov_deg):  # a sanity check for the user: phones' main cameras see 65-80 degrees
        log.info(
            "structure from motion estimated a horizontal field of view of %.1f degrees (focal %.1f px at "
            "%dx%d); if the camera's is known and differs, import again with --fov",
            fov, camera.fx, camera.width, camera.height,
        )  # fmt: skip
    registered = {f.image_path.name for f in frames}
    dropped = [origin for path, origin in written if path.name not in registered]
    if dropped:
        log.warning("%d frame(s) did not register and are left out: %s", len(dropped), dropped[:5])
    metadata = {
        "source": "images",
        "input": str(source),
        "colmap_model": str(model_dir),
        "origins": {path.name: origin for path, origin in written},
        "unregistered": dropped,
        "world_scale": scale,
        "world_rotation": None if rotation is None else rotation.tolist(),
    }
    return write_capture_scene(frames, out, test_every=test_every, metadata=metadata, **kwargs)
