"""`panolift eval` end to end on small scenes: perfect scores for the ground truth, the machine labels' own
numbers, metrics.json schema, the report files, and clear errors for broken prediction folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from panolift.cli import main
from panolift.commands.evaluate import exposure_line
from panolift.config import tiny_config
from panolift.evaluate import score_labels, score_machine_labels
from panolift.runs.folder import RunInfo, write_run_info
from panolift.scene import ClassSet, Scene, SceneWriter
from panolift.scene.io import read_label, write_image

SCHEMA = {
    "miou",
    "per_class_iou",
    "pq_scene",
    "sq_scene",
    "rq_scene",
    "pq_scene_things",
    "pq_scene_stuff",
    "pq_image",
}
CLASSES = ClassSet(names=("void", "ground", "sky", "tree", "car", "bike"), thing_ids=(4, 5))  # not ScanNet


def _labels(i: int, w: int = 24, h: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of frame i: ground / sky halves, a car (id 3) and a bike (id 8) that drift with i."""
    sem = np.ones((h, w), dtype=np.int64)
    sem[: h // 2] = 2
    sem[0, :3] = 0  # a little void
    sem[2:5, 18:22] = 3
    ins = np.zeros_like(sem)
    x = 2 + i
    sem[8:13, x : x + 6], ins[8:13, x : x + 6] = 4, 3
    sem[4:9, 12:15], ins[4:9, 12:15] = 5, 8
    return sem, ins


@pytest.fixture(scope="module")
def hand_scene(tmp_path_factory) -> Path:
    """A hand-made 6-frame 24x16 scene (3 test frames) with a 6-class set, ground truth and noisy labels."""
    root = tmp_path_factory.mktemp("eval") / "scene"
    writer = SceneWriter(root)
    writer.write_intrinsics(np.array([[20.0, 0, 12], [0, 20.0, 8], [0, 0, 1]]))
    writer.write_segmentation_data(CLASSES)
    rng = np.random.default_rng(0)
    names = [str(i) for i in range(6)]
    for i, name in enumerate(names):
        pose = np.eye(4)
        pose[0, 3] = 0.1 * i
        writer.write_frame(name, rng.random((16, 24, 3)), pose)
        sem, ins = _labels(i)
        writer.write_ground_truth(name, sem, ins)
        noisy = np.where(rng.random(sem.shape) < 0.1, rng.integers(0, 6, sem.shape), sem)
        m2f_ins = np.where(np.isin(noisy, [4, 5]), ins + 10 * i, 0)  # ids not consistent across views
        writer.write_machine_labels(name, noisy, m2f_ins)
    writer.write_splits(train=names[0::2], test=names[1::2])
    return root


def _write_prediction(folder: Path, scene_root: Path, source: str) -> None:
    """Copy the scene's ground truth ("rs") or machine labels ("m2f") into a prediction folder."""
    for kind in ("semantics", "instance"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for name in Scene(scene_root).test_frames:
            shutil.copy(scene_root / f"{source}_{kind}" / f"{name}.png", folder / kind / f"{name}.png")


def test_eval_of_ground_truth_scores_one_and_writes_schema(hand_scene, tmp_path, capsys):
    pred = tmp_path / "gt_pred"
    _write_prediction(pred, hand_scene, "rs")
    (pred / "rgb").mkdir()
    scene = Scene(hand_scene)
    for name in scene.test_frames:
        shutil.copy(scene.color_path(name), pred / "rgb" / f"{name}.png")  # jpg bytes under .png: PIL sniffs
    for protocol in ("standard", "panoptic-lifting"):
        main(["eval", str(pred), "--scene", str(hand_scene), "--protocol", protocol])
        out = capsys.readouterr().out
        assert "prediction" in out and "2D labels" in out
        data = json.loads((pred / "metrics.json").read_text())
        assert data["protocol"] == protocol
        assert SCHEMA <= set(data["prediction"]) and SCHEMA <= set(data["machine_labels"])
        assert "psnr" in data["prediction"] and data["prediction"]["psnr"] is None  # identical images: inf
        for key in SCHEMA - {"per_class_iou"}:
            assert data["prediction"][key] == pytest.approx(1.0), (protocol, key)
        assert data["machine_labels"]["miou"] < 1.0
        assert set(data["prediction"]["per_class_iou"]) == set(CLASSES.names)
        assert data["prediction"]["per_class_iou"]["car"] == 1.0
    things = {k: v for k, v in data["prediction"].items() if k.startswith("things_")}
    assert things["things_found"] == things["things_true"] > 0  # the ground truth finds every thing
    assert things["things_merged"] + things["things_split"] + things["things_wrong_class"] == 0
    assert data["machine_labels"]["things_split"] > 0  # per-view ids cut every thing seen twice apart
    assert "depth_abs_rel" not in data["prediction"]  # no depth/ in the prediction: no depth scores
    report = (pred / "report.md").read_text()
    assert report.startswith("# panolift eval") and "## 3D thing instances" in report
    assert (pred / "report.png").stat().st_size > 10_000


def test_eval_of_machine_labels_reproduces_their_score(hand_scene, tmp_path, capsys):
    pred = tmp_path / "m2f_pred"
    _write_prediction(pred, hand_scene, "m2f")
    out_dir = tmp_path / "out"
    main(["eval", str(pred), "--scene", str(hand_scene), "--out", str(out_dir), "--report-frames", "1"])
    data = json.loads((out_dir / "metrics.json").read_text())
    assert data["prediction"] == data["machine_labels"]
    direct = score_machine_labels(Scene(hand_scene))
    assert data["prediction"]["pq_scene"] == pytest.approx(direct["pq_scene"])
    assert 0.0 < direct["pq_scene"] < direct["pq_image"] < 1.0  # the per-view ids cost PQ^scene
    assert "psnr" not in data["prediction"]
    assert not (pred / "metrics.json").exists()


def test_run_folder_is_resolved_through_run_json(hand_scene, tmp_path, capsys):
    run = tmp_path / "run"
    _write_prediction(run / "render" / "test", hand_scene, "rs")
    scene = Scene(hand_scene)
    info = RunInfo(hand_scene, tiny_config(), scene.class_set, scene.normalization(), scene.size, {})
    write_run_info(run, info)
    main(["eval", str(run)])
    data = json.loads((run / "render" / "test" / "metrics.json").read_text())
    assert data["prediction"]["pq_scene"] == 1.0


def test_half_size_prediction_and_scene_without_machine_labels(hand_scene, tmp_path, capsys):
    """A prediction rendered at half size is scored at that size; no m2f_* folders: no 2D labels row."""
    scene_copy = tmp_path / "scene"
    shutil.copytree(hand_scene, scene_copy, ignore=shutil.ignore_patterns("m2f_*"))
    pred = tmp_path / "half"
    half = Scene(scene_copy, size=(12, 8))
    for name in half.test_frames:
        gt = half.ground_truth(name)
        write_image(pred / "semantics" / f"{name}.png", gt.semantics.astype(np.uint8))
        write_image(pred / "instance" / f"{name}.png", gt.instance.astype(np.uint16))
    main(["eval", str(pred), "--scene", str(scene_copy)])
    assert "12x8" in capsys.readouterr().out
    data = json.loads((pred / "metrics.json").read_text())
    assert data["machine_labels"] is None
    assert data["prediction"]["miou"] == 1.0 and data["prediction"]["pq_scene"] == 1.0


def test_psnr_of_a_flat_grey_prediction(hand_scene):
    scene = Scene(hand_scene)
    frames = scene.test_frames
    gts = {n: scene.ground_truth(n) for n in frames}
    grey = {n: np.full((16, 24, 3), 0.5) for n in frames}
    r = score_labels(
        scene, {n: g.semantics for n, g in gts.items()}, {n: g.instance for n, g in gts.items()}, grey
    )
    want = np.mean([-10 * np.log10(np.mean((scene.rgb(n) - 0.5) ** 2)) for n in frames])
    assert r["psnr"] == pytest.approx(want)


def test_psnr_gain_aligned_and_the_exposure_line(hand_scene):
    scene = Scene(hand_scene)
    frames = scene.test_frames
    gts = {n: scene.ground_truth(n) for n in frames}
    sem, ins = {n: g.semantics for n, g in gts.items()}, {n: g.instance for n, g in gts.items()}
    darker = {n: scene.rgb(n) * 0.7 for n in frames}  # the scene as a camera at 0.7x the exposure saw it
    r = score_labels(scene, sem, ins, darker)
    assert r["psnr_gain_aligned"] > r["psnr"] + 10.0
    line = exposure_line(r)
    assert line is not None and f"PSNR {r['psnr_gain_aligned']:.2f} dB" in line
    exact = score_labels(scene, sem, ins, {n: scene.rgb(n) for n in frames})
    assert exposure_line(exact) is None and exposure_line({"miou": 1.0}) is None


def test_score_labels_at_a_working_size(hand_scene):
    """Predictions at half the native size: the standard protocol compares at that size."""
    scene = Scene(hand_scene, size=(12, 8))
    sem = {n: scene.ground_truth(n).semantics for n in scene.test_frames}
    ins = {n: scene.ground_truth(n).instance for n in scene.test_frames}
    for protocol in ("standard", "panoptic-lifting"):
        r = score_labels(scene, sem, ins, protocol=protocol, eval_size=(12, 8))
        assert r["miou"] == 1.0 and r["pq_scene"] == 1.0, protocol


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing", r"semantics[/\\]3\.png: missing predicted semantics"),
        ("size", r"instance[/\\]3\.png: predicted instance is 12x8, expected 24x16"),
        ("class", r"semantics[/\\]5\.png: class id 9 out of range; the scene declares 6 classes"),
        ("aspect", r"semantics[/\\]1\.png: size 10x10 does not have the scene's aspect ratio \(24x16\)"),
    ],
)
def test_broken_prediction_folders_name_the_file(hand_scene, tmp_path, capsys, breakage, message):
    pred = tmp_path / "broken"
    _write_prediction(pred, hand_scene, "rs")
    if breakage == "missing":
        (pred / "semantics" / "3.png").unlink()
    elif breakage == "size":
        write_image(pred / "instance" / "3.png", np.zeros((8, 12), dtype=np.uint16))
    elif breakage == "class":
        write_image(pred / "semantics" / "5.png", np.full((16, 24), 9, dtype=np.uint8))
    else:
        write_image(pred / "semantics" / "1.png", np.ones((10, 10), dtype=np.uint8))
    with pytest.raises(SystemExit):
        main(["eval", str(pred), "--scene", str(hand_scene)])
    import re

    assert re.search(message, capsys.readouterr().err)


