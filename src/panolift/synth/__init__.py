"""Procedural indoor scenes with exact ground truth, and a simulator of noisy 2D machine labels."""

from .config import NOISE_LEVELS, AppearanceConfig, LabelNoiseConfig, SynthConfig
from .floorplan import FloorPlan
from .labels import MachineLabelStats, simulate_machine_labels, simulate_view
from .presets import SYNTH_PRESETS
from .suite import HELD_OUT_SEEDS, SUITE_SEEDS, TUNING_SEEDS, describe_config, suite_config
from .synthesize import SynthResult, synthesize_scene

__all__ = [
    "HELD_OUT_SEEDS",
    "NOISE_LEVELS",
    "SUITE_SEEDS",
    "SYNTH_PRESETS",
    "TUNING_SEEDS",
    "AppearanceConfig",
    "FloorPlan",
    "LabelNoiseConfig",
    "MachineLabelStats",
    "SynthConfig",
    "SynthResult",
    "describe_config",
    "simulate_machine_labels",
    "simulate_view",
    "suite_config",
    "synthesize_scene",
]
