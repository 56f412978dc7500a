"""Broken prediction folders (what `panolift eval PRED_DIR --scene SCENE` reads), through the library:
a PanoliftError naming the file, or a correct result; never another exception, never a hang."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panolift.errors import PanoliftError
from panolift.evaluate.prediction import open_scene_for, read_prediction
from panolift.runs import resolve_prediction

m = sys.modules["panolift_fuzz_mutations"]
H, W = 48, 64
SEM, INS, RGB = "pred/semantics/4.png", "pred/instance/4.png", "pred/rgb/4.png"


def _stripes(dtype) -> np.ndarray:
    return (np.arange(W)[None, :] // 8 % 3 + np.zeros((H, 1), np.int64)).astype(dtype)


def _resized(folder: str, w: int, h: int):
    def mutate(root: Path) -> None:
        for path in (root / folder).iterdir():
            with Image.open(path) as img:
                img.resize((w, h), Image.NEAREST).save(path)

    return mutate


def _run_json(content: bytes):
    """The prediction inside RUN/render/test with RUN/run.json holding ``content`` (scene not passed)."""

    def mutate(root: Path) -> None:
        (root / "run" / "render").mkdir(parents=True)
        shutil.move(root / "pred", root / "run" / "render" / "test")
        (root / "run" / "run.json").write_bytes(content)

    return mutate


CASES = [
    ("missing-frame", m.remove(SEM), SEM),
    ("semantics-folder-missing", m.remove("pred/semantics"), "pred"),
    ("semantics-is-dir", m.make_dir(SEM), SEM),
    ("semantics-fifo", m.make_fifo(SEM), SEM),
    ("semantics-empty", m.put(SEM, b""), SEM),
    ("semantics-truncated", m.truncate(SEM, 0.6), SEM),
    ("semantics-other-aspect", m.both(_resized("pred/semantics", 30, 30), _resized("pred/instance", 30, 30)), "pred/semantics/0.png"),
    ("semantics-one-frame-smaller", m.image(SEM, np.zeros((H // 2, W // 2), np.uint8)), SEM),
    ("semantics-rgb-channels-differ", m.image(SEM, np.dstack([_stripes(np.uint8), np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)])), SEM),
    ("semantics-float", m.image(SEM, np.zeros((H, W), np.float32), "TIFF"), SEM),
    ("semantics-class-40", m.image(SEM, np.full((H, W), 40, np.uint8)), SEM),
    ("semantics-16bit-class-300", m.image(SEM, np.full((H, W), 300, np.uint16)), SEM),
    ("semantics-jpeg", m.image(SEM, np.zeros((H, W), np.uint8), "JPEG"), SEM),
    ("instance-wrong-size", m.image(INS, np.zeros((10, 10), np.uint16)), INS),
    ("instance-rgba", m.image(INS, np.zeros((H, W, 4), np.uint8)), INS),
    ("instance-missing-frame", m.remove(INS), INS),
    ("rgb-wrong-size", m.image(RGB, np.zeros((10, 10, 3), np.uint8)), RGB),
    ("rgb-16bit", m.image(RGB, np.zeros((H, W), np.uint16)), RGB),
    ("rgb-garbage", m.put(RGB, b"garbage" * 10), RGB),
    ("run-json-garbage", _run_json(b"\x00\xff garbage"), "run.json"),
    ("run-json-scene-not-a-path", _run_json(json.dumps({"scene": [1, 2]}).encode()), "run.json"),
    ("valid", lambda root: None, None),
    ("valid-no-instance-folder", m.remove("pred/instance"), None),
    ("valid-no-rgb-folder", m.remove("pred/rgb"), None),
    ("valid-half-resolution", m.both(*(_resized(f"pred/{f}", W // 2, H // 2) for f in ("semantics", "instance", "rgb"))), None),
    ("valid-semantics-16bit", m.image(SEM, _stripes(np.uint16)), None),
]  # fmt: skip


@pytest.fixture(scope="module")
def predicted(fuzz_base, tmp_path_factory) -> Path:
    """The base scene plus a prediction folder for its test frames (ground truth as the prediction)."""
    root = tmp_path_factory.mktemp("pred") / "case"
    shutil.copytree(fuzz_base, root / "scene")
    for name in json.loads((root / "scene" / "splits.json").read_text())["test"]:
        for folder, source in (("semantics", "rs_semantics"), ("instance", "rs_instance"), ("rgb", "color")):
            (root / "pred" / folder).mkdir(parents=True, exist_ok=True)
            suffix = ".jpg" if folder == "rgb" else ".png"
            with Image.open(root / "scene" / source / f"{name}{suffix}") as img:
                img.save(root / "pred" / folder / f"{name}.png")
    return root


@pytest.mark.parametrize("name, mutate, expect", CASES, ids=[c[0] for c in CASES])
def test_broken_prediction_folder(name, mutate, expect, predicted: Path, tmp_path: Path) -> None:
    root = tmp_path / "case"
    shutil.copytree(predicted, root)
    mutate(root)
    before = m.fingerprint(root)
    run = root / "run"
    try:
        if run.is_dir():
            source = resolve_prediction(run)
        else:
            source = resolve_prediction(root / "pred", root / "scene")
        scene = open_scene_for(source)
        semantics, instance, rgb = read_prediction(source.folder, scene, scene.test_frames)
        error = None
    except PanoliftError as exc:
        error = exc
    assert m.fingerprint(root) == before
    if expect is None:
        assert error is None, str(error)
        assert set(semantics) == set(scene.test_frames) and all(
            s.shape == scene.size[::-1] for s in semantics.values()
        )
        return
    assert error is not None, "bad prediction accepted"
    assert expect in str(error) and "\n" not in str(error), str(error)
