"""`panolift synth OUT --preset room|messy|tiny|independent|suite|clutter --seed N`: a procedural room with
ground truth and noisy labels (``suite``: the seed picks one of the benchmark suite's varied rooms;
``clutter``: one of its cluttered rooms)."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path
from typing import Literal

# Folders synthesize_scene writes; --overwrite removes exactly these (never the whole folder).
SCENE_FOLDERS = (
    "color", "pose", "intrinsic", "depth", "rs_semantics", "rs_instance", "m2f_semantics", "m2f_instance",
    "m2f_segments", "m2f_probabilities", "m2f_notta_semantics", "m2f_notta_instance",
)  # fmt: skip
SCENE_FILES = ("splits.json", "segmentation_data.json")


def _clear_scene(out: Path, overwrite: bool) -> None:
    from panolift.scene import SceneError

    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise SceneError(f"{out}: folder exists and is not empty (pass --overwrite to replace a scene there)")
    for name in SCENE_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in SCENE_FILES:
        (out / name).unlink(missing_ok=True)


def synth(
    out: Path,
    /,
    preset: Literal[
        "room",
        "messy",
        "tiny",
        "independent",
        "suite",
        "clutter",
        "exposure",
        "gloss",
        "mirror",
        "platform",
        "blur",
    ] = "room",
    seed: int = 0,
    overwrite: bool = False,
    num_frames: int = 0,
    size: tuple[int, int] | None = None,
    light: bool = False,
    exposure_jitter: float | None = None,
    white_balance_jitter: float | None = None,
    gloss: float | None = None,
    reflection: float | None = None,
    motion_blur: float | None = None,
) -> None:
    """Synthesize a procedural indoor room: images, poses, depth, ground truth and simulated 2D labels.

    Args:
        out: scene folder to write (created; must be empty unless --overwrite).
        preset: room (about 10 objects, 60 frames, 192x144), messy (60+ objects), tiny (12 frames, 64x48),
            independent (outward-looking loop in a 6.2 x 5.6 m room, JPEG, harsh labels), suite (the
            benchmark suite's room for SEED: shape, size, path, frames, image, look and label noise all
            drawn from the seed; seeds 0-23, of which 2, 5, 8, ... are held out), clutter (the suite's
            cluttered room for SEED: about 190-245 objects, mostly bags and chairs, in a 10-12 x 7.5-9 m
            room; 120-180 frames; seeds 0-2, of which 2 is held out), exposure (the suite's room for SEED seen
            by a camera that sets exposure and white balance per frame: gains of about 0.67-1.5x), gloss (the
            suite's room for SEED with glossy floors, tables, screens, glass and enamel: highlights that move
            with the view; 214-217 for tuning, 218-221 held out), mirror (the gloss room whose glossy
            surfaces also reflect the room, Fresnel reflectance 0.05-0.1 rising towards 1 at grazing angles),
            platform (the suite's room for SEED with a raised floor, 0.15-0.45 m high, over 35-65% of its
            depth along the far wall: a floor at two heights; 226 and 228 for tuning, 227 and 229 held out),
            blur (the suite's room for SEED filmed by a moving hand-held camera: motion blur of 1-2.5% of
            the image width at the median frame, more where it turns fast; 232 and 234 for tuning, 233 and
            235 held out).
        seed: seed of the layout, materials and label noise (suite, clutter: of everything).
        overwrite: replace a scene already in OUT.
        num_frames: frames along the camera path instead of the preset's (0: the preset's).
        size: image width and height instead of the preset's (the field of view is kept).
        light: render without supersampling and shadows (about twice as fast; for large scenes such as
            the memory benchmark's 900 frames at 512x512).
        exposure_jitter: the camera's per-frame exposure jitter (std of the log gain) instead of the
            preset's.
        white_balance_jitter: the camera's per-frame, per-channel white-balance jitter (std of each
            channel's log gain) instead of the preset's.
        gloss: strength of the highlights on glossy surfaces (0-2) instead of the preset's.
        reflection: Fresnel reflectance at normal incidence of the glossy surfaces' mirror-like coat (0-1)
            instead of the preset's.
        motion_blur: the camera's median motion blur in image widths (0-0.1; 0.02 blurs a 192-pixel frame
            by about 4 pixels) instead of the preset's.
    """
    from tqdm import tqdm

    from panolift.errors import OptionError
    from panolift.evaluate.score import machine_label_miou
    from panolift.scene import Scene
    from panolift.synth import SYNTH_PRESETS, synthesize_scene
    from panolift.synth.quality import check_scene
    from panolift.synth.suite import (
        blur_config,
        blur_split,
        clutter_config,
        describe_config,
        exposure_config,
        gloss_config,
        gloss_split,
        mirror_config,
        platform_config,
        platform_split,
        seed_split,
        suite_config,
    )

    if not 0 <= seed < 2**32:
        raise OptionError(f"--seed must lie in 0..2^32-1, got {seed}")
    out = Path(out)
    _clear_scene(out, overwrite)
    if preset == "suite":
        config = suite_config(seed)
    elif preset == "clutter":
        config = clutter_config(seed)
    elif preset == "exposure":
        config = exposure_config(seed)
    elif preset == "gloss":
        config = gloss_config(seed)
    elif preset == "mirror":
        config = mirror_config(seed)
    elif preset == "platform":
        config = platform_config(seed)
    elif preset == "blur":
        config = blur_config(seed)
    else:
        config = dataclasses.replace(SYNTH_PRESETS[preset], seed=seed)
    config = resized_config(config, num_frames, size, light)
    config = camera_config(config, exposure_jitter, white_balance_jitter, motion_blur)
    config = surface_config(config, gloss, reflection)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=f"synth {stage}", unit="frame", leave=False)
        bars[stage].update(done - bars[stage].n)

    try:
        result = synthesize_scene(out, config, progress)
    finally:
        for bar in bars.values():
            bar.close()
    scene = Scene(out)
    problems, numbers = check_scene(scene, machine_label_miou(scene)[0])
    miou = numbers["machine_miou"]
    for line in synth_summary(result, preset, miou, len(scene.train_frames)):
        print(line)
    split = f" ({seed_split(seed)})" if preset in ("suite", "clutter", "exposure") else ""
    if preset in ("gloss", "mirror"):
        split = f" ({gloss_split(seed)})"
    if preset == "platform":
        split = f" ({platform_split(seed)})"
    if preset == "blur":
        split = f" ({blur_split(seed)})"
    print(f"describe     {describe_config(config)}" + split)
    print(
        f"checks       {'ok' if not problems else 'PROBLEMS: ' + '; '.join(problems)} "
        f"({100 * numbers['object_share']:.0f}% of frames show objects, "
        f"{100 * numbers['blind_share']:.0f}% blind)"
    )


def resized_config(config, num_frames: int, size: tuple[int, int] | None, light: bool):
    """``config`` with the frame count, image size and rendering options of the command line."""
    from panolift.errors import OptionError

    changes: dict = {}
    if num_frames < 0:
        raise OptionError(f"--num-frames must be >= 0, got {num_frames}")
    if num_frames:
        changes["num_frames"] = num_frames
    if size is not None:
        if not all(8 <= int(v) <= 8192 for v in size):
            raise OptionError(f"--size: width and height must lie in 8..8192, got {tuple(size)}")
        changes["width"], changes["height"] = int(size[0]), int(size[1])
    if light:
        changes["supersample"], changes["shadows"] = 1, False
    return dataclasses.replace(config, **changes) if changes else config


def camera_config(
    config,
    exposure_jitter: float | None,
    white_balance_jitter: float | None,
    motion_blur: float | None = None,
):
    """``config`` with the camera's per-frame exposure and white-balance jitter and its motion blur of the
    command line."""
    from panolift.errors import OptionError

    changes: dict = {}
    for name, value in (("exposure_jitter", exposure_jitter), ("white_balance_jitter", white_balance_jitter)):
        if value is None:
            continue
        if not 0.0 <= value <= 1.0:
            raise OptionError(f"--{name.replace('_', '-')} must lie in 0..1 (std of a log gain), got {value}")
        changes[name] = float(value)
    if motion_blur is not None:
        if not 0.0 <= motion_blur <= 0.1:
            raise OptionError(f"--motion-blur must lie in 0..0.1 (image widths), got {motion_blur}")
        changes["motion_blur"] = float(motion_blur)
    if not changes:
        return config
    return dataclasses.replace(config, appearance=dataclasses.replace(config.appearance, **changes))


def surface_config(config, gloss: float | None, reflection: float | None):
    """``config`` with the glossy surfaces' highlight strength and mirror-like coat of the command line."""
    from panolift.errors import OptionError

    changes: dict = {}
    for name, value, top in (("gloss", gloss, 2.0), ("reflection", reflection, 1.0)):
        if value is None:
            continue
        if not 0.0 <= value <= top:
            raise OptionError(f"--{name} must lie in 0..{top:g}, got {value}")
        changes[name] = float(value)
    if not changes:
        return config
    return dataclasses.replace(config, appearance=dataclasses.replace(config.appearance, **changes))


