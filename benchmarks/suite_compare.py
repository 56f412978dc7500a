"""Compare variants across suite runs, with the spread between trainings of one variant beside the change.

    .venv/bin/python benchmarks/suite_compare.py base=RUNS/fast,RUNS/fast-s1 near=RUNS/near02 [--out FILE]

Each argument names a variant and lists its results (a `results.csv` written by `benchmarks/suite.py`, or
a folder holding one), comma separated: several results of one variant are several trainings of it (other
`--train.seed`s, other runs), and a scene's cell gives their mean and range. The first variant is the
reference. One training of a hard room can move by several points of mIoU with nothing changed (SUITE.md,
twenty-eighth round: fresh seed 61 at 68.5-75.2), so a change is only worth its name where it is larger
than the reference's own range; the summary counts the scenes where it is (with one reference training
there is no range, and the summary says so). Where the results carry training times, each variant's
speed-up over the reference (the reference's mean training seconds over the variant's, per scene) is a
column too, and the summary gives its median: time and quality side by side, as issue 16 asks.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

METRICS = (("miou", "mIoU"), ("pq", "PQ^scene"), ("psnr", "PSNR"))


def read_results(path: Path) -> dict[str, dict]:
    """Scene key -> row (metrics as floats; mIoU and PQ^scene in points) of one suite results.csv; scenes
    that did not run are left out."""
    file = path / "results.csv" if path.is_dir() else path
    if not file.exists():
        raise SystemExit(f"suite_compare: {file}: no such results file (run benchmarks/suite.py first)")
    rows = {}
    with open(file, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") != "ok":
                continue
            try:
                values = {key: float(row[key]) for key, _ in METRICS}
                values["miou_2d"] = float(row["miou_2d"])
            except (KeyError, ValueError) as exc:
                raise SystemExit(
                    f"suite_compare: {file}: scene {row.get('key')!r}: bad or missing {exc}"
                ) from None
            for key in ("miou", "pq", "miou_2d"):
                values[key] *= 100.0
            if row.get("train_seconds"):  # empty where a scene was scored without being trained here
                values["train_seconds"] = float(row["train_seconds"])
            rows[row["key"]] = values
    return rows


def parse_variant(text: str) -> tuple[str, list[Path]]:
    """'name=path,path' -> (name, paths)."""
    name, sep, paths = text.partition("=")
    if not sep or not name or not paths:
        raise SystemExit(f"suite_compare: {text!r}: expected NAME=RESULTS[,RESULTS...]")
    return name, [Path(p) for p in paths.split(",") if p]


def gather(variants: list[tuple[str, list[Path]]]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """variant -> scene -> metric -> the values of its trainings (in the order given)."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name, paths in variants:
        scenes: dict[str, dict[str, list[float]]] = {}
        for path in paths:
            for key, values in read_results(path).items():
                cell = scenes.setdefault(key, {})
                for metric, value in values.items():
                    cell.setdefault(metric, []).append(value)
        out[name] = scenes
    return out


def _cell(values: list[float], fmt: str) -> str:
    """'mean' for one training, 'mean (min-max)' for several."""
    mean = float(np.mean(values))
    if len(values) == 1:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def _speedup(reference: dict[str, list[float]], variant: dict[str, list[float]]) -> float | None:
    """The reference's mean training seconds over the variant's (None where either was not timed)."""
    if not reference.get("train_seconds") or not variant.get("train_seconds"):
        return None
    return float(np.mean(reference["train_seconds"]) / np.mean(variant["train_seconds"]))


def compare_lines(data: dict[str, dict[str, dict[str, list[float]]]]) -> list[str]:
    """Markdown: a table per scene (every variant's mean and range, the change of its mean against the
    reference's) and a summary per variant."""
    names = list(data)
    reference = data[names[0]]
    scenes = [k for k in reference if all(k in data[n] for n in names)]
    missing = sorted({k for n in names for k in data[n]} - set(scenes))
    head = ["scene", "2D mIoU"] + [f"{n}: mIoU / PQ^scene / PSNR" for n in names]
    head += [f"Δ mIoU {n}" for n in names[1:]]
    speedups = {n: {k: _speedup(reference[k], data[n][k]) for k in scenes} for n in names[1:]}
    timed = [n for n in names[1:] if any(x is not None for x in speedups[n].values())]
    head += [f"speed-up {n}" for n in timed]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in scenes:
        cells = [key, f"{np.mean(reference[key]['miou_2d']):.1f}"]
        for n in names:
            m = data[n][key]
            cells.append(" / ".join(_cell(m[k], ".2f" if k == "psnr" else ".1f") for k, _ in METRICS))
        for n in names[1:]:
            cells.append(f"{np.mean(data[n][key]['miou']) - np.mean(reference[key]['miou']):+.1f}")
        for n in timed:
            speedup = speedups[n][key]
            cells.append("-" if speedup is None else f"{speedup:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"**Summary** against `{names[0]}` over the {len(scenes)} scenes every variant ran", ""]
    for n in names[1:]:
        for metric, label in METRICS:
            change = [np.mean(data[n][k][metric]) - np.mean(reference[k][metric]) for k in scenes]
            spread = [np.ptp(reference[k][metric]) for k in scenes]
            with_range = [
                (c, s)
                for c, s, k in zip(change, spread, scenes, strict=True)
                if len(reference[k][metric]) > 1
            ]
            text = (
                f"- `{n}` {label}: median {np.median(change):+.2f}, worst {min(change):+.2f}, best {max(change):+.2f}"
                if change
                else f"- `{n}` {label}: no scene in common"
            )
            if with_range:
                up = sum(c > s for c, s in with_range)
                down = sum(c < -s for c, s in with_range)
                text += (
                    f"; beyond the reference's range between its trainings in {up} up, {down} down of "
                    f"{len(with_range)}"
                )
            elif change:
                text += "; one reference training per scene: no range to judge the change against"
            lines.append(text)
        times = [x for x in speedups[n].values() if x is not None]
        if times:
            lines.append(
                f"- `{n}` training time: {np.median(times):.2f}x faster than `{names[0]}` at the median "
                f"({min(times):.2f}-{max(times):.2f}x, {len(times)} scenes timed)"
            )
    if missing:
        lines += ["", "Left out (not run by every variant): " + ", ".join(missing)]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="+", help="NAME=RESULTS[,RESULTS...]; the first is the reference")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    args = parser.parse_args(argv)
    data = gather([parse_variant(v) for v in args.variants])
    text = "\n".join(compare_lines(data))
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
