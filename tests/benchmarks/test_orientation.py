"""benchmarks/orientation.py's turned copies: the same room in another world, and how far a run's field
axes are from the room's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from orientation import SHIFT, TURNS, found_error, turn_scene  # noqa: E402

from panolift.scene import Scene  # noqa: E402


def test_a_turned_copy_moves_only_the_poses(tiny_scene, tmp_path):
    rotation = TURNS["tilted"]
    out = turn_scene(tiny_scene, tmp_path / "turned", rotation)
    room, turned = Scene(tiny_scene), Scene(out)
    assert turned.frame_names == room.frame_names
    for name in room.frame_names:
        want = room.pose(name).copy()
        want[:3, :3] = rotation @ want[:3, :3]
        want[:3, 3] = rotation @ want[:3, 3] + SHIFT
        assert np.allclose(turned.pose(name), want, atol=1e-6)
    name = room.frame_names[0]
    assert np.array_equal(turned.rgb(name), room.rgb(name))
    pose = f"pose/{name}.txt"
    assert (out / pose).stat().st_ino != (Path(tiny_scene) / pose).stat().st_ino  # written anew, not linked
    again = turn_scene(tiny_scene, tmp_path / "turned", rotation)  # made again over the old copy
    assert np.allclose(Scene(again).pose(name), turned.pose(name))
    assert np.allclose(Scene(tiny_scene).pose(name), room.pose(name))  # the room itself untouched


@pytest.mark.parametrize("turn", sorted(TURNS))
def test_found_error_is_the_field_axes_distance_from_the_room(tmp_path, turn):
    rotation = TURNS[turn]
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"normalization": {"center": [0, 0, 0], "scale": 1.0}}))
    expected = {"tilted": 37.0, "level": 20.0, "y-up": 0.0}[turn]
    assert found_error(run, rotation) == pytest.approx(expected, abs=1e-6)  # not turned back
    back = rotation.T.tolist()
    (run / "run.json").write_text(
        json.dumps({"normalization": {"center": [0, 0, 0], "scale": 1.0, "rotation": back}})
    )
    assert found_error(run, rotation) == pytest.approx(0.0, abs=1e-6)
