"""benchmarks/suite.py's scene cache: runs that share it synthesize each scene once, never half of one."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from suite import parse_seeds, synthesize  # noqa: E402

from panolift.scene import Scene  # noqa: E402


def test_two_runs_sharing_a_cache_synthesize_a_scene_once_and_both_read_it(tmp_path, capsys):
    cache = tmp_path / "cache"
    results, errors = [], []

    def run() -> None:
        try:
            results.append(synthesize("tiny", cache, threads=1))
        except BaseException as error:  # SystemExit included: a failed synthesis
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert capsys.readouterr().out.count("synthesizing") == 1  # the second waited for the first's scene
    assert [r["scene"] for r in results] == [cache / "tiny"] * 2
    assert results[0]["frames"] > 0 and results[0] == results[1]
    assert Scene(cache / "tiny").train_frames  # renamed into place, the scene reads as it was written
    assert (cache / "tiny.synth.txt").read_text().count("$ ") == 1  # one synthesis, logged once
    assert not any(p.name.endswith(".partial") for p in cache.iterdir())
    mtime = (cache / "tiny" / "splits.json").stat().st_mtime_ns
    synthesize("tiny", cache, threads=1)  # cached: not written again
    assert (cache / "tiny" / "splits.json").stat().st_mtime_ns == mtime


def test_a_failed_synthesis_leaves_no_scene_and_keeps_its_log(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit, match="failed for no-such-preset"):
        synthesize("no-such-preset", cache, threads=1)
    assert not (cache / "no-such-preset").exists()
    assert (cache / "no-such-preset.synth.txt").is_file()
    assert not any(p.name.endswith(".partial") for p in cache.iterdir())


def test_seed_groups_include_the_exposure_rooms():
    assert parse_seeds("exposure") == ["exposure-93", "exposure-98", "exposure-5", "exposure-17"]
    assert parse_seeds("3,exposure-5,clutter-1,3") == ["3", "exposure-5", "clutter-1"]
    with pytest.raises(SystemExit, match="exposure-N"):
        parse_seeds("exposure5")
    assert parse_seeds("gloss")[:2] == ["gloss-214", "gloss-215"] and len(parse_seeds("gloss")) == 8
    assert parse_seeds("214,gloss-214,mirror-214") == ["214", "gloss-214", "mirror-214"]
    assert parse_seeds("mirror")[-1] == "mirror-221"
    assert parse_seeds("platform") == ["platform-226", "platform-227", "platform-228", "platform-229"]
    assert parse_seeds("226,platform-226") == ["226", "platform-226"]
    assert parse_seeds("blur") == ["blur-232", "blur-233", "blur-234", "blur-235"]
    assert parse_seeds("232,blur-233") == ["232", "blur-233"]
