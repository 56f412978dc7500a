"""The table of a batch: one row per scene (status, frames, steps, times, metrics) and the mean of the
lifted scenes, as CSV and Markdown (RUNS/batch.csv, RUNS/batch.md)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from panolift.scene.io import atomic_path

COLUMNS = [
    ("scene", "name", None),
    ("status", "status", None),
    ("frames", "train_frames", None),
    ("steps", "step", None),
    ("attempts", "attempt", None),
    ("train s", ("times", "train"), 1),
    ("render s", ("times", "render"), 1),
    ("eval s", ("times", "eval"), 1),
    ("2D mIoU", ("metrics", "labels_miou"), 1),
    ("2D PQ^scene", ("metrics", "labels_pq_scene"), 1),
    ("PSNR", ("metrics", "psnr"), 2),
    ("mIoU", ("metrics", "miou"), 1),
    ("PQ^scene", ("metrics", "pq_scene"), 1),
]
"""(header, key or (section, key), decimals or None for text)."""
LIFTED = ("done", "skipped")


def _value(result: dict, key):
    if isinstance(key, tuple):
        return (result.get(key[0]) or {}).get(key[1])
    return result.get(key)


def _cell(value, decimals) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{decimals}f}" if decimals is not None else str(value)


def table_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings): one per scene, then "mean" over the lifted scenes' numeric columns."""
    header = [h for h, _, _ in COLUMNS]
    rows = [[_cell(_value(r, key), d) for _, key, d in COLUMNS] for r in results]
    lifted = [r for r in results if r.get("status") in LIFTED]
    mean = ["mean", f"{len(lifted)}/{len(results)} lifted"]
    for _, key, decimals in COLUMNS[2:]:
        values = [v for r in lifted if isinstance(v := _value(r, key), int | float) and math.isfinite(v)]
        mean.append(_cell(sum(values) / len(values), decimals or 0) if values else "-")
    return header, rows + [mean]


def format_markdown(results: list[dict]) -> str:
    header, rows = table_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    failed = [r for r in results if r.get("status") == "failed"]
    lines += [""] + [f"- {r['name']}: {r.get('error', 'failed')}" for r in failed] if failed else []
    return "\n".join(lines) + "\n"


def format_csv(results: list[dict]) -> str:
    header, rows = table_rows(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*header, "error"])
    for result, row in zip(results, rows, strict=False):
        writer.writerow([*row, result.get("error", "")])
    writer.writerow([*rows[-1], ""])
    return buffer.getvalue()


def write_tables(out: Path, results: list[dict]) -> tuple[Path, Path]:
    """RUNS/batch.csv and RUNS/batch.md (written atomically); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "batch.csv", out / "batch.md")
    for path, text in zip(paths, (format_csv(results), format_markdown(results)), strict=True):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return paths


__all__ = ["COLUMNS", "format_csv", "format_markdown", "table_rows", "write_tables"]
