"""Fixtures of the fuzz tests: a small valid scene in the released layout that every case copies."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path

import pytest


def load_fuzz_module(name: str):
    """tests/fuzz/<name>.py as a module (importlib import mode: test folders are not packages)."""
    key = f"panolift_fuzz_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).resolve().parent / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# The helper modules, loaded once for the test modules of this folder (which find them in sys.modules).
for _name in ("mutations", "corpus", "run_corpus"):
    load_fuzz_module(_name)


@pytest.fixture(scope="session")
def fuzz_base(tiny_scene, tmp_path_factory) -> Path:
    """Six frames of the tiny synthetic scene, colour as JPEG (read-only: cases copy it)."""
    mutations = load_fuzz_module("mutations")
    return mutations.make_base(tiny_scene, tmp_path_factory.mktemp("fuzz") / "base")


@pytest.fixture(scope="session")
def fuzz_run_base(tiny_run, tmp_path_factory) -> Path:
    """run/ (a copy of the tiny run) and edited/ (see run_corpus.py), made once for test_fuzz_runs.py and
    test_fuzz_runs_cli.py (read-only: cases copy it)."""
    run_corpus = load_fuzz_module("run_corpus")
    return run_corpus.make_run_base(tiny_run, tmp_path_factory.mktemp("fuzz_runs") / "base")


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that library code catching Exception cannot swallow it."""


@pytest.fixture(autouse=True)
def no_hang():
    """Every fuzz test gets 30 s (a blocking open() of a FIFO is interrupted too: PEP 475 lets a signal
    handler's exception through)."""

    def alarm(signum, frame):
        raise Hang("hung for 30 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
