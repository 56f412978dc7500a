"""Named synthetic scenes (``panolift synth OUT --preset NAME``)."""

from __future__ import annotations

from .config import SynthConfig

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
}
"""Preset name -> configuration (the seed is set separately)."""