def test_eval_on_the_synthetic_tiny_scene(tiny_scene, tmp_path, capsys):
    """Ground truth scores 1.0 everywhere; the machine labels score exactly what score_machine_labels says."""
    gt_pred, m2f_pred = tmp_path / "gt", tmp_path / "m2f"
    _write_prediction(gt_pred, tiny_scene, "rs")
    _write_prediction(m2f_pred, tiny_scene, "m2f")
    for protocol in ("standard", "panoptic-lifting"):
        main(
            ["eval", str(gt_pred), "--scene", str(tiny_scene), "--protocol", protocol, "--report-frames", "2"]
        )
        gt = json.loads((gt_pred / "metrics.json").read_text())["prediction"]
        for key in SCHEMA - {"per_class_iou"}:
            assert gt[key] == 1.0, (protocol, key)
        main(
            [
                "eval",
                str(m2f_pred),
                "--scene",
                str(tiny_scene),
                "--protocol",
                protocol,
                "--report-frames",
                "0",
            ]
        )
        data = json.loads((m2f_pred / "metrics.json").read_text())
        assert data["prediction"] == data["machine_labels"]
        direct = score_machine_labels(Scene(tiny_scene), protocol=protocol)
        for key in SCHEMA - {"per_class_iou"}:
            assert data["machine_labels"][key] == pytest.approx(direct[key]), (protocol, key)
        assert 0.0 < direct["miou"] < 1.0