def synth_summary(result, preset: str, miou: float, num_train: int) -> list[str]:
    """Lines describing a synthesized scene."""
    c = result.config
    things = Counter(o.name for o in result.objects if o.instance_id > 0)
    stats = result.label_stats
    seg = max(stats.segments, 1)
    t = result.seconds
    return [
        f"scene        {result.root}",
        f"preset       {preset} (seed {c.seed})",
        f"frames       {len(result.frame_names)} (train {num_train}, test {len(result.test_frames)}), "
        f"{c.width}x{c.height}",
        f"objects      {len(result.objects)}, of which {sum(things.values())} things: "
        + ", ".join(f"{n} x{k}" if k > 1 else n for n, k in sorted(things.items())),
        f"classes      {len(result.classes_present)} present: {', '.join(result.classes_present)}",
        f"label noise  {stats.segments} segment views: {100 * stats.flipped / seg:.1f}% flipped, "
        f"{100 * stats.missed / seg:.1f}% missed, {stats.split} split, {stats.merged} merges",
        f"machine mIoU {100 * miou:.1f} on the {len(result.test_frames)} test frames (vs ground truth)",
        f"time         {t['total']:.1f} s (build {t['build']:.1f}, render {t['render']:.1f}, labels {t['labels']:.1f})",
    ]
