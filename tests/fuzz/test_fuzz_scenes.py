"""~300 malformed (and a few unusual but valid) scene folders, through the library.

For each case: a ``PanoliftError`` whose message names the offending file, raised no later than the stage
the case says (construction, the cheap check of `panolift info`, the deep check), or, for valid input,
success of every stage and of reading every frame. Never another exception type, never a hang, and
nothing written into the scene folder.
"""

from __future__ import annotations

import shutil
import sys
import traceback
from pathlib import Path

import pytest

from panolift.errors import PanoliftError
from panolift.scene import Scene

mutations = sys.modules["panolift_fuzz_mutations"]
CASES = sys.modules["panolift_fuzz_corpus"].all_cases()
STAGES = ("construct", "validate", "deep", "read")  # each case runs under the 30 s alarm of conftest.py


def read_everything(scene: Scene) -> None:
    """What training, rendering and evaluation read: every frame's files, the normalisation."""
    scene.normalization()
    for name in scene.frame_names:
        scene.rgb(name)
        scene.depth(name)
        scene.invalid_mask(name)
        scene.ground_truth(name)
        if scene.has_machine_labels:
            scene.machine_labels(name)
            scene.machine_labels(name, tta=False)


def run_stages(root: Path) -> tuple[BaseException | None, str | None]:
    """(the exception, the stage that raised it), or (None, None) when every stage succeeds."""
    stage = "construct"
    try:
        scene = Scene(root)
        stage = "validate"
        scene.validate()
        stage = "deep"
        scene.validate(deep=True)
        stage = "read"
        read_everything(scene)
    except Exception as exc:
        return exc, stage
    return None, None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_scene(case, fuzz_base: Path, tmp_path: Path) -> None:
    root = tmp_path / "scene"
    shutil.copytree(fuzz_base, root)
    case.mutate(root)
    before = mutations.fingerprint(root) if root.is_dir() else None
    error, stage = run_stages(root)
    after = mutations.fingerprint(root) if root.is_dir() else None
    assert before == after, "something was written into the scene folder"
    assert not (tmp_path / "PWNED").exists(), "the hostile pickle ran code"
    detail = "".join(traceback.format_exception(error)) if error is not None else ""
    if case.expect is None:
        assert error is None, f"valid input refused at {stage}:\n{detail}"
        return
    assert error is not None, "bad input was accepted"
    assert isinstance(error, PanoliftError), f"{type(error).__name__} at {stage}:\n{detail}"
    message = str(error)
    assert "\n" not in message
    assert case.expect in message and str(root) in message, message
    assert STAGES.index(stage) <= STAGES.index(case.stage), f"caught only at {stage}: {message}"


def test_corpus_covers_enough_cases() -> None:
    assert len(CASES) >= 200
    assert sum(c.expect is None for c in CASES) >= 15
