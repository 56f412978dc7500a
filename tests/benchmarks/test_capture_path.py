"""benchmarks/capture_path.py: a synthetic room's colour frames through `panolift import images`, its labels
and ground truth carried over by frame name, then trained and scored with exact and with SfM poses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panolift.scene import Scene

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from capture_path import carry_over, pose_errors  # noqa: E402


@pytest.fixture(scope="module")
def textured_room(tmp_path_factory) -> Path:
    """16 frames at 240x180 over 0.4 turns: what SIFT needs to register every frame (tests/capture/test_sfm.py)."""
    from panolift.synth import SYNTH_PRESETS, synthesize_scene

    config = dataclasses.replace(SYNTH_PRESETS["tiny"], width=240, height=180, num_frames=16, turns=0.4)
    root = tmp_path_factory.mktemp("capture") / "room"
    synthesize_scene(root, config)
    return root


def test_pose_errors_measure_a_similarity_away_and_in_the_true_units():
    rng = np.random.default_rng(0)
    true = np.tile(np.eye(4), (40, 1, 1))
    true[:, :3, 3] = rng.uniform(-2, 2, (40, 3))
    angle = 0.7
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    sfm = true.copy()
    sfm[:, :3, :3] = turn.T @ true[:, :3, :3]
    sfm[:, :3, 3] = (true[:, :3, 3] @ turn) / 2.5 + 0.3  # rotated, shrunk, shifted: the same trajectory
    errors = pose_errors(true, sfm)
    assert errors["scale"] == pytest.approx(2.5)
    assert errors["rotation_max_deg"] < 1e-4 and errors["centre_max_m"] < 1e-6
    sfm[2, 0, 3] += 0.1 / 2.5  # one camera 10 cm off (in the true world's units)
    assert pose_errors(true, sfm)["centre_max_m"] == pytest.approx(0.1, rel=0.1)  # the fit moves little


def test_a_room_goes_through_structure_from_motion_and_both_trainings(textured_room, tmp_path):
    out, rows_path = tmp_path / "out", tmp_path / "rows.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "capture_path.py"), "--scenes", str(textured_room)]
    cmd += ["--preset", "tiny", "--extra-train-args=--train.iterations 40", "--out", str(out)]
    cmd += ["--json", str(rows_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads(rows_path.read_text())
    assert row["status"] == "ok" and row["registered"] >= 12, row
    assert row["rotation_median_deg"] < 2.0 and abs(row["focal_error"]) < 0.05
    assert row["exact"]["status"] == "ok" and row["sfm"]["status"] == "ok"
    assert row["exact"]["miou_2d"] == pytest.approx(row["sfm"]["miou_2d"])  # the same labels, same frames
    assert "| room |" in result.stdout and f"{row['registered']} / 16" in result.stdout

    # the imported scene: the synth's own pixels and labels under each frame's new name, the same split
    source, imported = Scene(textured_room), Scene(out / "room" / "sfm")
    record = json.loads((out / "room" / "sfm" / "capture.json").read_text())
    origin = {n: Path(record["origins"][Path(p).name]).stem for n, p in record["frames"].items()}
    for name in imported.frame_names:
        assert np.array_equal(imported.rgb(name), source.rgb(origin[name]))
        for folder in ("m2f_semantics", "rs_instance"):
            ours = np.asarray(Image.open(out / "room" / "sfm" / folder / f"{name}.png"))
            theirs = np.asarray(Image.open(textured_room / folder / f"{origin[name]}.png"))
            assert np.array_equal(ours, theirs), (folder, name)
    assert {origin[n] for n in imported.test_frames} == set(source.test_frames) & set(origin.values())
    assert {origin[n] for n in imported.train_frames} == set(source.train_frames) & set(origin.values())
    exact = Scene(out / "room" / "exact")  # the exact poses' copy: the same registered frames
    assert set(exact.test_frames) == {origin[n] for n in imported.test_frames}


def test_carrying_over_replaces_the_import_s_frames_and_masks_by_the_source_s(tmp_path):
    source, imported = tmp_path / "source", tmp_path / "imported"
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    for folder, array in (("color", pixels), ("m2f_semantics", pixels[..., 0])):
        (source / folder).mkdir(parents=True)
        Image.fromarray(array).save(source / folder / "a.png")
    (source / "splits.json").write_text(json.dumps({"train": [], "test": ["a"]}))
    for folder in ("color", "invalid"):  # an undistorted import: re-encoded frame, uncovered border
        (imported / folder).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(imported / folder / "0.jpg")
    carry_over(source, imported, {"0": "a"}, depth_scale=1.0)
    assert sorted(p.name for p in (imported / "color").iterdir()) == ["0.png"]
    assert np.array_equal(np.asarray(Image.open(imported / "color" / "0.png")), pixels)
    assert not (imported / "invalid").exists()  # the source has no mask: none of the import's stays
    assert json.loads((imported / "splits.json").read_text()) == {"train": [], "test": ["0"]}
