"""``synthesize_scene``: a procedural room rendered into the scene layout, with noisy machine labels."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from panolift.scene import SCANNET21, Scene, SceneError, SceneWriter

from .config import SynthConfig
from .floorplan import FloorPlan
from .geometry import build_scene_mesh
from .labels import MachineLabelStats, simulate_machine_labels
from .layout import PlacedObject, layout_room, raise_onto_platform
from .raycast import RayCaster, render_frame
from .trajectory import camera_trajectory, intrinsics_for, motion_pixels, shutter_poses

log = logging.getLogger(__name__)


@dataclass
class SynthResult:
    """What ``synthesize_scene`` wrote."""

    root: Path
    config: SynthConfig
    frame_names: list[str]
    test_frames: list[str]
    objects: list[PlacedObject]
    classes_present: list[str]  # ground-truth classes seen in at least one frame
    thing_pixels: dict[int, int]  # thing instance id -> pixels over all frames (visibility check)
    label_stats: MachineLabelStats
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall time


def _camera_rng(config: SynthConfig, index: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, index, 0xE7905E])


def _draw_gain(config: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """(3,) per-channel gain: exp(N(0, exposure_jitter)) x exp(N(0, white_balance_jitter)) per channel
    (the white balance drawn only when it jitters, so that scenes without it keep their draws)."""
    look = config.appearance
    gain = np.full(3, np.exp(rng.normal(0.0, look.exposure_jitter)))
    if look.white_balance_jitter > 0.0:
        gain = gain * np.exp(rng.normal(0.0, look.white_balance_jitter, 3))
    return gain


def frame_gain(config: SynthConfig, index: int) -> np.ndarray:
    """The (3,) per-channel gain of frame ``index``'s camera (auto exposure and white balance; ones
    without jitter)."""
    return _draw_gain(config, _camera_rng(config, index))


def develop_image(rgb: np.ndarray, config: SynthConfig, index: int) -> np.ndarray:
    """The camera's image pipeline on a rendered (H, W, 3) image: rgb * g + n, with a per-frame gain
    g (:func:`frame_gain`) and pixel noise n ~ N(0, sensor_noise) (frame ``index`` draws its own)."""
    look = config.appearance
    if look.exposure_jitter == 0.0 and look.sensor_noise == 0.0 and look.white_balance_jitter == 0.0:
        return rgb
    rng = _camera_rng(config, index)
    gain = _draw_gain(config, rng)
    return np.clip(rgb * gain + rng.normal(0.0, look.sensor_noise, rgb.shape), 0.0, 1.0)


def shutter_fractions(config: SynthConfig, poses: np.ndarray) -> np.ndarray:
    """(num_frames,) how far each frame's camera moves on while its shutter is open, as a fraction of a
    frame interval (``trajectory.shutter_poses``): ``motion_blur`` image widths over the path's median
    :func:`motion_pixels`, times exp(N(0, 0.7)) per frame, capped at 1. Zeros without motion blur."""
    blur = config.appearance.motion_blur
    if blur == 0.0 or len(poses) < 2:
        return np.zeros(len(poses))
    focal = intrinsics_for(config)[0, 0]
    median = float(np.median([motion_pixels(poses, i, focal) for i in range(len(poses))]))
    factor = [
        np.exp(np.random.default_rng([config.seed, i, 0xB1E5]).normal(0.0, 0.7)) for i in range(len(poses))
    ]
    return np.minimum(blur * config.width * np.asarray(factor) / max(median, 1e-6), 1.0)


def render_frames(
    writer: SceneWriter,
    caster: RayCaster,
    config: SynthConfig,
    names: list[str],
    progress: Callable[[str, int, int], None] | None = None,
    poses: np.ndarray | None = None,
) -> tuple[set[int], dict[int, int]]:
    """Ray-cast and write every frame (colour, pose, depth, ground truth) along the camera trajectory
    (``poses``, (num_frames, 4, 4); default ``camera_trajectory(config)``).

    Returns the classes seen and, per thing instance id, its pixel count over all frames.
    """
    K = intrinsics_for(config)
    writer.write_intrinsics(K)
    present: set[int] = set()
    thing_pixels: dict[int, int] = {}
    poses = camera_trajectory(config) if poses is None else poses
    fractions = shutter_fractions(config, poses)
    for i, (name, c2w) in enumerate(zip(names, poses, strict=True)):
        shutter = shutter_poses(poses, i, fractions[i], K[0, 0])
        frame = render_frame(
            caster, K, c2w, config.width, config.height, config.supersample, config.shadows, shutter
        )
        rgb = develop_image(frame.rgb, config, i)
        writer.write_frame(
            name,
            rgb,
            c2w,
            depth=frame.depth,
            suffix=config.image_suffix,
            quality=config.appearance.jpeg_quality,
        )
        writer.write_ground_truth(name, frame.semantics, frame.instance)
        present |= set(np.unique(frame.semantics).tolist())
        ids, counts = np.unique(frame.instance[frame.instance > 0], return_counts=True)
        for k, c in zip(ids.tolist(), counts.tolist(), strict=True):
            thing_pixels[k] = thing_pixels.get(k, 0) + c
        if progress is not None:
            progress("render", i + 1, len(names))
    return present, thing_pixels


def synthesize_scene(
    out: Path, config: SynthConfig, progress: Callable[[str, int, int], None] | None = None
) -> SynthResult:
    """Build a room, ray-cast every frame and write the full scene layout under ``out`` (an empty folder).

    Writes color/, pose/, intrinsic/, depth/, rs_semantics/, rs_instance/, the simulated m2f_* labels,
    splits.json (frames 0, test_every, 2 test_every, ... are test frames) and segmentation_data.json.
    ``progress(stage, done, total)`` is called after each frame of each stage ("render", "labels").
    """
    out = Path(out)
    if (out / "color").is_dir() and any((out / "color").iterdir()):
        raise SceneError(f"{out / 'color'}: not empty; synthesize into an empty folder")
    t0 = time.perf_counter()
    rng = np.random.default_rng([config.seed, 0xA11])
    class_set = SCANNET21
    poses = camera_trajectory(config)  # first: objects keep clear of the cameras of any path but the orbit
    cameras = None if config.trajectory == "orbit" else poses[:, :2, 3]
    objects = layout_room(config, rng, {class_set.names[k] for k in class_set.thing_ids}, cameras)
    objects = raise_onto_platform(objects, config)
    mesh = build_scene_mesh(
        objects,
        config.room_size,
        class_set,
        rng,
        cutouts=FloorPlan.from_config(config).cutouts,
        appearance=config.appearance,
        style_rng=np.random.default_rng([config.seed, 0x57E1]),
        platform=config.platform,
    )
    caster = RayCaster(mesh)
    t1 = time.perf_counter()
    names = [str(i) for i in range(config.num_frames)]
    writer = SceneWriter(out)
    present, thing_pixels = render_frames(writer, caster, config, names, progress, poses)
    test = names[:: config.test_every]
    writer.write_splits([n for n in names if n not in set(test)], test)
    instance_classes = {str(o.instance_id): class_set.names.index(o.name) for o in objects if o.instance_id}
    writer.write_segmentation_data(
        class_set, synth_config=asdict(config), gt_instance_to_semantic=instance_classes
    )
    t2 = time.perf_counter()
    done = [0]

    def label_progress(step: int) -> None:
        done[0] += step
        if progress is not None:
            progress("labels", done[0], len(names))

    stats = simulate_machine_labels(Scene(out), writer, config.label_noise, config.seed, label_progress)
    t3 = time.perf_counter()
    seconds = {"build": t1 - t0, "render": t2 - t1, "labels": t3 - t2, "total": t3 - t0}
    log.info("synth: wrote %s (%d frames, %d objects) in %.1f s", out, len(names), len(objects), t3 - t0)
    return SynthResult(
        root=out,
        config=config,
        frame_names=names,
        test_frames=test,
        objects=objects,
        classes_present=[class_set.names[k] for k in sorted(present) if k > 0],
        thing_pixels={o.instance_id: thing_pixels.get(o.instance_id, 0) for o in objects if o.instance_id},
        label_stats=stats,
        seconds=seconds,
    )
