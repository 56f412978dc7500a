"""Procedural indoor scenes with exact ground truth, and a simulator of noisy 2D machine labels."""

from .config import LabelNoiseConfig, SynthConfig
from .labels import MachineLabelStats, simulate_machine_labels, simulate_view
from .presets import SYNTH_PRESETS
from .synthesize import SynthResult, synthesize_scene

__all__ = [
    "SYNTH_PRESETS",
    "LabelNoiseConfig",
    "MachineLabelStats",
    "SynthConfig",
    "SynthResult",
    "simulate_machine_labels",
    "simulate_view",
    "synthesize_scene",
]
