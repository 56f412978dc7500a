"""Configuration of procedural scenes and of the machine-label simulator (dataclasses, one docstring per field)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabelNoiseConfig:
    """How simulated 2D "Mask2Former" labels deviate from ground truth. Every view draws its own errors."""

    flip_prob: float = 0.2
    """Probability, per object segment and view, that its class flips to a plausible partner class."""
    structure_flip_prob: float = 0.03
    """The same for the large structural regions (wall, floor, ceiling), which detectors rarely get wrong."""
    absent_partner_weight: float = 0.15
    """Relative weight of partner classes absent from the scene's ground truth when a flip picks a partner
    (1 for present ones): hallucinated classes happen, but less often than confusions between objects."""
    boundary_noise: float = 0.01
    """Standard deviation of the smooth boundary displacement, as a fraction of the image width."""
    boundary_noise_cells: int = 12
    """Number of cells across the image of the (bilinearly upsampled) random displacement field."""
    small_area: float = 0.004
    """Segments covering less than this fraction of the image count as small."""
    miss_small_prob: float = 0.5
    """Probability that a small segment is missed altogether (its pixels become void)."""
    split_prob: float = 0.08
    """Probability that a thing instance is split into two 2D instances (by a random line)."""
    merge_prob: float = 0.3
    """Probability that two touching thing instances of the same predicted class merge into one."""
    peak: tuple[float, float] = (0.8, 0.98)
    """Range of the probability given to the predicted class: peaked, over-confident distributions."""
    true_class_share: float = 0.6
    """Share of the remaining probability mass that a wrong segment gives to the true class."""
    confidence_correct: tuple[float, float] = (0.65, 0.98)
    """Range of the TTA confidence of correctly classified segments."""
    confidence_wrong: tuple[float, float] = (0.25, 0.75)
    """Range of the TTA confidence of misclassified segments (lower on average: TTA runs disagree)."""
    confidence_notta: tuple[float, float] = (0.88, 1.0)
    """Range of the confidence without TTA: over-confident, high even on wrong segments."""
    boundary_confidence_dip: float = 0.35
    """Relative drop of the TTA confidence at segment boundaries (decaying over about two pixels)."""
    max_instance_id: int = 4000
    """2D instance ids are drawn at random from 1..max_instance_id in every view (never consistent)."""
    level: float = 1.0
    """The severity multiplier that ``LabelNoiseConfig.at_level`` applied (1 = the defaults above); kept for
    descriptions of a scene, it changes nothing by itself."""

    def __post_init__(self) -> None:
        for name in ("flip_prob", "structure_flip_prob", "miss_small_prob", "split_prob", "merge_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"LabelNoiseConfig.{name} must lie in [0, 1], got {value}")
        for name in ("peak", "confidence_correct", "confidence_wrong", "confidence_notta"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"LabelNoiseConfig.{name} must be a range within [0, 1], got {(lo, hi)}")
        if self.max_instance_id < 64 or self.max_instance_id > 65535:
            raise ValueError(
                f"LabelNoiseConfig.max_instance_id must lie in 64..65535, got {self.max_instance_id}"
            )

    @classmethod
    def at_level(cls, level: float) -> LabelNoiseConfig:
        """The default noise made ``level`` times as severe (0.5 mild, 1 moderate, 1.5 harsh, 2 severe).

        Error probabilities p become 1 - (1 - p)^level (so they stay below 1 and compose like ``level``
        independent chances), the boundary displacement grows linearly, and the TTA confidence of wrong
        segments rises towards that of correct ones (a harsher segmenter is also worse at knowing it).
        """
        if level <= 0.0:
            raise ValueError(f"LabelNoiseConfig.at_level: level must be > 0, got {level}")
        base = cls()

        if level == 1.0:
            return base

        def prob(p: float) -> float:
            return float(1.0 - (1.0 - p) ** level)

        lo, hi = base.confidence_wrong
        shift = min(max(level - 1.0, 0.0) * 0.1, 0.15)
        return cls(
            flip_prob=prob(base.flip_prob),
            structure_flip_prob=prob(base.structure_flip_prob),
            boundary_noise=base.boundary_noise * level,
            miss_small_prob=prob(base.miss_small_prob),
            split_prob=prob(base.split_prob),
            merge_prob=prob(base.merge_prob),
            confidence_wrong=(lo + shift, hi + shift),
            level=float(level),
        )


NOISE_LEVELS: dict[str, float] = {"mild": 0.5, "moderate": 1.0, "harsh": 1.5, "severe": 2.0}
"""Named label-noise severities (``LabelNoiseConfig.at_level``)."""
ROOM_SHAPES = ("box", "L", "open")
"""box: a rectangle; L: a rectangle less a corner rectangle; open: a rectangle with a partial dividing wall."""
TRAJECTORIES = ("orbit", "outward", "walk", "forward")
"""Camera paths (see ``panolift.synth.trajectory`` and ``panolift.synth.paths``)."""


@dataclass(frozen=True)
class AppearanceConfig:
    """Textures, lights and the camera's image pipeline. The defaults are the original rooms' look."""

    texture_density: float = 1.0
    """Multiplier of every pattern's frequency (cycles per metre): 0.5 coarse, 3 fine and busy."""
    texture_contrast: float = 1.0
    """Multiplier of every pattern's contrast (capped at 0.95)."""
    detail: float = 0.5
    """Amplitude d of the fine detail noise n in [0, 1]: albedo *= (1 - d / 2) + d n."""
    plain_walls: bool = False
    """Paint walls and ceiling plain: pattern contrast 0.02-0.05 and detail 0.03 (little for a camera to
    hold on to, as on real painted walls)."""
    wood_grain: float = 0.0
    """Probability that a wooden-looking surface (floor, table, door, shelves, cabinet) gets wood grain."""
    lights: tuple[tuple[float, float, float, float], ...] = ()
    """Point lights (x, y, z, intensity) in world metres; empty: the three original ceiling lights, each of
    intensity 1.4 (1 - ambient) / 3."""
    ambient: float = 0.35
    """Ambient light level (added to every surface, unshadowed)."""
    jpeg_quality: int = 95
    """JPEG quality of the colour images when ``SynthConfig.image_suffix`` is ".jpg"."""
    sensor_noise: float = 0.0
    """Standard deviation of Gaussian pixel noise added to the colour images (intensities in [0, 1])."""
    exposure_jitter: float = 0.0
    """Standard deviation of a per-frame multiplicative gain (auto exposure); 0 keeps every frame's gain 1."""
    white_balance_jitter: float = 0.0
    """Standard deviation of a per-frame, per-channel log gain on top of the exposure (auto white balance);
    0 keeps the channels' balance."""
    gloss: float = 0.0
    """Strength of white Blinn-Phong highlights on the main surface of glossy classes (floors, tables,
    counters, cabinets, appliances, screens, windows, doors): each such material gets gloss x U(0.5, 1)
    and a shininess of 4-40 (a broad sheen to a lamp-sized spot). 0: every surface matte (Lambertian), the original rooms' look."""
    reflection: float = 0.0
    """Mirror-like coat on the same glossy surfaces: each reflects the room with Fresnel reflectance F0 =
    reflection x U(0.5, 1) at normal incidence, rising towards 1 at grazing angles (Schlick), so a floor
    seen across the room shows the furniture upside down in it, as varnish, glass and screens do. 0: none."""
    motion_blur: float = 0.0
    """Motion blur of a moving camera, as the median blur length over the frames in image widths (0.02: 4
    pixels of a 192-pixel image). The shutter stays open while the camera moves on along its path: each
    frame blurs in proportion to how fast its camera moves (turns and shifts, against the path's median),
    times a factor exp(N(0, 0.7)) of its own (a hand-held camera that slows and jerks: most frames a
    little blurred, some sharp, some badly). The colour is averaged over the poses of the open shutter,
    centred on the frame's pose; depth, ground truth and labels stay those of the frame's pose. 0: sharp."""

    def __post_init__(self) -> None:
        if self.texture_density <= 0.0 or self.texture_contrast < 0.0 or not 0.0 <= self.detail <= 1.0:
            raise ValueError("AppearanceConfig: texture_density > 0, texture_contrast >= 0, detail in [0, 1]")
        if not 0.0 <= self.wood_grain <= 1.0 or not 0.0 <= self.ambient <= 1.0:
            raise ValueError("AppearanceConfig: wood_grain and ambient must lie in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"AppearanceConfig.jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        if not 0.0 <= self.reflection <= 1.0:
            raise ValueError(f"AppearanceConfig.reflection must lie in [0, 1], got {self.reflection}")
        if not 0.0 <= self.motion_blur <= 0.1:
            raise ValueError(
                f"AppearanceConfig.motion_blur must lie in [0, 0.1] (image widths), got {self.motion_blur}"
            )
        if not 0.0 <= self.gloss <= 2.0:
            raise ValueError(f"AppearanceConfig.gloss must lie in [0, 2], got {self.gloss}")
        if self.sensor_noise < 0.0 or self.exposure_jitter < 0.0 or self.white_balance_jitter < 0.0:
            raise ValueError(
                "AppearanceConfig: sensor_noise, exposure_jitter and white_balance_jitter must be >= 0"
            )
        if any(len(light) != 4 or light[3] < 0.0 for light in self.lights):
            raise ValueError("AppearanceConfig.lights: each light is (x, y, z, intensity >= 0)")


@dataclass(frozen=True)
class SynthConfig:
    """A procedural indoor room: geometry, camera trajectory, rendering and label noise."""

    width: int = 192
    """Image width in pixels."""
    height: int = 144
    """Image height in pixels."""
    num_frames: int = 60
    """Number of frames along the camera trajectory."""
    num_things: int = 10
    """Number of furniture objects (of all 21 classes, thing or stuff) besides walls, floor and ceiling."""
    seed: int = 0
    """Seed of the layout, the materials and the label noise; the same seed gives the same scene."""
    class_weights: tuple[tuple[str, float], ...] = ()
    """Relative frequencies (class name, weight) of the objects drawn past the layout's core list; empty:
    the layout's clutter-heavy defaults (``panolift.synth.layout.EXTRA_CLASS_WEIGHTS``)."""
    room_size: tuple[float, float, float] = (5.0, 4.0, 2.7)
    """Room extent (x, y, height) in metres; z is up and the floor lies at z = 0."""
    min_gap: float = 0.3
    """Minimum clearance in metres between the boxes bounding two objects standing on the floor."""
    eye_height: float = 1.5
    """Camera height above the floor in metres."""
    trajectory_radius: tuple[float, float] = (0.8, 0.5)
    """Semi-axes (x, y) in metres of the elliptical path the camera follows around the room centre."""
    turns: float = 1.0
    """How many times the camera turns around its vertical axis over the whole trajectory."""
    pitch_deg: float = -22.0
    """Mean camera pitch in degrees (negative looks down, so that floor objects stay in view)."""
    pitch_amplitude_deg: float = 8.0
    """Amplitude in degrees of a slow pitch oscillation along the trajectory."""
    trajectory: str = "orbit"
    """Camera path: orbit (the ellipse above), outward (a closed loop looking out at every wall), walk
    (handheld random walk) or forward (a walk through the room looking ahead); see TRAJECTORIES."""
    trajectory_center: tuple[float, float] | None = None
    """Centre (x, y) of the orbit; None: the centre of the room's bounding rectangle."""
    wall_clearance: float = 0.6
    """outward, walk, forward: least distance in metres from a camera to a wall (and, through the layout,
    the footprint of an object keeps CAMERA_CLEARANCE from every camera)."""
    height_variation: float = 0.2
    """outward, walk, forward: the camera height varies within eye_height +- this (metres)."""
    roll_deg: float = 0.0
    """walk, forward: amplitude of the slow camera roll in degrees (a hand-held camera is never level)."""
    room_shape: str = "box"
    """box, L (the rectangle of room_size less the corner rectangle ``notch``) or open (a partial wall)."""
    notch: tuple[float, float] = (0.0, 0.0)
    """L: size (x, y) in metres of the rectangle cut from the corner at (X, Y) of the bounding rectangle."""
    divider: tuple[float, float] = (0.0, 0.0)
    """open: a full-height wall at x = divider[0] running from the wall y = 0 for divider[1] metres."""
    platform: tuple[float, float] = (0.0, 0.0)
    """A raised floor (a stage, a dais, a split level): platform[0] metres high over the far side of the
    room, y >= Y - platform[1], along the whole wall; what stands on it is raised with it (see
    ``panolift.synth.layout.raise_onto_platform``). (0, 0): a flat floor."""
    hfov_deg: float = 75.0
    """Horizontal field of view in degrees."""
    test_every: int = 4
    """Every ``test_every``-th frame (0, 4, 8, ...) is a test frame; the others are training frames."""
    supersample: int = 1
    """Anti-aliasing of the colour images with supersample x supersample rays per pixel (labels use centres)."""
    shadows: bool = True
    """Cast shadow rays towards the ceiling lights (hard shadows; about 1.5x the rendering time)."""
    image_suffix: str = ".png"
    """File type of the colour images: ".png" (lossless) or ".jpg"."""
    label_noise: LabelNoiseConfig = field(default_factory=LabelNoiseConfig)
    """Parameters of the machine-label simulator."""
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    """Textures, lights and image pipeline."""

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ValueError(f"SynthConfig: image size must be at least 8x8, got {self.width}x{self.height}")
        if self.num_frames < 1 or self.num_things < 0:
            raise ValueError("SynthConfig: num_frames must be >= 1 and num_things >= 0")
        if self.test_every < 2:
            raise ValueError(f"SynthConfig.test_every must be >= 2, got {self.test_every}")
        if self.supersample < 1:
            raise ValueError(f"SynthConfig.supersample must be >= 1, got {self.supersample}")
        if self.image_suffix not in (".png", ".jpg"):
            raise ValueError(f"SynthConfig.image_suffix must be '.png' or '.jpg', got {self.image_suffix!r}")
        if self.room_shape not in ROOM_SHAPES or self.trajectory not in TRAJECTORIES:
            raise ValueError(
                f"SynthConfig: room_shape must be one of {ROOM_SHAPES} and trajectory one of {TRAJECTORIES}, "
                f"got {self.room_shape!r}, {self.trajectory!r}"
            )
        x, y, z = self.room_size
        rx, ry = self.trajectory_radius
        orbit_too_big = self.trajectory == "orbit" and self.trajectory_center is None
        orbit_too_big = orbit_too_big and (rx > x / 2 - 0.5 or ry > y / 2 - 0.5)
        if min(x, y) < 2.0 or z < self.eye_height + 0.3 or orbit_too_big:
            raise ValueError(
                f"SynthConfig: room {self.room_size} too small for the eye height {self.eye_height} "
                f"and trajectory radius {self.trajectory_radius}"
            )
        if self.trajectory != "orbit" and (
            z < self.eye_height + self.height_variation + 0.3 or min(x, y) < 2 * self.wall_clearance + 0.4
        ):
            raise ValueError(
                f"SynthConfig: room {self.room_size} too small for a {self.trajectory} path at height "
                f"{self.eye_height} +- {self.height_variation} m and {self.wall_clearance} m from the walls"
            )
        nx, ny = self.notch
        if self.room_shape == "L" and not (0.5 <= nx <= x - 2.0 and 0.5 <= ny <= y - 2.0):
            raise ValueError(
                f"SynthConfig.notch {self.notch} must leave arms of at least 2 m in {self.room_size}"
            )
        ph, pd = self.platform
        if (ph, pd) != (0.0, 0.0) and not (
            0.05 <= ph <= min(0.6, self.eye_height - 0.8) and 0.3 <= pd <= y - 1.0
        ):
            raise ValueError(
                f"SynthConfig.platform {self.platform} must be 0.05-0.6 m high (at least 0.8 m under the "
                f"eye height {self.eye_height}) and 0.3 m to {y - 1.0:.2f} m deep in {self.room_size}"
            )
        dx, dl = self.divider
        if self.room_shape == "open" and not (1.5 <= dx <= x - 1.5 and 0.5 <= dl <= y - 1.5):
            raise ValueError(
                f"SynthConfig.divider {self.divider} must leave 1.5 m around it in {self.room_size}"
            )
