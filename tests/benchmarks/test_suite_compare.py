"""benchmarks/suite_compare.py: variants side by side, the reference's spread between trainings beside them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from suite_compare import main  # noqa: E402
from suite_tables import write_csv  # noqa: E402


def _results(
    folder: Path,
    scenes: dict[str, tuple[float, float, float]],
    failed: str | None = None,
    seconds: dict[str, float] | None = None,
) -> Path:
    """A results.csv as suite.py writes it: scene key -> (mIoU, PQ^scene, PSNR), labels at 0.5 mIoU, and
    the training seconds of the scenes in ``seconds``."""
    rows = [
        dict(
            key=key,
            split="extra",
            descriptor="box",
            frames=60,
            status="ok",
            miou_2d=0.5,
            miou=m,
            pq=p,
            psnr=d,
            **({"train_seconds": seconds[key]} if seconds and key in seconds else {}),
        )
        for key, (m, p, d) in scenes.items()
    ]
    if failed:
        rows.append(dict(key=failed, split="extra", descriptor="box", frames=60, status="train failed (1)"))
    folder.mkdir(parents=True)
    write_csv(folder / "results.csv", rows)
    return folder


def test_means_ranges_and_changes_beyond_the_spread(tmp_path, capsys):
    a = _results(
        tmp_path / "base", {"61": (0.75, 0.68, 37.3), "45": (0.89, 0.83, 30.9), "9": (0.8, 0.8, 30.0)}
    )
    b = _results(tmp_path / "base-s1", {"61": (0.69, 0.63, 37.9), "45": (0.89, 0.83, 31.1)}, failed="9")
    v = _results(tmp_path / "variant", {"61": (0.70, 0.66, 37.0), "45": (0.93, 0.85, 31.0)})
    out = tmp_path / "compare.md"
    main([f"base={a},{b / 'results.csv'}", f"v={v}", "--out", str(out)])
    text = capsys.readouterr().out
    assert out.read_text() == text  # print and the file both end in one newline
    row61 = next(line for line in text.splitlines() if line.startswith("| 61 |"))
    assert "| 72.0 (69.0-75.0) / 65.5 (63.0-68.0) / 37.60 (37.30-37.90) |" in row61  # two base trainings
    assert row61.endswith("| 70.0 / 66.0 / 37.00 | -2.0 |")
    # 61 moves -2.0 within its base range (6.0); 45 +4.0 against a range of 0: one scene up, none down
    line = next(x for x in text.splitlines() if x.startswith("- `v` mIoU"))
    assert "median +1.00, worst -2.00, best +4.00" in line and "in 1 up, 0 down of 2" in line
    assert "| 9 |" not in text  # the variant did not run it
    assert text.rstrip().endswith("Left out (not run by every variant): 9")


def test_training_times_give_each_variant_its_speed_up(tmp_path, capsys):
    a = _results(tmp_path / "a", {"1": (0.8, 0.7, 30.0), "2": (0.8, 0.7, 30.0)}, seconds={"1": 300, "2": 330})
    b = _results(tmp_path / "b", {"1": (0.8, 0.7, 30.0), "2": (0.8, 0.7, 30.0)}, seconds={"1": 100})
    main([f"fast={a}", f"quick={b}"])
    text = capsys.readouterr().out
    assert "| speed-up quick |" in text.splitlines()[0]
    assert next(x for x in text.splitlines() if x.startswith("| 1 |")).endswith("| 3.00x |")
    assert next(x for x in text.splitlines() if x.startswith("| 2 |")).endswith("| - |")  # b did not time 2
    assert (
        "- `quick` training time: 3.00x faster than `fast` at the median (3.00-3.00x, 1 scenes timed)" in text
    )
    untimed = _results(tmp_path / "c", {"1": (0.8, 0.7, 30.0), "2": (0.8, 0.7, 30.0)})
    main([f"fast={a}", f"plain={untimed}"])  # a variant without training times: no column, no line
    text = capsys.readouterr().out
    assert "speed-up" not in text and "training time" not in text


def test_one_reference_training_says_there_is_no_range(tmp_path, capsys):
    a = _results(tmp_path / "a", {"1": (0.8, 0.7, 30.0)})
    b = _results(tmp_path / "b", {"1": (0.9, 0.7, 30.0)})
    main([f"a={a}", f"b={b}"])
    text = capsys.readouterr().out
    assert "one reference training per scene: no range" in text and "median +10.00" in text


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(SystemExit, match="expected NAME=RESULTS"):
        main([str(tmp_path)])
    with pytest.raises(SystemExit, match=r"nowhere: no such results file"):
        main([f"a={tmp_path / 'nowhere'}"])
