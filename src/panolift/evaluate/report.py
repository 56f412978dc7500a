"""Reports: the metrics table (text and Markdown), metrics.json, and a PNG with per-class IoU bars and a few
test frames (rgb | ground truth | 2D labels | prediction).

Colours come from :mod:`panolift.render.colors`, the palette of every picture panolift draws.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from panolift.scene.io import write_json

from .metrics import DEPTH_OFF, depth_ratio

# (label, key in the metrics dict, scale): fractions print as percentages, PSNR in dB
COLUMNS = (
    ("mIoU", "miou", 100.0),
    ("PQ^scene", "pq_scene", 100.0),
    ("SQ^scene", "sq_scene", 100.0),
    ("RQ^scene", "rq_scene", 100.0),
    ("PQ^sc th", "pq_scene_things", 100.0),
    ("PQ^sc st", "pq_scene_stuff", 100.0),
    ("PQ img", "pq_image", 100.0),
    ("PSNR", "psnr", 1.0),
)
ROW_NAMES = (("machine_labels", "2D labels"), ("prediction", "prediction"))


def _cell(value, scale: float) -> str:
    if value is None or not math.isfinite(value):
        return "-" if value is None or math.isnan(value) else "inf"
    return f"{value * scale:.1f}" if scale != 1.0 else f"{value:.2f}"


def table_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (2D labels, prediction) of the metrics table; absent rows are skipped."""
    header = ["", *(c[0] for c in COLUMNS)]
    rows = []
    for key, label in ROW_NAMES:
        metrics = results.get(key)
        if metrics:
            rows.append([label, *(_cell(metrics.get(k), s) for _, k, s in COLUMNS)])
    return header, rows


