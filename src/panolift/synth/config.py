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
        x, y, z = self.room_size
        rx, ry = self.trajectory_radius
        if min(x, y) < 2.0 or z < self.eye_height + 0.3 or rx > x / 2 - 0.5 or ry > y / 2 - 0.5:
            raise ValueError(
                f"SynthConfig: room {self.room_size} too small for the eye height {self.eye_height} "
                f"and trajectory radius {self.trajectory_radius}"
            )
