"""~240 malformed (and a few unusual but valid) run folders, through the library's run readers.

For each case (tests/fuzz/run_corpus.py) one reader runs on a mutated copy of the session's tiny run and
its edited run: ``load_run``, ``render_run`` (16 pixels wide), ``export_run`` (16 voxels),
``describe_instances``, a resumed ``TrainingRun``, ``read_edit_list``. It must raise a ``PanoliftError``
whose one-line message names the offending file (and the problem), or, for valid input, succeed with the
right result. Never another exception type, never a hang (the 30 s alarm of conftest.py), and nothing
written into the case folder except what the reader writes there by design (a resumed run takes its lock
and removes the temporary files of a killed checkpoint write).
"""

from __future__ import annotations

import shutil
import sys
import traceback
from pathlib import Path

import pytest
import torch

from panolift.config import RegionConfig
from panolift.errors import PanoliftError
from panolift.runs import TrainingRun, describe_instances, export_run, load_run, read_edit_list, render_run

mutations = sys.modules["panolift_fuzz_mutations"]
corpus = sys.modules["panolift_fuzz_run_corpus"]
CASES = corpus.all_cases()
SMALL_REGIONS = RegionConfig(resolution=16, visibility_rays=512)


@pytest.fixture(scope="module")
def run_base(fuzz_run_base, tiny_scene) -> Path:
    """run/ + edited/ (the shared `fuzz_run_base`); the tiny scene's files are hashed to check nothing
    writes there."""
    before = mutations.fingerprint(tiny_scene)
    yield fuzz_run_base
    assert mutations.fingerprint(tiny_scene) == before, "something was written into the tiny scene"


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_op(op: str, root: Path, out: Path, scene: Path):
    """Run reader ``op`` on the case folder ``root`` (outputs under ``out``); returns the step it loaded
    (or what it read)."""
    if op == "load":
        return load_run(root / "run").step
    if op == "load-edited":
        return load_run(root / "edited").step
    if op == "render":
        return render_run(root / "run", "test", out=out / "render", width=16)
    if op == "render-edited":
        return render_run(root / "edited", "test", out=out / "render", width=16)
    if op == "export":
        return export_run(root / "run", resolution=16, out=out / "scene.ply").written
    if op == "describe":
        return describe_instances(load_run(root / "run"), SMALL_REGIONS)
    if op == "edits":
        return read_edit_list(root / "edited")
    if op in ("resume", "resume-edited"):
        folder = root / ("run" if op == "resume" else "edited")
        with TrainingRun(scene, folder, resume=True) as training:
            return training.trainer.step
    raise AssertionError(op)


def written_by_design(op: str, before: dict, after: dict) -> dict:
    """``after`` with what the reader may write put back as it was: a resumed run's lock and the
    temporary files of a killed checkpoint write it removes."""
    if not op.startswith("resume"):
        return after
    allowed = {k: v for k, v in before.items() if "/checkpoints/." in f"/{k}" and not v.startswith("mode:")}
    after = {**allowed, **after}
    for key in [k for k in after if k.endswith(".lock") and k not in before]:
        del after[key]
    return after


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_run(case, run_base: Path, tiny_scene: Path, tmp_path: Path, one_thread) -> None:
    root = tmp_path / "case"
    shutil.copytree(run_base, root, symlinks=True)
    case.mutate(root)
    before = mutations.fingerprint(root)
    error, result = None, None
    try:
        result = run_op(case.op, root, tmp_path / "out", tiny_scene)
    except Exception as exc:
        error = exc
    after = written_by_design(case.op, before, mutations.fingerprint(root))
    assert after == before, "the reader wrote into the run folder"
    detail = "".join(traceback.format_exception(error)) if error is not None else ""
    if case.expect is None:
        assert error is None, f"valid input refused:\n{detail}"
        if case.step is not None:
            assert result == case.step
        if case.op.startswith("render"):
            assert (tmp_path / "out" / "render" / "rgb").is_dir()
        return
    assert error is not None, f"bad input was accepted (result {result!r})"
    assert isinstance(error, PanoliftError), f"{type(error).__name__}:\n{detail}"
    message = str(error)
    assert "\n" not in message, message
    assert str(root) in message, message
    for piece in case.expect.split("|"):
        assert piece in message, f"{piece!r} not in: {message}"


def test_corpus_covers_enough_cases() -> None:
    assert len(CASES) >= 100
    assert sum(c.expect is None for c in CASES) >= 15
    assert {c.op for c in CASES} == set(corpus.OPS)