def test_eval_reproduces_the_machine_miou_that_synth_prints(tmp_path, capsys):
    import re

    scene = tmp_path / "synth_tiny"
    main(["synth", str(scene), "--preset", "tiny"])
    printed = re.search(r"machine mIoU\s+([0-9.]+)", capsys.readouterr().out)
    assert printed is not None
    pred = tmp_path / "m2f"
    _write_prediction(pred, scene, "m2f")
    main(["eval", str(pred), "--scene", str(scene), "--report-frames", "0"])
    table = capsys.readouterr().out
    data = json.loads((pred / "metrics.json").read_text())
    assert f"{100 * data['machine_labels']['miou']:.1f}" == printed.group(1)
    assert re.search(rf"2D labels\s+{re.escape(printed.group(1))}\s", table)


def test_the_report_shows_the_worst_frames_first_with_class_and_depth_errors(
    hand_scene, tmp_path, monkeypatch, capsys
):
    scene_root = tmp_path / "scene"
    shutil.copytree(hand_scene, scene_root)
    writer = SceneWriter(scene_root)
    scene = Scene(scene_root)
    for name in scene.test_frames + scene.train_frames:
        writer.write_frame(name, scene.rgb(name), scene.pose(name), depth=np.full((16, 24), 2.0))
    pred = tmp_path / "pred"
    _write_prediction(pred, scene_root, "rs")
    worst = scene.test_frames[1]
    sem = read_label(pred / "semantics" / f"{worst}.png")
    sem[sem == 4] = 1  # the car of one frame lost to the ground
    write_image(pred / "semantics" / f"{worst}.png", sem.astype(np.uint8))
    (pred / "depth").mkdir()
    for name in scene.test_frames:
        mm = np.full((16, 24), 2000, np.uint16)
        mm[:, :6] = 1000  # a sheet at half the distance on a quarter of every frame
        write_image(pred / "depth" / f"{name}.png", mm)
    figures = []
    monkeypatch.setattr(
        "panolift.evaluate.report.write_report_png", lambda path, results, rows: figures.append(rows)
    )
    main(["eval", str(pred), "--scene", str(scene_root), "--report-frames", "2"])
    assert "AbsRel 0.125; 25.0% of the pixels rendered over 1.2x nearer" in capsys.readouterr().out
    scores = json.loads((pred / "metrics.json").read_text())["prediction"]
    assert scores["depth_abs_rel"] == pytest.approx(0.125)  # half the depth on a quarter of the pixels
    assert scores["depth_nearer"] == pytest.approx(0.25) and scores["depth_farther"] == 0.0
    report = (pred / "report.md").read_text()
    assert "AbsRel 0.125" in report
    assert (
        "| class | prediction | 2D labels | true pixels | predicted pixels | rendered over 1.2x nearer"
        in report
    )
    pixels = scores["per_class_pixels"]  # the confusion's sums: what each class of the mean stands on
    car = sum(int((scene.ground_truth(n).semantics == 4).sum()) for n in scene.test_frames)
    lost = int((scene.ground_truth(worst).semantics == 4).sum())
    assert lost > 0 and pixels["car"] == {"true": car, "predicted": car - lost}
    assert pixels["ground"]["predicted"] == pixels["ground"]["true"] + lost
    assert (
        f"| car | {100 * scores['per_class_iou']['car']:.1f} | " in report
        and f"| {car} | {car - lost} |" in report
    )
    from panolift.evaluate.metrics import class_boundary

    on_edge = int(
        (
            class_boundary(scene.ground_truth(worst).semantics) & (scene.ground_truth(worst).semantics == 4)
        ).sum()
    )
    assert scores["boundary_error_share"] == pytest.approx(on_edge / lost)  # the only wrong pixels: the car
    assert scores["miou_interior"] < 1.0 and "Class boundaries (" in report  # a class lost is not an outline
    nearer = scores["per_class_depth_nearer"]
    assert nearer["ground"] > 0 and nearer["bike"] == 0.0  # the sheet covers the first 6 columns only
    (rows,) = figures
    assert [name for name, _ in rows] == [worst, scene.test_frames[-1]]  # most wrong first, then the least
    titles = list(rows[0][1])
    assert titles[:4] == ["rgb", "ground truth", "2D labels", "prediction"]
    assert titles[4].startswith("wrong class ") and titles[5] == "depth: 25% nearer, 0% farther"
    assert rows[1][1]["wrong class 0.0%"].shape == (16, 24, 3)
