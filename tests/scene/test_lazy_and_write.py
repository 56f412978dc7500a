"""The Scene API reads lazily, and SceneWriter writes what Scene reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import panolift.scene.scene as scene_module
from panolift.scene import SCANNET21, Scene, SceneWriter


def _write_scene(root: Path, n: int, w: int = 16, h: int = 12) -> None:
    writer = SceneWriter(root)
    writer.write_intrinsics(np.array([[10.0, 0, w / 2], [0, 10.0, h / 2], [0, 0, 1]]))
    rng = np.random.default_rng(1)
    for i in range(n):
        pose = np.eye(4)
        pose[0, 3] = 0.1 * i
        writer.write_frame(str(i), rng.random((h, w, 3)), pose, depth=np.full((h, w), 2.5), suffix=".png")
        sem = rng.integers(0, 22, (h, w))
        ins = np.where(np.isin(sem, SCANNET21.thing_ids), 3, 0)
        prob = np.eye(22, dtype=np.float32)[sem]
        writer.write_machine_labels(
            str(i),
            sem,
            ins,
            probability=prob,
            confidence=np.full((h, w), 0.5),
            confidence_notta=np.ones((h, w)),
        )
        writer.write_ground_truth(str(i), sem, ins)
    writer.write_splits([str(i) for i in range(n) if i % 4], [str(i) for i in range(0, n, 4)])
    writer.write_segmentation_data(SCANNET21)


def test_construction_decodes_no_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_scene(tmp_path, 40)
    calls = []
    monkeypatch.setattr(scene_module, "read_rgb", lambda p: calls.append(p))
    monkeypatch.setattr(scene_module, "read_label", lambda p: calls.append(p))
    scene = Scene(tmp_path)
    assert len(scene.frame_names) == 40 and scene.native_size == (16, 12)
    assert calls == []  # only poses, intrinsics, sizes and metadata are read up front


def test_writer_round_trip(tmp_path: Path) -> None:
    _write_scene(tmp_path, 5)
    scene = Scene(tmp_path)
    scene.validate()
    assert scene.class_set == SCANNET21
    assert scene.test_frames == ["0", "4"]
    np.testing.assert_allclose(scene.pose("3")[0, 3], 0.3)
    np.testing.assert_allclose(scene.depth("1"), 2.5)
    labels = scene.machine_labels("2")
    gt = scene.ground_truth("2")
    np.testing.assert_array_equal(labels.semantics, gt.semantics)
    np.testing.assert_allclose(labels.confidence, 0.5, atol=1e-3)
    np.testing.assert_allclose(scene.machine_labels("2", tta=False).confidence, 1.0, atol=1e-3)
    assert labels.probability.argmax(-1).tolist() == labels.semantics.tolist()


def test_label_maps_skip_probabilities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_scene(tmp_path, 2)
    scene = Scene(tmp_path)
    full = scene.machine_labels("1")
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("label maps must not read the npz"))
    semantics, instance = scene.machine_label_maps("1")
    np.testing.assert_array_equal(semantics, full.semantics)
    np.testing.assert_array_equal(instance, full.instance)
