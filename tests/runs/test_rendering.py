"""Reading camera trajectories for `panolift render --trajectory`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panolift.runs import read_trajectory
from panolift.scene import SceneError


def test_read_trajectory_from_json_or_folder(tmp_path):
    poses = [np.eye(4), np.diag([1.0, -1.0, -1.0, 1.0])]
    (tmp_path / "t.json").write_text(json.dumps([p.tolist() for p in poses]))
    folder = tmp_path / "poses"
    folder.mkdir()
    for i, p in enumerate(poses):
        np.savetxt(folder / f"{i * 10}.txt", p)  # "0", "10": numeric order
    for source in (tmp_path / "t.json", folder):
        got = read_trajectory(source)
        assert len(got) == 2 and np.allclose(got[1], poses[1])
    (tmp_path / "bad.json").write_text(json.dumps([[[1, 2], [3, 4]]]))
    with pytest.raises(SceneError, match="bad.json"):
        read_trajectory(tmp_path / "bad.json")
    (tmp_path / "ragged.json").write_text(json.dumps([[[1, 2], [3]]]))
    with pytest.raises(SceneError, match="ragged.json"):
        read_trajectory(tmp_path / "ragged.json")
