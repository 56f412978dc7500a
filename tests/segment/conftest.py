"""Fixtures of the 2D front end's tests: a tiny random Mask2Former saved to a folder, and a small scene.

Nothing is ever downloaded: the hub is switched off before transformers is imported by these tests."""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from panolift.scene import Scene, SceneWriter  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised Mask2Former (small Swin, 8 queries, COCO panoptic's 133 labels) in a folder.

    The class head is scaled and biased towards a few indoor thing categories so that the random network
    makes confident predictions (one thing instance per frame on the tiny scene) and the pipeline has
    segments to fuse, merge and number."""
    import torch
    from transformers import Mask2FormerForUniversalSegmentation

    from panolift.segment import COCO_PANOPTIC_CATEGORIES, save_random_mask2former

    folder = save_random_mask2former(tmp_path_factory.mktemp("m2f") / "tiny", num_queries=8)
    network = Mask2FormerForUniversalSegmentation.from_pretrained(folder)
    bias = torch.full((len(COCO_PANOPTIC_CATEGORIES) + 1,), -5.0)
    for name in ("chair", "couch", "bed", "tv", "person"):
        bias[COCO_PANOPTIC_CATEGORIES.index(name)] = 3.0
    bias[COCO_PANOPTIC_CATEGORIES.index("wall-other-merged")] = 0.0
    with torch.no_grad():
        network.class_predictor.weight.mul_(30.0)
        network.class_predictor.bias.copy_(bias)
    network.save_pretrained(folder)
    return folder


def _write_small_scene(root, num_frames: int = 3):
    """A 64x48 scene: a red box on a two-tone background, moving a little from frame to frame."""
    rng = np.random.default_rng(0)
    writer = SceneWriter(root)
    writer.write_intrinsics(np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]]))
    for i in range(num_frames):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:24] = (190, 180, 170)
        img[24:] = (90, 70, 50)
        img[12:32, 16 + 2 * i : 36 + 2 * i] = (210, 30, 30)
        img = np.clip(img.astype(int) + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)
        pose = np.eye(4)
        pose[0, 3] = 0.05 * i
        writer.write_frame(str(i), img, pose)
    return root


def _keep_frames(root, keep: list[str]) -> None:
    """Drop every per-frame file but those of ``keep`` (and all machine labels), to keep the tests fast."""
    for folder in [p for p in root.iterdir() if p.is_dir()]:
        if folder.name.startswith("m2f_"):
            shutil.rmtree(folder)
            continue
        for path in folder.iterdir():
            if path.stem not in keep and folder.name != "intrinsic":
                path.unlink()
    (root / "splits.json").write_text(json.dumps({"train": keep[:-1], "test": keep[-1:]}))


@pytest.fixture
def scene_dir(request, tmp_path):
    """A writable 3-frame copy of the shared ``tiny_scene`` (when tests/conftest.py has it) without its
    simulated machine labels, else a 3-frame scene made here."""
    try:
        source = request.getfixturevalue("tiny_scene")
    except pytest.FixtureLookupError:
        return _write_small_scene(tmp_path / "scene")
    root = shutil.copytree(source, tmp_path / "scene")
    _keep_frames(root, Scene(root).frame_names[:3])
    return root
