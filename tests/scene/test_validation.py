"""The validation API that training and `panolift info` use: frames, deep, every problem listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from panolift.cli import main
from panolift.scene import Scene, SceneProblems
from panolift.scene.io import write_image


@pytest.fixture
def scene_copy(tiny_scene: Path, tmp_path: Path) -> Path:
    return shutil.copytree(tiny_scene, tmp_path / "scene")


def _break_probabilities(root: Path, name: str) -> None:
    path = root / "m2f_probabilities" / f"{name}.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["probability"] = arrays["probability"] * 3.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_deep_check_of_chosen_frames_lists_every_problem(scene_copy: Path) -> None:
    _break_probabilities(scene_copy, "2")
    write_image(scene_copy / "m2f_semantics" / "5.png", np.full((48, 64), 40, np.uint8))
    scene = Scene(scene_copy)
    scene.validate()  # headers and sizes are fine
    scene.validate(deep=True, frames=["1", "3"])  # the broken frames are not among these
    calls = []
    with pytest.raises(SceneProblems) as exc:
        scene.validate(deep=True, frames=["2", "5", "77"], progress=lambda done, total: calls.append(done))
    problems = exc.value.problems
    assert len(problems) == 3 and calls == [1, 2, 3]
    assert "m2f_probabilities/2.npz" in problems[0] and "sum to 1" in problems[0]
    assert "m2f_semantics/5.png" in problems[1] and "class id 40" in problems[1]
    assert "frame '77'" in problems[2]
    assert "\n" not in str(exc.value) and "2 more problem(s)" in str(exc.value)


def test_info_lists_problems_then_fails_on_one_line(scene_copy: Path, capsys) -> None:
    _break_probabilities(scene_copy, "2")
    main(["info", str(scene_copy)])  # the cheap check reads headers only
    assert "validation   ok" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["info", str(scene_copy), "--deep"])
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    assert "validation   FAILED" in out and "m2f_probabilities/2.npz" in out
    assert len(err.strip().splitlines()) == 1 and "m2f_probabilities/2.npz" in err


def test_info_says_when_the_test_split_is_empty(scene_copy: Path, capsys) -> None:
    names = Scene(scene_copy).frame_names
    (scene_copy / "splits.json").write_text(json.dumps({"train": names, "test": []}))
    main(["info", str(scene_copy), "--deep"])
    out = capsys.readouterr().out
    assert "test 0)" in out and "test split is empty" in out and "every file decoded" in out
