"""A hand-made scene in the released layout: jpg colour, pkl segmentation data, 256x256 probabilities
while images are 4:3, integer frame names; plus each validation error and the restricted unpickler."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panolift.scene import (
    SCANNET21,
    Scene,
    SceneError,
    UnsafePickleError,
    compute_scene_normalization,
    generate_rays,
    load_restricted_pickle,
)

W, H = 64, 48
FRAMES = ["0", "2", "10", "11"]  # numeric order differs from lexical ("10" < "2")


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world: z forward to the target, y down."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, y, z], axis=1)
    c2w[:3, 3] = eye
    return c2w


def make_released_scene(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("color", "pose", "intrinsic", "m2f_semantics", "m2f_instance", "m2f_probabilities"):
        (root / sub).mkdir(parents=True)
    K = np.eye(4)
    K[:3, :3] = [[50.0, 0, W / 2], [0, 50.0, H / 2], [0, 0, 1]]
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", K)
    for i, name in enumerate(FRAMES):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(root / "color" / f"{name}.jpg")
        eye = np.array([np.cos(i), np.sin(i), 1.5])
        np.savetxt(root / "pose" / f"{name}.txt", _look_at(eye, np.zeros(3)))
        sem = np.full((H, W), 1, dtype=np.uint8)
        sem[10:30, 10:30] = 5
        Image.fromarray(sem).save(root / "m2f_semantics" / f"{name}.png")
        ins = np.zeros((H, W), dtype=np.uint16)
        ins[10:30, 10:30] = 7 + i  # ids differ from frame to frame
        Image.fromarray(ins).save(root / "m2f_instance" / f"{name}.png")
        prob = np.full((256, 256, 22), 0.01, dtype=np.float32)
        prob[..., 1] = 0.79
        np.savez(
            root / "m2f_probabilities" / f"{name}.npz",
            probability=prob,
            confidence=np.full((256, 256), 0.9, np.float32),
            confidence_notta=np.ones((256, 256), np.float32),
        )
    seg = {
        "num_semantic_classes": 22,
        "fg_classes": np.array(SCANNET21.thing_ids),
        "bg_classes": list(SCANNET21.stuff_ids),
        "m2f_instance_to_semantic": {7: 5, 8: 5},
    }
    with open(root / "segmentation_data.pkl", "wb") as f:
        pickle.dump(seg, f)
    (root / "splits.json").write_text(json.dumps({"train": ["0", "2", "11"], "val": ["10"]}))
    return root


@pytest.fixture
def released(tmp_path: Path) -> Path:
    return make_released_scene(tmp_path / "scene")


def test_reads_released_layout(released: Path) -> None:
    scene = Scene(released)
    scene.validate()
    assert scene.frame_names == FRAMES
    assert scene.native_size == (W, H)
    assert scene.test_frames == ["10"]  # "val" stands for "test"
    assert scene.class_set.thing_ids == SCANNET21.thing_ids
    labels = scene.machine_labels("2")
    assert labels.probability.shape == (H, W, 22)  # resized from 256x256 to the 4:3 working size
    np.testing.assert_allclose(labels.probability[..., 1], 0.79, atol=1e-5)
    np.testing.assert_allclose(labels.confidence, 0.9, atol=1e-5)
    assert set(np.unique(labels.segments)) == {1, 2}  # one stuff segment, one thing segment
    assert labels.instance[20, 20] == 8
    assert scene.rgb("0").shape == (H, W, 3) and scene.rgb("0").dtype == np.float32


def test_working_resolution_scales_intrinsics_and_labels(released: Path) -> None:
    scene = Scene(released, size=(32, 24))
    K = scene.intrinsics
    np.testing.assert_allclose(K[0, 0], 25.0)
    np.testing.assert_allclose(K[:2, 2], [16.0, 12.0])
    labels = scene.machine_labels("0")
    assert labels.semantics.shape == (24, 32) and labels.probability.shape == (24, 32, 22)


def test_rays_pass_through_pixel_centres(released: Path) -> None:
    scene = Scene(released)
    K = torch.tensor(scene.intrinsics)
    c2w = torch.tensor(scene.pose("0"))
    origins, dirs = generate_rays(K, c2w, W, H)
    assert origins.shape == (W * H, 3)
    # project a point along each ray back into the image: it lands on its pixel centre
    pts = origins + 2.0 * dirs
    w2c = torch.linalg.inv(c2w)
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam[:, :2] / cam[:, 2:] * K.diagonal()[:2] + K[:2, 2]
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    expected = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1).double() + 0.5
    torch.testing.assert_close(uv, expected)


def test_normalization_fits_frusta_in_unit_sphere(released: Path) -> None:
    scene = Scene(released)
    norm = scene.normalization(max_depth=3.0)
    poses = norm.apply_to_poses(scene.poses)
    assert np.linalg.norm(poses[:, :3, 3], axis=-1).max() <= 1.0
    again = compute_scene_normalization(scene.intrinsics, scene.poses, W, H, max_depth=3.0)
    assert again.scale == pytest.approx(norm.scale)


def test_error_missing_pose(released: Path) -> None:
    (released / "pose" / "2.txt").unlink()
    with pytest.raises(SceneError, match=r"pose/2\.txt.*missing"):
        Scene(released)


def test_error_non_finite_pose(released: Path) -> None:
    pose = np.eye(4)
    pose[0, 3] = np.nan
    np.savetxt(released / "pose" / "10.txt", pose)
    with pytest.raises(SceneError, match=r"pose/10\.txt.*non-finite"):
        Scene(released)


def test_error_label_size_differs(released: Path) -> None:
    Image.fromarray(np.zeros((H // 2, W // 2), np.uint8)).save(released / "m2f_semantics" / "11.png")
    scene = Scene(released)
    with pytest.raises(SceneError, match=r"m2f_semantics/11\.png.*differs"):
        scene.validate()


def test_error_split_names_unknown_frame(released: Path) -> None:
    (released / "splits.json").write_text(json.dumps({"train": ["0", "99"], "test": ["10"]}))
    with pytest.raises(SceneError, match=r"splits\.json.*99"):
        Scene(released)


def test_error_missing_intrinsics_and_bad_matrix(released: Path) -> None:
    (released / "pose" / "0.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(SceneError, match=r"pose/0\.txt.*4x4"):
        Scene(released)
    shutil.rmtree(released / "intrinsic")
    np.savetxt(released / "pose" / "0.txt", np.eye(4))
    with pytest.raises(SceneError, match="intrinsic_color.txt: missing"):
        Scene(released)


def test_error_bad_probabilities(released: Path) -> None:
    np.savez(
        released / "m2f_probabilities" / "0.npz",
        probability=np.ones((8, 8, 5), np.float32),
        confidence=np.ones((8, 8), np.float32),
    )
    with pytest.raises(SceneError, match=r"m2f_probabilities/0\.npz.*\(H, W, 22\)"):
        Scene(released).validate()


class _Exploit:
    """Unpickling this would call os.system: the restricted unpickler must refuse before calling it."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED_MARKER",))


def test_restricted_unpickler_refuses_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "segmentation_data.pkl"
    path.write_bytes(pickle.dumps({"num_semantic_classes": 22, "x": _Exploit()}))
    with pytest.raises(UnsafePickleError, match=r"segmentation_data\.pkl.*(posix|os)\.system"):
        load_restricted_pickle(path)
    assert not (tmp_path / "PWNED_MARKER").exists()


def test_restricted_unpickler_admits_numpy_and_containers(tmp_path: Path) -> None:
    data = {"a": np.arange(5, dtype=np.int32), "b": [1, 2.5, (3, "x")], "c": np.float64(2.0), "d": {1, 2}}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data))
    out = load_restricted_pickle(path)
    np.testing.assert_array_equal(out["a"], data["a"])
    assert out["b"] == data["b"] and out["c"] == 2.0 and out["d"] == {1, 2}


def test_malicious_pickle_in_scene_is_refused(released: Path) -> None:
    (released / "segmentation_data.pkl").write_bytes(pickle.dumps({"num_semantic_classes": _Exploit()}))
    with pytest.raises(UnsafePickleError):
        Scene(released)