def format_table(results: dict) -> str:
    """The metrics table as aligned text (percentages; PSNR in dB)."""
    header, rows = table_rows(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def markdown_report(results: dict, title: str) -> str:
    """Markdown: the metrics table, then per-class IoU (prediction beside the 2D labels)."""
    header, rows = table_rows(results)
    md = [f"# {title}", "", f"Protocol: `{results['protocol']}` (values in %, PSNR in dB).", ""]
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if results.get("machine_labels"):
        md += ["", "The 2D labels' instance ids are per view: their PQ^scene is not a scene-level score."]
    md += thing_lines(results)
    prediction = results.get("prediction") or {}
    if "depth_abs_rel" in prediction:
        md += [
            "", f"Rendered depth against the scene's: AbsRel {prediction['depth_abs_rel']:.3f}; "
            f"{100 * prediction['depth_nearer']:.1f}% of the pixels over {DEPTH_OFF:g}x nearer, "
            f"{100 * prediction['depth_farther']:.1f}% farther.",
        ]  # fmt: skip
    md += boundary_lines(results)
    nearer = prediction.get("per_class_depth_nearer")
    pixels = prediction.get("per_class_pixels")  # absent from results scored before it existed
    md += ["", "## Per-class IoU (%)", ""]
    if pixels is not None:
        md += [
            "Each class is one term of mIoU's mean whatever its size: a class of a few pixels, true or "
            "predicted, weighs as much as the wall.",
            "",
        ]
    header = ["class", "prediction", "2D labels"]
    header += [] if pixels is None else ["true pixels", "predicted pixels"]
    header += [] if nearer is None else [f"rendered over {DEPTH_OFF:g}x nearer (% of its pixels)"]
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    pred = prediction.get("per_class_iou", {})
    m2f = (results.get("machine_labels") or {}).get("per_class_iou", {})
    for name in pred:
        a, b = pred.get(name), m2f.get(name)
        if (a is None or math.isnan(a)) and (b is None or math.isnan(b)):
            continue
        cells = [name, _cell(a, 100.0), _cell(b, 100.0)]
        if pixels is not None:
            count = pixels.get(name) or {}
            cells += [str(count.get("true", "-")), str(count.get("predicted", "-"))]
        if nearer is not None:
            cells.append(_cell(nearer.get(name), 100.0))
        md.append("| " + " | ".join(cells) + " |")
    return "\n".join(md) + "\n"


def boundary_lines(results: dict) -> list[str]:
    """Markdown lines: how much of each labelling's error lies on the true class boundaries (absent from
    results scored before it existed)."""
    parts, band = [], None
    for key, name in (("prediction", "the prediction"), ("machine_labels", "the 2D labels")):
        scores = results.get(key) or {}
        share = scores.get("boundary_error_share")
        if share is None or not _finite(share):
            continue
        band = scores["boundary_pixel_share"]  # the same ground truth for both
        parts.append(
            f"{name}: {100 * share:.0f}% of the wrong pixels, mIoU {_cell(scores['miou_interior'], 100.0)} off them"
        )
    if not parts:
        return []
    return [
        "",
        f"Class boundaries (a pixel with another true class among its 8 neighbours: {100 * band:.1f}% of "
        f"the scored pixels): {'; '.join(parts)}. Errors on the boundaries are outlines a pixel off; "
        "those off them are classes.",
    ]


THING_COLUMNS = (
    ("true", "things_true"), ("found", "things_found"), ("predicted", "things_predicted"),
    ("merged", "things_merged"), ("split", "things_split"), ("wrong class", "things_wrong_class"),
    ("lost", "things_lost"),
)  # fmt: skip


def thing_lines(results: dict) -> list[str]:
    """Markdown lines: 3D thing instances over the test frames (present, found at IoU > 0.5, predicted) and
    why the missed ones are missed; nothing for results scored before these counts existed."""
    rows = [(label, results.get(key) or {}) for key, label in ROW_NAMES]
    rows = [(label, m) for label, m in rows if m.get("things_merged") is not None]
    if not rows:
        return []
    md = ["", "## 3D thing instances (all test frames together)", ""]
    md += ["| | " + " | ".join(c[0] for c in THING_COLUMNS) + " |", "|" + "---|" * (len(THING_COLUMNS) + 1)]
    md += [
        "| " + " | ".join([label, *(str(m.get(k, "-")) for _, k in THING_COLUMNS)]) + " |"
        for label, m in rows
    ]
    md += [
        "",
        "Missed: merged (one predicted instance also covers other things), split (in pieces), wrong class "
        "(mostly another class), lost (the rest: void, or spilling onto stuff).",
    ]
    return md


def json_ready(obj):
    """NaN and infinities become null (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_metrics_json(path: str | Path, results: dict) -> None:
    write_json(path, json_ready(results))


def write_report_png(
    path: str | Path, results: dict, frames: list[tuple[str, dict[str, np.ndarray]]]
) -> None:
    """A PNG: per-class IoU bars (prediction and 2D labels), then one row per frame with the panels given
    in ``frames`` as (frame name, {panel title: (H, W, 3) uint8 image}). Drawn on matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pred = (results.get("prediction") or {}).get("per_class_iou", {})
    m2f = (results.get("machine_labels") or {}).get("per_class_iou", {})
    names = [n for n in pred if _finite(pred.get(n)) or _finite(m2f.get(n))]
    num_cols = max([len(p) for _, p in frames] + [1])
    fig = Figure(figsize=(3.2 * num_cols, 3.2 + 2.6 * len(frames)), dpi=100)
    FigureCanvasAgg(fig)  # no pyplot: no global state, no GUI backend
    grid = fig.add_gridspec(1 + len(frames), num_cols, height_ratios=[1.25] + [1.0] * len(frames))
    ax = fig.add_subplot(grid[0, :])
    x = np.arange(len(names))
    for offset, (label, values, colour) in zip(
        (-0.2, 0.2), (("2D labels", m2f, "#9e9e9e"), ("prediction", pred, "#1f78b4")), strict=True
    ):
        if values:
            heights = [100.0 * _or_zero(values.get(n)) for n in names]
            ax.bar(x + offset, heights, width=0.4, label=label, color=colour)
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    header, rows = table_rows(results)
    summary = "   ".join(f"{r[0]}: mIoU {r[1]}  PQ^scene {r[2]}" for r in rows)
    ax.set_title(f"per-class IoU ({results.get('protocol')})   {summary}", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    for row, (frame, panels) in enumerate(frames, start=1):
        for col, (title, image) in enumerate(panels.items()):
            sub = fig.add_subplot(grid[row, col])
            sub.imshow(image, interpolation="nearest")
            sub.set_title(f"{title} ({frame})", fontsize=8)
            sub.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def frames_by_error(shares: dict[str, float], count: int) -> list[str]:
    """``count`` frames spread evenly from the most wrong to the least wrong by ``shares`` (frame name ->
    share of its pixels wrong): the worst, the median and the best for 3 (ties in frame order)."""
    ranked = sorted(shares, key=lambda name: -shares[name])
    if count <= 0 or not ranked:
        return []
    picks = np.unique(np.linspace(0, len(ranked) - 1, count).round().astype(int))
    return [ranked[i] for i in picks]


def error_panel(rgb: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The frame in grey with the pixels of a wrong class in red (void ground truth darkened): (H, W, 3)
    uint8."""
    grey = rgb.astype(np.float32).mean(axis=2, keepdims=True) * 0.6 + 40.0
    panel = np.repeat(grey, 3, axis=2)
    panel[truth == 0] *= 0.3
    panel[(truth != 0) & (predicted != truth)] = (230.0, 30.0, 30.0)
    return panel.clip(0, 255).astype(np.uint8)


def depth_panel(truth: np.ndarray, rendered: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The rendered depth against the true one, (H, W, 3) uint8: green where they agree, shading to red
    where the rendering is nearer (fog, a sheet before the surface) and to blue where it is farther
    (see-through), full colour at :data:`~panolift.evaluate.metrics.DEPTH_OFF`; unknown true depth black.
    Also the shares of the known pixels rendered more than DEPTH_OFF nearer and farther."""
    ratio, known = depth_ratio(truth, rendered)
    off = np.clip(np.log(np.maximum(ratio, 1e-6)) / np.log(DEPTH_OFF), -1.0, 1.0)  # -1 nearer .. 1 farther
    panel = np.empty(known.shape + (3,), np.float32)
    panel[..., 0] = 60 + 190 * np.maximum(-off, 0)
    panel[..., 1] = 200 * (1 - np.abs(off)) + 40
    panel[..., 2] = 60 + 190 * np.maximum(off, 0)
    panel[~known] = 0
    count = max(int(known.sum()), 1)
    nearer = float((known & (ratio < 1 / DEPTH_OFF)).sum() / count)
    farther = float((known & (ratio > DEPTH_OFF)).sum() / count)
    return panel.clip(0, 255).astype(np.uint8), nearer, farther


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _or_zero(value) -> float:
    return float(value) if _finite(value) else 0.0
