"""`panolift eval PRED_DIR_OR_RUN`: score predictions (and the scene's 2D labels) on the test frames."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def evaluate(
    path: Path,
    /,
    scene: Path | None = None,
    protocol: Literal["standard", "panoptic-lifting"] = "standard",
    out: Path | None = None,
    eval_size: tuple[int, int] = (512, 512),
    report_frames: int = 3,
) -> None:
    """Score a prediction folder against the scene's ground truth, beside the scene's 2D machine labels.

    Prints the table and writes metrics.json, report.md and report.png next to the prediction (or to --out).

    Args:
        path: a run folder (has run.json; its render/test/ is scored) or a folder with semantics/,
            instance/ and optional rgb/ (one PNG per test frame).
        scene: the scene folder; default: the "scene" entry of the run's run.json.
        protocol: "standard" (ours, see evaluate/PROTOCOLS.md) or "panoptic-lifting" (the authors' code).
        out: folder for metrics.json and the report; default: the prediction folder.
        eval_size: width height that labels are resized to under the panoptic-lifting protocol.
        report_frames: how many test frames the report PNG shows.
    """
    from panolift.evaluate import score_labels, score_machine_labels
    from panolift.evaluate.prediction import open_scene_for, read_depth, read_prediction
    from panolift.evaluate.report import format_table, markdown_report, write_metrics_json
    from panolift.evaluate.score import score_depth
    from panolift.runs import resolve_prediction
    from panolift.scene import SceneError

    source = resolve_prediction(path, scene)
    the_scene = open_scene_for(source)
    if not the_scene.has_ground_truth:
        raise SceneError(f"{the_scene.root}: no ground truth (rs_semantics/) to evaluate against")
    frames = the_scene.test_frames
    semantics, instance, rgb = read_prediction(source.folder, the_scene, frames)
    depths = {name: read_depth(source.folder, the_scene, name) for name in frames}
    depths = depths if all(d is not None for d in depths.values()) else None
    size = tuple(eval_size)
    results = {
        "protocol": protocol,
        "scene": str(the_scene.root),
        "prediction": score_labels(the_scene, semantics, instance, rgb, protocol=protocol, eval_size=size),
        "machine_labels": (
            score_machine_labels(the_scene, protocol=protocol, eval_size=size)
            if the_scene.has_machine_labels
            else None
        ),
    }
    depth_scores = score_depth(the_scene, depths, frames) if depths is not None else None
    if depth_scores is not None:
        results["prediction"].update(depth_scores)
    out_dir = Path(out) if out is not None else source.folder
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics_json(out_dir / "metrics.json", results)
    title = f"panolift eval: {the_scene.root.name} ({len(frames)} test frames)"
    (out_dir / "report.md").write_text(markdown_report(results, title))
    _write_figure(out_dir / "report.png", results, the_scene, depths, semantics, instance, report_frames)
    print(
        f"protocol {protocol}, scene {the_scene.root}, {len(frames)} test frames at "
        f"{the_scene.width}x{the_scene.height}"
        + (f" (scored at {size[0]}x{size[1]})" if protocol != "standard" else "")
    )
    print(format_table(results))
    for line in (
        exposure_line(results["prediction"]),
        depth_line(results["prediction"]),
        boundary_line(results["prediction"]),
    ):
        if line:
            print(line)
    from panolift.runs import check_against_inputs, is_edited_run, latest_checkpoint, load_run

    run_dir = source.run_dir
    if run_dir is not None and (is_edited_run(run_dir) or latest_checkpoint(run_dir) is not None):
        from panolift.commands.train import report_agreement

        agreement = check_against_inputs(load_run(run_dir))
        results["input_agreement"] = {**vars(agreement), "warnings": agreement.warnings()}
        write_metrics_json(out_dir / "metrics.json", results)
        report_agreement(agreement)
    print(f"wrote {out_dir / 'metrics.json'}, {out_dir / 'report.md'}, {out_dir / 'report.png'}")


EXPOSURE_HINT_DB = 1.0
"""The gain-aligned PSNR above the plain one by which the test frames' own exposure is worth a line."""


def exposure_line(prediction: dict) -> str | None:
    """A line when the test frames' PSNR rises by at least :data:`EXPOSURE_HINT_DB` with each frame's
    per-channel gain fitted: their cameras set their own exposure or white balance, which no field can
    know (train with ``--train.frame-exposure`` when the training frames vary the same way)."""
    plain, aligned = prediction.get("psnr"), prediction.get("psnr_gain_aligned")
    if plain is None or aligned is None or not aligned - plain >= EXPOSURE_HINT_DB:
        return None
    return (
        f"PSNR {aligned:.2f} dB with each test frame's exposure fitted (a gain per channel): the test "
        f"frames' exposure or white balance varies, {aligned - plain:.1f} dB of the plain PSNR is the camera's"
    )


def depth_line(prediction: dict) -> str | None:
    """The rendered depth against the scene's (where both exist): AbsRel and the shares off by more than
    :data:`~panolift.evaluate.metrics.DEPTH_OFF` either way."""
    from panolift.evaluate.metrics import DEPTH_OFF

    if "depth_abs_rel" not in prediction:
        return None
    return (
        f"depth against the scene's: AbsRel {prediction['depth_abs_rel']:.3f}; "
        f"{100 * prediction['depth_nearer']:.1f}% of the pixels rendered over {DEPTH_OFF:g}x nearer (fog, "
        f"sheets), {100 * prediction['depth_farther']:.1f}% farther (see-through)"
    )


def boundary_line(prediction: dict) -> str | None:
    """Where the prediction's wrong pixels are: on the true class boundaries (outlines a pixel off) or off
    them (classes), with the mIoU off the boundaries (:func:`~panolift.evaluate.protocols.boundary_breakdown`)."""
    import math

    share = prediction.get("boundary_error_share")
    if share is None or math.isnan(share):
        return None
    return (
        f"class boundaries ({100 * prediction['boundary_pixel_share']:.0f}% of the pixels): "
        f"{100 * share:.0f}% of the wrong pixels; mIoU off them {100 * prediction['miou_interior']:.1f}"
    )


def _write_figure(
    path: Path, results: dict, scene, depths: dict | None, semantics: dict, instance: dict, count: int
) -> None:
    """rgb | ground truth | 2D labels | prediction | its class errors (| its depth against the true
    depth, where ``depths`` are given and the scene has depth) for ``count`` test frames, from the one
    whose classes are most wrong to the one least wrong (:func:`~panolift.evaluate.report.frames_by_error`)."""
    import numpy as np

    from panolift.evaluate.report import depth_panel, error_panel, frames_by_error, write_report_png
    from panolift.render import colorize_panoptic

    truths = {name: scene.ground_truth(name) for name in scene.test_frames}
    shares = {name: wrong_class_share(truths[name].semantics, semantics[name]) for name in truths}
    c, things = scene.class_set.num_classes, scene.class_set.thing_ids
    rows = []
    for name in frames_by_error(shares, count):
        gt = truths[name]
        rgb = (scene.rgb(name) * 255 + 0.5).astype(np.uint8)
        panels = {"rgb": rgb, "ground truth": colorize_panoptic(gt.semantics, gt.instance, c, things)}
        if scene.has_machine_labels:
            panels["2D labels"] = colorize_panoptic(*scene.machine_label_maps(name), c, things)
        panels["prediction"] = colorize_panoptic(semantics[name], instance[name], c, things)
        panels[f"wrong class {100 * shares[name]:.1f}%"] = error_panel(rgb, gt.semantics, semantics[name])
        truth, rendered = scene.depth(name), None if depths is None else depths[name]
        if truth is not None and rendered is not None:
            panel, nearer, farther = depth_panel(truth, rendered)
            panels[f"depth: {100 * nearer:.0f}% nearer, {100 * farther:.0f}% farther"] = panel
        rows.append((name, panels))
    write_report_png(path, results, rows)


def wrong_class_share(truth, predicted) -> float:
    """The share of a frame's labelled pixels (ground truth not void, 0) whose predicted class is another."""
    labelled = truth != 0
    return float((predicted[labelled] != truth[labelled]).mean()) if labelled.any() else 0.0
