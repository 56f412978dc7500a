"""Tables of benchmarks/suite.py: per scene, per class, and a summary with the issue's pass/fail lines.

Rows are dicts made by suite.py: key, split, descriptor, frames, status, train_seconds and, for scenes that
ran, miou_2d, miou, pq_2d, pq (PQ^scene), pq_things_2d, pq_things (PQ^scene of thing classes),
things_found_2d, things_found, things_found_ceiling, things_told_apart, things_true (3D thing instances
matched at IoU > 0.5 and present; the ceiling's: those that the vote ceiling finds, the rest being
outvoted or unseen; told apart: those the training views' 2D masks tell from every other thing by the
majority of the views, :func:`panolift.evaluate.ceiling.told_apart`),
things_merged, things_split, things_wrong_class, things_lost (why lifting missed the others), psnr, psnr_aligned
(after each test frame's best per-channel gain: the exposure rooms' test frames have their own), depth_error (m), depth_ratio (median rendered / true
depth), depth_short (share of pixels rendered < 0.8 x true depth), class_names, class_iou_2d, class_iou
({name: IoU or None}), the confusion matrices confusion_labels, confusion_lifted (true x predicted), and
the vote ceiling (:mod:`panolift.evaluate.ceiling`) miou_ceiling, pq_ceiling, outvoted (objects whose
training views vote for a wrong class; absent from rows made before stop 23), and the view coverage
(:mod:`panolift.evaluate.coverage`) seen_share (share of the test frames' labelled pixels that at least two
training views see), unseen_share (`panolift render`'s guard: the share of the test pixels that show
what no training view labelled; None where not written), miou_seen_2d, miou_seen (mIoU on those pixels) and class_seen (those pixels per true
class), class_wrong_depth (per true class, the pixels lifting gets wrong where its depth is off too), and
miou_interior_2d, miou_interior (mIoU off the true class boundaries) and boundary_error_share (the share
of lifting's wrong pixels on them; :func:`panolift.evaluate.protocols.boundary_breakdown`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from panolift.commands.evaluate import EXPOSURE_HINT_DB
from panolift.evaluate.protocols import MISSED_CAUSES

# the issue's bars (points of mIoU, PQ^scene, dB)
MIN_GAIN, MIN_MEDIAN_GAIN, MIN_PQ, MIN_PSNR = 10.0, 20.0, 0.6, 26.0
# issue 13's bars on the clutter scenes: share of true things found, thing PQ^scene
MIN_FOUND, MIN_PQ_THINGS = 0.8, 0.5


def ran(row: dict) -> bool:
    return row.get("status") == "ok" and "miou" in row


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _psnr(row: dict) -> str:
    """PSNR, and after each test frame's best gain where that is at least 1 dB more (a camera that sets
    its own exposure per frame: the exposure rooms)."""
    plain, aligned = row["psnr"], row.get("psnr_aligned")
    text = _f(plain, ".2f")
    if (
        aligned is not None
        and not math.isnan(aligned)
        and not math.isnan(plain)
        and aligned - plain >= EXPOSURE_HINT_DB
    ):
        text += f" ({aligned:.2f} gain-aligned)"
    return text


def _counts(row: dict, keys) -> str:
    """The counts at ``keys`` joined by ' / ' ('-' where not scored)."""
    return " / ".join("-" if row.get(k) is None else str(row.get(k)) for k in keys)


def _things(row: dict) -> str:
    """'2D / lifted / vote ceiling / told apart / true' counts of 3D thing instances found on the test views
    (told apart: by the training views' 2D masks)."""
    keys = ("things_found_2d", "things_found", "things_found_ceiling", "things_told_apart", "things_true")
    return _counts(row, keys)


def _missed(row: dict) -> str:
    """'merged / split / class / lost': why the true things lifting misses are missed."""
    return _counts(row, MISSED_CAUSES)


def _ceiling(row: dict) -> str:
    """'mIoU / PQ^scene' of the vote ceiling ('-' where not scored)."""
    values = [row.get("miou_ceiling"), row.get("pq_ceiling")]
    return " / ".join(_f(None if v is None else 100 * v, ".1f") for v in values)


def _seen(row: dict) -> str:
    """'% seen · 2D / lifted (Δ)': the share of the test pixels that at least two training views see, and
    the mIoU of the 2D labels and of lifting on those pixels ('-' where not scored)."""
    if row.get("seen_share") is None:
        return "-"
    a, b = 100 * row["miou_seen_2d"], 100 * row["miou_seen"]
    return f"{100 * row['seen_share']:.0f} · {_f(a, '.1f')} / {_f(b, '.1f')} ({_f(b - a, '+.1f')})"


def _unseen(row: dict) -> str:
    """`panolift render`'s share of the test pixels that show what no training view labelled (its warning
    above 5%; needs no ground truth), '-' where the run has no label votes or was rendered before stop 73."""
    share = row.get("unseen_share")
    return "-" if share is None else _f(100 * share, ".1f")


def scene_table(rows: list[dict], header: bool = True) -> list[str]:
    """Markdown table: one line per scene (2D labels vs lifted, PSNR, depth, training time)."""
    out = []
    if header:
        out += [
            "| seed | split | scene | frames | 2D mIoU | mIoU | Δ | 2D PQs | PQs | Δ | vote ceiling mIoU / PQs "
            "| seen by ≥ 2 training views: % of test px · mIoU 2D / lifted (Δ) "
            "| unseen % (render's guard) "
            "| 2D PQs th | PQs th "
            "| things found 2D / lifted / ceiling / told apart / true | missed merged / split / class / lost | PSNR | depth err m | depth ratio | short % | train s | status |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        if ran(r):
            cells = [
                _f(100 * r["miou_2d"], ".1f"), _f(100 * r["miou"], ".1f"),
                _f(100 * (r["miou"] - r["miou_2d"]), "+.1f"), _f(100 * r["pq_2d"], ".1f"),
                _f(100 * r["pq"], ".1f"), _f(100 * (r["pq"] - r["pq_2d"]), "+.1f"), _ceiling(r), _seen(r), _unseen(r),
                _f(100 * r.get("pq_things_2d", float("nan")), ".1f"), _f(100 * r.get("pq_things", float("nan")), ".1f"),
                _things(r), _missed(r), _psnr(r),
                _f(r["depth_error"], ".2f"), _f(r["depth_ratio"], ".2f"), _f(100 * r["depth_short"], ".0f"),
            ]  # fmt: skip
        else:
            cells = ["-"] * 17
        line = [
            r["key"],
            r["split"],
            r["descriptor"],
            str(r["frames"]),
            *cells,
            _f(r["train_seconds"], ".0f"),
        ]
        out.append("| " + " | ".join([*line, r["status"]]) + " |")
    return out


def class_table(rows: list[dict]) -> list[str]:
    """Markdown table per class over the scenes that ran: mean IoU over the scenes whose test frames show
    the class (2D labels vs lifted), and the share of its pixels labelled wall and what lifting mostly calls
    it when not itself (pooled over scenes). Sorted by the lifted change, worst first."""
    done = [r for r in rows if ran(r)]
    if not done:
        return ["(no scene ran)"]
    names = done[0]["class_names"]
    wall = names.index("wall") if "wall" in names else None
    labels = sum(r["confusion_labels"] for r in done)
    lifted = sum(r["confusion_lifted"] for r in done)
    with_seen = [r for r in done if r.get("class_seen") is not None]
    seen = sum(r["class_seen"] for r in with_seen) if with_seen else None
    seen_total = sum(r["confusion_labels"].sum(axis=1) for r in with_seen) if with_seen else None
    with_depth = [r for r in done if r.get("class_wrong_depth") is not None]
    wrong_depth = sum(r["class_wrong_depth"] for r in with_depth) if with_depth else None
    wrong_total = sum(r["confusion_lifted"].sum(axis=1) - np.diag(r["confusion_lifted"]) for r in with_depth)
    lines = []
    for k, name in enumerate(names):
        ious = [(r["class_iou_2d"].get(name), r["class_iou"].get(name)) for r in done]
        ious = [(a, b) for a, b in ious if a is not None and b is not None]
        total = lifted[k].sum()
        if k == 0 or not ious or total == 0:
            continue
        a, b = float(np.mean([p[0] for p in ious])), float(np.mean([p[1] for p in ious]))
        others = lifted[k].copy()
        others[k] = 0
        others[0] = 0
        mostly = names[int(np.argmax(others))] if others.sum() > 0 else "-"
        to_wall_2d = (
            100 * labels[k, wall] / max(labels[k].sum(), 1) if wall is not None and k != wall else 0.0
        )
        to_wall = 100 * lifted[k, wall] / total if wall is not None and k != wall else 0.0
        seen_share = "-" if seen is None or seen_total[k] == 0 else f"{100 * seen[k] / seen_total[k]:.0f}"
        off = (
            "-"
            if wrong_depth is None or wrong_total[k] == 0
            else f"{100 * wrong_depth[k] / wrong_total[k]:.0f}"
        )
        lines.append((b - a, f"| {name} | {len(ious)} | {100 * a:.1f} | {100 * b:.1f} | {100 * (b - a):+.1f} "
                      f"| {to_wall_2d:.1f} | {to_wall:.1f} | {mostly} ({100 * others.max() / total:.0f}%) "
                      f"| {seen_share} | {off} |"))  # fmt: skip
    head = [
        "| class | scenes | 2D IoU | lifted IoU | Δ | 2D → wall % | lifted → wall % | lifted mostly confused with "
        "| seen by ≥ 2 training views % | lifted wrong with depth off % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    return head + [text for _, text in sorted(lines, key=lambda t: t[0])]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _median_worst(label: str, values) -> str:
    """A summary row: the median and the worst (lowest) of ``values``, signed, one decimal."""
    return f"| {label} | {np.median(values):+.1f} | {np.min(values):+.1f} |"


def summary_lines(split: str, rows: list[dict]) -> list[str]:
    """Median and worst changes, PSNR and depth for one group of scenes, and the issue's pass/fail lines
    (scenes that failed to run count as failing every line)."""
    done = [r for r in rows if ran(r)]
    failed = len(rows) - len(done)
    title = f"**{split}**: {len(rows)} scenes" + (f", {failed} failed to run" if failed else "")
    if not done:
        return [title]
    gain = np.array([100 * (r["miou"] - r["miou_2d"]) for r in done])
    pq_gain = np.array([100 * (r["pq"] - r["pq_2d"]) for r in done])
    pq = np.array([r["pq"] for r in done])
    psnr = np.array([r["psnr"] for r in done])
    below = int((gain < MIN_GAIN).sum()) + failed
    with_ceiling = [r for r in done if r.get("miou_ceiling") is not None]
    ceiling_lines = []
    if with_ceiling:
        to_ceiling = [100 * (r["miou"] - r["miou_ceiling"]) for r in with_ceiling]
        ceiling_lines.append(
            _median_worst(f"mIoU - vote ceiling (points, {len(with_ceiling)} scenes)", to_ceiling)
        )
    out_of_reach = [
        f"{r['key']} (ceiling {100 * (r['miou_ceiling'] - r['miou_2d']):+.1f}: {', '.join(r.get('outvoted') or [])})"
        for r in with_ceiling
        if 100 * (r["miou_ceiling"] - r["miou_2d"]) < MIN_GAIN
    ]
    reach_line = (
        [f"- note: the vote ceiling itself is below 2D + {MIN_GAIN:.0f} in " + "; ".join(out_of_reach)]
        if out_of_reach
        else []
    )
    with_seen = [r for r in done if r.get("miou_seen") is not None]
    seen_lines, seen_note = [], []
    if with_seen:
        seen_gain = [100 * (r["miou_seen"] - r["miou_seen_2d"]) for r in with_seen]
        seen_lines.append(
            _median_worst(
                f"Δ mIoU on test px ≥ 2 training views see (points, {len(with_seen)} scenes)", seen_gain
            )
        )
        unseen = [
            f"{r['key']} ({100 * (r['miou'] - r['miou_2d']):+.1f} on all, "
            f"{100 * (r['miou_seen'] - r['miou_seen_2d']):+.1f} on the {100 * r['seen_share']:.0f}% seen)"
            for r in with_seen
            if 100 * (r["miou"] - r["miou_2d"]) < MIN_GAIN <= 100 * (r["miou_seen"] - r["miou_seen_2d"])
        ]
        if unseen:
            seen_note.append(
                f"- note: below 2D + {MIN_GAIN:.0f} on all pixels but not on those ≥ 2 training views see "
                "(test views look where training views did not): " + "; ".join(unseen)
            )
    clutter_lines = clutter_bar_lines([r for r in rows if str(r["key"]).startswith("clutter")])
    return [
        title,
        "",
        "| | median | worst |",
        "|---|---|---|",
        _median_worst("Δ mIoU (points)", gain),
        _median_worst("Δ PQ^scene (points)", pq_gain),
        f"| PQ^scene | {100 * np.median(pq):.1f} | {100 * pq.min():.1f} |",
        f"| PSNR (dB) | {np.median(psnr):.2f} | {psnr.min():.2f} |",
        f"| depth error (m, mean over scenes {np.mean([r['depth_error'] for r in done]):.2f}) "
        f"| {np.median([r['depth_error'] for r in done]):.2f} | {max(r['depth_error'] for r in done):.2f} |",
        f"| rendered / true depth | {np.median([r['depth_ratio'] for r in done]):.2f} "
        f"| {min(r['depth_ratio'] for r in done):.2f} |",
        *ceiling_lines,
        *seen_lines,
        "",
        f"- {_verdict(below == 0)}: every scene lifted mIoU >= 2D + {MIN_GAIN:.0f} points "
        f"({below} of {len(rows)} below)",
        f"- {_verdict(not failed and np.median(gain) >= MIN_MEDIAN_GAIN)}: median Δ mIoU >= "
        f"+{MIN_MEDIAN_GAIN:.0f} points ({np.median(gain):+.1f})",
        f"- {_verdict(not failed and bool(np.all(pq >= MIN_PQ)))}: every scene PQ^scene >= {MIN_PQ} "
        f"({int((pq < MIN_PQ).sum()) + failed} of {len(rows)} below)",
        f"- {_verdict(not failed and bool(np.all(psnr >= MIN_PSNR)))}: every scene PSNR >= {MIN_PSNR:.0f} dB "
        f"({int((psnr < MIN_PSNR).sum()) + failed} of {len(rows)} below)",
        *reach_line,
        *seen_note,
        *clutter_lines,
    ]


def clutter_bar_lines(rows: list[dict]) -> list[str]:
    """Issue 13's pass/fail lines over the clutter scenes (none without clutter scenes; a scene that did
    not run, or was scored before the thing counts existed, fails them)."""
    if not rows:
        return []
    found = [r["things_found"] / r["things_true"] if ran(r) and r.get("things_true") else 0.0 for r in rows]
    ceiling = [
        r["things_found_ceiling"] / r["things_true"]
        for r in rows
        if ran(r) and r.get("things_true") and r.get("things_found_ceiling") is not None
    ]
    apart = [
        r["things_told_apart"] / r["things_true"]
        for r in rows
        if ran(r) and r.get("things_true") and r.get("things_told_apart") is not None
    ]
    pq_things = [r.get("pq_things", float("nan")) if ran(r) else float("nan") for r in rows]
    pq_things = [0.0 if v is None or math.isnan(v) else v for v in pq_things]
    return [
        f"- {_verdict(min(found) >= MIN_FOUND)}: clutter scenes find >= {100 * MIN_FOUND:.0f}% of their true "
        f"things (worst {100 * min(found):.0f}%, {len(rows)} scene{'s' if len(rows) > 1 else ''}"
        + (f"; the vote ceiling's worst {100 * min(ceiling):.0f}%" if ceiling else "")
        + (f"; the 2D masks tell apart {100 * min(apart):.0f}% at worst" if apart else "")
        + ")",
        f"- {_verdict(min(pq_things) >= MIN_PQ_THINGS)}: clutter scenes thing PQ^scene >= {MIN_PQ_THINGS} "
        f"(worst {min(pq_things):.2f})",
    ]


CSV_FIELDS = (
    "key", "split", "descriptor", "frames", "size", "status", "miou_2d", "miou", "pq_2d", "pq", "miou_ceiling", "pq_ceiling", "pq_things_2d",
    "pq_things", "things_found_2d", "things_found", "things_found_ceiling", "things_told_apart", "things_true", *MISSED_CAUSES, "seen_share", "unseen_share", "miou_seen_2d", "miou_seen", "miou_interior_2d", "miou_interior", "boundary_error_share", "psnr", "psnr_aligned", "depth_error", "depth_ratio", "depth_short", "train_seconds", "checks",
)  # fmt: skip


def write_csv(path: Path, rows: list[dict]) -> None:
    """One line per scene with the CSV_FIELDS (empty where a scene did not run)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in CSV_FIELDS})
