"""Shared fixtures. Scenes and runs are made once per session in a temporary folder (nothing is tracked)."""

from __future__ import annotations

from pathlib import Path

import pytest

# pycolmap bundles a zlib that breaks PIL's PNG encoder when pycolmap is imported first (a free() abort);
# loading PIL first keeps every test in this process safe whatever order tests import things in.
from PIL import Image  # noqa: F401


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory) -> Path:
    """The synthetic `tiny` preset (seed 0), synthesized once per session. Treat it as read-only."""
    from panolift.synth import SYNTH_PRESETS, synthesize_scene

    root = tmp_path_factory.mktemp("synth") / "tiny"
    synthesize_scene(root, SYNTH_PRESETS["tiny"])
    return root
