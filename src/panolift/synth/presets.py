"""Named synthetic scenes (``panolift synth OUT --preset NAME``; ``--preset suite`` is in ``suite``)."""

from __future__ import annotations

from .config import NOISE_LEVELS, AppearanceConfig, LabelNoiseConfig, SynthConfig

SYNTH_PRESETS: dict[str, SynthConfig] = {
    # about ten objects, 60 frames: the default demo scene
    "room": SynthConfig(width=192, height=144, num_frames=60, num_things=10),
    # clutter: 60+ objects, many of them small and resting on tables, cabinets and shelves
    "messy": SynthConfig(
        width=192,
        height=144,
        num_frames=60,
        num_things=64,
        min_gap=0.15,
        room_size=(6.0, 5.0, 2.7),
        trajectory_radius=(0.6, 0.4),
    ),
    # a dozen small frames for tests
    "tiny": SynthConfig(width=64, height=48, num_frames=12, num_things=7),
    # like the independent generator's room that lifting failed on: 6.2 x 5.6 x 2.6 m, cameras on a closed
    # loop at 1.25-1.65 m looking out at every wall, 70 degrees, two point lights with shadows, supersampled
    # JPEG q95, solid textures with wood grain, harsh Mask2Former-like label noise
    "independent": SynthConfig(
        width=192,
        height=144,
        num_frames=60,
        num_things=14,
        room_size=(6.2, 5.6, 2.6),
        trajectory="outward",
        eye_height=1.45,
        height_variation=0.2,
        wall_clearance=0.8,
        pitch_deg=-4.0,
        pitch_amplitude_deg=4.0,
        hfov_deg=70.0,
        test_every=4,
        supersample=2,
        shadows=True,
        image_suffix=".jpg",
        label_noise=LabelNoiseConfig.at_level(NOISE_LEVELS["harsh"]),
        appearance=AppearanceConfig(
            wood_grain=0.5, lights=((2.1, 2.9, 2.45, 0.55), (4.4, 2.1, 2.45, 0.55)), ambient=0.3
        ),
    ),
}
"""Preset name -> configuration (the seed is set separately)."""
