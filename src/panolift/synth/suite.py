"""The benchmark suite: one seed -> one varied room (``panolift synth OUT --preset suite --seed N``).

Every seed draws, from its own generator, everything the original presets keep fixed: room shape and size,
ceiling height, camera path, frame count, aspect ratio, field of view, textures, lights, shadows, JPEG
quality, sensor noise and label-noise severity. Nothing here is chosen for what lifting does well. The
trajectory cycles with the seed (seed % 4) and the room shape with seed // 4, so that every block of
seeds covers all paths and shapes; all other draws are random.

Seeds 0..23 form the suite: TUNING_SEEDS (16) may be tuned on, HELD_OUT_SEEDS (8, every third seed from 2)
must not be.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import NOISE_LEVELS, AppearanceConfig, LabelNoiseConfig, SynthConfig
from .floorplan import FloorPlan

SUITE_SEEDS = tuple(range(24))
HELD_OUT_SEEDS = tuple(s for s in SUITE_SEEDS if s % 3 == 2)
"""Never tune on these."""
TUNING_SEEDS = tuple(s for s in SUITE_SEEDS if s % 3 != 2)
SUITE_TRAJECTORIES = ("orbit", "outward", "walk", "forward")  # by seed % 4
SUITE_SHAPES = ("box", "L", "box", "open")  # by (seed // 4) % 4
ASPECTS: dict[str, tuple[float, tuple[int, ...]]] = {
    "4:3": (3 / 4, (128, 144, 160, 176, 192)),
    "16:9": (9 / 16, (128, 144, 160, 176, 192)),
    "1:1": (1.0, (128, 144, 160)),
    "3:4": (4 / 3, (132, 144)),
}
"""Aspect name -> (height / width, widths to draw from); every width gives an integer height."""
ASPECT_WEIGHTS = (0.4, 0.25, 0.15, 0.2)
NOISE_WEIGHTS = (0.2, 0.35, 0.3, 0.15)  # mild, moderate, harsh, severe


def seed_split(seed: int) -> str:
    """The split of a seed: "tuning", "held-out" or "extra" (outside the suite)."""
    return "held-out" if seed in HELD_OUT_SEEDS else "tuning" if seed in TUNING_SEEDS else "extra"


def _draw_room(shape: str, rng: np.random.Generator) -> tuple[dict, float]:
    """Room fields of a SynthConfig and the narrowest width of its free floor (metres)."""
    Z = float(rng.uniform(2.3, 3.5))
    if shape == "box":
        X, Y = rng.uniform(3.0, 9.0, 2)
        return {"room_size": (float(X), float(Y), Z)}, float(min(X, Y))
    if shape == "L":
        X, Y = rng.uniform(4.5, 9.0, 2)
        nx = float(np.clip(rng.uniform(0.3, 0.6) * X, 0.8, X - 2.2))
        ny = float(np.clip(rng.uniform(0.3, 0.6) * Y, 0.8, Y - 2.2))
        return {"room_size": (float(X), float(Y), Z), "notch": (nx, ny)}, min(X - nx, Y - ny)
    X, Y = float(rng.uniform(6.0, 9.0)), float(rng.uniform(4.5, 9.0))
    dx, length = float(rng.uniform(0.35, 0.65) * X), float(rng.uniform(0.35, 0.6) * Y)
    return {"room_size": (X, Y, Z), "divider": (dx, length)}, min(dx, X - dx, Y - length)


def _draw_path(trajectory: str, plan: FloorPlan, narrow: float, rng: np.random.Generator) -> dict:
    """Camera-path fields of a SynthConfig."""
    if trajectory == "orbit":
        grid, (xs, ys) = plan.distance_grid(0.1)
        iy, ix = np.unravel_index(int(np.argmax(grid)), grid.shape)
        top = float(grid[iy, ix])
        X, Y, _ = plan.size
        if plan.is_box:  # an ellipse stretched with the room, 0.8 m or more from the walls
            radius = (
                min(rng.uniform(0.12, 0.3) * X, X / 2 - 0.8),
                min(rng.uniform(0.12, 0.3) * Y, Y / 2 - 0.8),
            )
            center = None
        else:  # a circle-bounded ellipse around the point farthest from every wall
            r = max(min(rng.uniform(0.3, 0.6) * top, top - 0.5), 0.2)
            radius, center = (r, r * rng.uniform(0.6, 1.0)), (float(xs[ix]), float(ys[iy]))
        return {
            "trajectory_radius": tuple(float(max(v, 0.2)) for v in radius),
            "trajectory_center": center,
            "turns": float(rng.uniform(0.8, 1.5)),
            "eye_height": float(rng.uniform(1.3, 1.7)),
            "pitch_deg": float(rng.uniform(-28.0, -12.0)),
            "pitch_amplitude_deg": float(rng.uniform(4.0, 10.0)),
        }
    clearance = float(np.clip(rng.uniform(0.18, 0.28) * narrow, 0.5, 1.2))
    if trajectory == "outward":  # as in the failing independent scene: 1.25-1.65 m, near-horizontal
        eye, variation, pitch, amplitude, roll = 1.45, 0.2, rng.uniform(-8, 0), rng.uniform(2, 6), 0.0
    elif trajectory == "walk":
        eye, variation = rng.uniform(1.3, 1.6), rng.uniform(0.1, 0.2)
        pitch, amplitude, roll = rng.uniform(-18, -5), rng.uniform(5, 12), rng.uniform(2, 6)
    else:  # forward
        eye, variation = rng.uniform(1.3, 1.55), rng.uniform(0.05, 0.1)
        pitch, amplitude, roll = rng.uniform(-20, -8), rng.uniform(3, 8), rng.uniform(0.5, 2)
    return {
        "wall_clearance": clearance,
        "eye_height": float(eye),
        "height_variation": float(variation),
        "pitch_deg": float(pitch),
        "pitch_amplitude_deg": float(amplitude),
        "roll_deg": float(roll),
    }


def _draw_appearance(plan: FloorPlan, rng: np.random.Generator) -> AppearanceConfig:
    """Textures (density 0.5-3x, contrast 0.3-1.6x, detail, plain walls, wood grain), 1-3 lights, ambient,
    JPEG quality 80-97, sensor noise in half the rooms and exposure jitter in about a third."""
    ambient = float(rng.uniform(0.15, 0.5))
    num_lights = int(rng.integers(1, 4))
    total = (1.0 - ambient) * 1.4 * rng.uniform(0.6, 1.5)
    share = rng.dirichlet(np.full(num_lights, 2.0))
    Z = plan.size[2]
    lights = []
    for k in range(num_lights):
        x, y = plan.sample_free(rng, 0.3)
        z = Z - rng.uniform(0.1, min(0.5, Z - 2.0))
        lights.append((float(x), float(y), float(z), float(total * share[k])))
    return AppearanceConfig(
        texture_density=float(np.exp(rng.uniform(np.log(0.5), np.log(3.0)))),
        texture_contrast=float(rng.uniform(0.3, 1.6)),
        detail=float(rng.uniform(0.05, 0.8)),
        plain_walls=bool(rng.random() < 0.4),
        wood_grain=float(rng.uniform(0.0, 0.8)),
        lights=tuple(lights),
        ambient=ambient,
        jpeg_quality=int(rng.integers(80, 98)),
        sensor_noise=float(rng.uniform(0.003, 0.015)) if rng.random() < 0.5 else 0.0,
        exposure_jitter=float(rng.uniform(0.01, 0.04)) if rng.random() < 0.3 else 0.0,
    )


def suite_config(seed: int) -> SynthConfig:
    """The suite's room for ``seed`` (any integer; the same seed always gives the same configuration)."""
    rng = np.random.default_rng([seed, 0x5017E])
    shape = SUITE_SHAPES[(seed // 4) % len(SUITE_SHAPES)]
    trajectory = SUITE_TRAJECTORIES[seed % len(SUITE_TRAJECTORIES)]
    room, narrow = _draw_room(shape, rng)
    plan = FloorPlan.from_shape(
        shape, room["room_size"], room.get("notch", (0, 0)), room.get("divider", (0, 0))
    )
    path = _draw_path(trajectory, plan, narrow, rng)
    u = rng.random()
    frames = int(
        rng.integers(30, 60) if u < 0.15 else rng.integers(60, 151) if u < 0.85 else rng.integers(151, 301)
    )
    aspect = list(ASPECTS)[int(rng.choice(len(ASPECTS), p=ASPECT_WEIGHTS))]
    ratio, widths = ASPECTS[aspect]
    width = int(rng.choice(widths))
    level = list(NOISE_LEVELS.values())[int(rng.choice(len(NOISE_LEVELS), p=NOISE_WEIGHTS))]
    return SynthConfig(
        width=width,
        height=int(round(width * ratio)),
        num_frames=frames,
        num_things=int(np.clip(plan.area * rng.uniform(0.3, 1.0), 6, 48)),
        seed=seed,
        room_shape=shape,
        trajectory=trajectory,
        min_gap=float(rng.uniform(0.15, 0.4)),
        hfov_deg=float(rng.uniform(55.0, 90.0)),
        test_every=int(rng.choice([4, 5, 6, 8])),
        supersample=2,
        shadows=bool(rng.random() < 0.75),
        image_suffix=".jpg",
        label_noise=LabelNoiseConfig.at_level(level),
        appearance=_draw_appearance(plan, rng),
        **room,
        **path,
    )


CLUTTER_SEEDS = (0, 1, 2)
"""Seeds of the suite's clutter rooms (keys clutter-0, ...); their split follows :func:`seed_split`."""
CLUTTER_CLASS_WEIGHTS = (
    ("bag", 10.0), ("chair", 6.0), ("table", 3.0), ("shelves", 3.0), ("cabinet", 1.5), ("television", 1.5),
    ("otherprop", 1.5), ("person", 0.5), ("lamp", 0.3), ("sofa", 0.3), ("refrigerator", 0.3),
)  # fmt: skip
"""Clutter rooms: mostly bags and chairs (many things of one class), and tops for bags to rest on."""


def clutter_config(seed: int) -> SynthConfig:
    """A cluttered room for ``seed`` (issue 13): about 190-245 placed objects, most of them things of a few classes
    (bags on tables and shelves and on the floor, many chairs), in a 10-12 x 7.5-9 m box or open plan,
    seen by an inward orbit (even seeds) or a hand-held walk (odd seeds), 120-180 frames at 192 x 144."""
    rng = np.random.default_rng([seed, 0xC1A77E])
    shape = "box" if seed % 4 < 2 else "open"
    Z = float(rng.uniform(2.6, 3.2))
    X, Y = float(rng.uniform(10.0, 12.0)), float(rng.uniform(7.5, 9.0))
    room: dict = {"room_size": (X, Y, Z)}
    if shape == "open":
        room["divider"] = (float(rng.uniform(0.4, 0.6) * X), float(rng.uniform(0.3, 0.45) * Y))
    plan = FloorPlan.from_shape(shape, room["room_size"], (0, 0), room.get("divider", (0, 0)))
    trajectory = "orbit" if seed % 2 == 0 else "walk"
    narrow = min(X, Y) if shape == "box" else min(room["divider"][0], X - room["divider"][0])
    level = NOISE_LEVELS["moderate"] if rng.random() < 0.5 else NOISE_LEVELS["harsh"]
    return SynthConfig(
        width=192,
        height=144,
        num_frames=int(rng.integers(120, 181)),
        num_things=int(rng.integers(260, 321)),  # the floor and the tops take 180-230 of them
        seed=seed,
        class_weights=CLUTTER_CLASS_WEIGHTS,
        room_shape=shape,
        trajectory=trajectory,
        min_gap=float(rng.uniform(0.08, 0.15)),
        hfov_deg=float(rng.uniform(65.0, 85.0)),
        test_every=5,
        supersample=2,
        shadows=True,
        image_suffix=".jpg",
        label_noise=LabelNoiseConfig.at_level(level),
        appearance=_draw_appearance(plan, rng),
        **room,
        **_draw_path(trajectory, plan, narrow, rng),
    )


def aspect_name(width: int, height: int) -> str:
    """The nearest named aspect ratio of an image size ("4:3", "16:9", "1:1", "3:4")."""
    return min(ASPECTS, key=lambda name: abs(ASPECTS[name][0] - height / width))


def noise_name(level: float) -> str:
    """The nearest named label-noise level ("mild", "moderate", "harsh", "severe")."""
    return min(NOISE_LEVELS, key=lambda name: abs(NOISE_LEVELS[name] - level))


def describe_config(config: SynthConfig) -> str:
    """A short description such as "L 7.1x5.3x2.8 outward 140f 16:9 harsh" (plus "plain" for plain walls,
    and "exposure 20%" or "white balance 5%" for a camera whose frames swing by at least 10% or 2%)."""
    X, Y, Z = config.room_size
    look = config.appearance
    text = (
        f"{config.room_shape} {X:.1f}x{Y:.1f}x{Z:.1f} {config.trajectory} {config.num_frames}f "
        f"{aspect_name(config.width, config.height)} {noise_name(config.label_noise.level)}"
    )
    text += " plain" if look.plain_walls else ""
    text += f" exposure {100 * look.exposure_jitter:.0f}%" if look.exposure_jitter >= 0.1 else ""
    text += f" gloss {look.gloss:.1f}" if look.gloss > 0.0 else ""
    text += f" mirror {look.reflection:.2f}" if look.reflection > 0.0 else ""
    text += f" platform {config.platform[0]:.2f}x{config.platform[1]:.1f}" if config.platform[0] > 0.0 else ""
    text += f" blur {100 * look.motion_blur:.1f}%" if look.motion_blur > 0.0 else ""
    return text + (
        f" white balance {100 * look.white_balance_jitter:.0f}%" if look.white_balance_jitter >= 0.02 else ""
    )


EXPOSURE_JITTER = 0.2
"""The exposure rooms' per-frame exposure jitter (std of the log gain: most frames within 0.67-1.5x)."""
WHITE_BALANCE_JITTER = 0.05
"""The exposure rooms' per-frame, per-channel white-balance jitter (std of each channel's log gain)."""
EXPOSURE_SEEDS = (93, 98, 5, 17)
"""Suite rooms also drawn as exposure rooms (`exposure-N`: room N as an auto-exposure camera saw it):
93 and 98 chose the per-frame exposure's settings, 5 and 17 are held out."""


def exposure_config(seed: int) -> SynthConfig:
    """The suite's room ``seed`` seen by a camera that sets exposure and white balance per frame
    (:data:`EXPOSURE_JITTER`, :data:`WHITE_BALANCE_JITTER`); everything else as :func:`suite_config`."""
    config = suite_config(seed)
    look = dataclasses.replace(
        config.appearance, exposure_jitter=EXPOSURE_JITTER, white_balance_jitter=WHITE_BALANCE_JITTER
    )
    return dataclasses.replace(config, appearance=look)


GLOSS = 0.8
"""The glossy rooms' ``AppearanceConfig.gloss``: a highlight of up to about half the white level on
varnished floors and tables, screens, glass and enamel under the room's lamps."""
GLOSS_SEEDS = (214, 215, 216, 217, 218, 219, 220, 221)
"""Suite rooms also drawn as glossy rooms (`gloss-N`: room N with highlights that move with the view):
214-217 may be tuned on, 218-221 are held out (their matte versions were fresh rooms of stop 73)."""
GLOSS_HELD_OUT = (218, 219, 220, 221)


def gloss_split(seed: int) -> str:
    """The split of a glossy room: "held-out" for :data:`GLOSS_HELD_OUT`, else "tuning"."""
    return "held-out" if seed in GLOSS_HELD_OUT else "tuning"


def gloss_config(seed: int, gloss: float = GLOSS, reflection: float = 0.0) -> SynthConfig:
    """The suite's room ``seed`` with glossy materials (:data:`GLOSS`) and, with ``reflection`` > 0, a
    mirror-like coat on them; everything else as :func:`suite_config`, so the pair (N, gloss-N) measures
    what view-dependent highlights cost, and (N, mirror-N) what reflections of the room add to them."""
    config = suite_config(seed)
    look = dataclasses.replace(config.appearance, gloss=gloss, reflection=reflection)
    return dataclasses.replace(config, appearance=look)


REFLECTION = 0.1
"""The mirror rooms' ``AppearanceConfig.reflection``: Fresnel reflectance 0.05-0.1 at normal incidence on
the glossy surfaces (a little above varnish's and glass's 0.04), most of the light at grazing angles."""


def mirror_config(seed: int) -> SynthConfig:
    """The glossy room ``gloss-N`` whose glossy surfaces also reflect the room (:data:`REFLECTION`); the
    suite runs them as `mirror-N` for :data:`GLOSS_SEEDS` (the same split)."""
    return gloss_config(seed, GLOSS, REFLECTION)


PLATFORM_SEEDS = (226, 227, 228, 229)
"""Suite rooms also drawn with a raised floor (`platform-N`: room N with a platform along its far wall,
:func:`platform_config`; fresh seeds of stop 75): 226 and 228 may be tuned on (228's floor heights chose
the floor levels' prominence), 227 and 229 are held out."""
PLATFORM_HELD_OUT = (227, 229)


def platform_split(seed: int) -> str:
    """The split of a platform room: "held-out" for :data:`PLATFORM_HELD_OUT`, else "tuning"."""
    return "held-out" if seed in PLATFORM_HELD_OUT else "tuning"


def platform_config(seed: int) -> SynthConfig:
    """The suite's room ``seed`` with a raised floor (a stage, a dais, a split level; ``SynthConfig.platform``)
    along its far wall: 0.15-0.45 m high (at most 0.8 m under the eye) and covering 35-65% of the room's
    depth, so that in some rooms more of the floor is on it than under it. Everything else as
    :func:`suite_config` (what stood there is raised with it)."""
    config = suite_config(seed)
    rng = np.random.default_rng([seed, 0x5FA6E])
    _, Y, _ = config.room_size
    height = min(float(rng.uniform(0.15, 0.45)), config.eye_height - 0.8)
    depth = float(np.clip(rng.uniform(0.35, 0.65) * Y, 0.3, Y - 1.0))
    return dataclasses.replace(config, platform=(height, depth))


BLUR_SEEDS = (232, 233, 234, 235)
"""Suite rooms also drawn with motion blur (`blur-N`: room N filmed by a moving hand-held camera,
:func:`blur_config`; fresh seeds of stop 76): 232 and 234 may be tuned on, 233 and 235 are held out."""
BLUR_HELD_OUT = (233, 235)


def blur_split(seed: int) -> str:
    """The split of a motion-blurred room: "held-out" for :data:`BLUR_HELD_OUT`, else "tuning"."""
    return "held-out" if seed in BLUR_HELD_OUT else "tuning"


def blur_config(seed: int) -> SynthConfig:
    """The suite's room ``seed`` with motion blur (``AppearanceConfig.motion_blur``): a median blur of 1-2.5%
    of the image's width (2-5 pixels of a 192-pixel frame, 6-16 of a 640-pixel one, as in hand-held
    video such as ScanNet's), more where the camera turns fast, and about one frame in ten over twice the
    median. Everything else as :func:`suite_config`."""
    config = suite_config(seed)
    blur = float(np.random.default_rng([seed, 0xB1A7]).uniform(0.01, 0.025))
    return dataclasses.replace(config, appearance=dataclasses.replace(config.appearance, motion_blur=blur))
