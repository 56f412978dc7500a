"""`panolift edit`, `panolift info` and rendering of an edited run, on the trained tiny scene."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from panolift.cli import main
from panolift.edit import EXTRA_ID_BASE
from panolift.runs import read_edit_list
from panolift.scene import SceneError
from panolift.scene.io import read_label


def instance_ids(output: str) -> dict[int, str]:
    """id -> class from the instance table of `panolift info`."""
    rows = {}
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("3D instances"))
    for line in lines[start + 2 :]:
        parts = line.split()
        if parts and parts[0].isdigit():
            rows[int(parts[0])] = parts[1]
    return rows


def test_edit_info_render_and_compose(either_run, tmp_path, capsys):
    main(["info", str(either_run)])
    out = capsys.readouterr().out
    before = instance_ids(out)
    assert before, "no 3D instance listed for the tiny run"
    embedding = json.loads((either_run / "run.json").read_text())["config"]["field"]["instance_embedding"]
    assert (" cluster " in out) == bool(embedding)  # the column says what the instance index is
    k = min(before)
    copied = tmp_path / "copied"
    main(["edit", str(either_run), "--duplicate", str(k), "--to", "0 0 0.3 90", "--out", str(copied)])
    assert "1. duplicate" in capsys.readouterr().out
    edits = read_edit_list(copied)
    assert edits.region.density_threshold > 0 and edits.edits[0].yaw_degrees == 90
    assert json.loads((copied / "run.json").read_text())["edited_from"] == str(either_run.resolve())
    assert not (copied / "checkpoints").exists()  # the edited run is small: no checkpoint copy
    main(["info", str(copied)])
    with_copy = instance_ids(capsys.readouterr().out)
    new_ids = set(with_copy) - set(before)
    slot_ids = [i for i in before if i < EXTRA_ID_BASE]  # ids from 32768 up: further pieces of a slot
    assert len(new_ids) == 1 and max(slot_ids) < min(new_ids) < EXTRA_ID_BASE and k in with_copy

    # editing an edited run appends to its list and keeps the original source
    deleted = tmp_path / "deleted"
    main(["edit", str(copied), "--delete", str(k), "--out", str(deleted)])
    edits = read_edit_list(deleted)
    assert [e.op for e in edits.edits] == ["duplicate", "delete"]
    assert (deleted / edits.source_run).resolve() == either_run.resolve()
    main(["info", str(deleted)])
    after = instance_ids(capsys.readouterr().out)
    assert k not in after and new_ids <= set(after)  # the copy survives the deletion of its original

    from panolift.runs import render_run

    out = render_run(deleted, split="test")
    frames = sorted(p.stem for p in (out / "instance").glob("*.png"))
    assert frames and frames == sorted(p.stem for p in (out / "before_after").glob("*.png"))
    for name in frames:
        ids = read_label(out / "instance" / f"{name}.png")
        assert not (ids == k).any()
        strip = np.asarray(Image.open(out / "before_after" / f"{name}.png"))
        assert strip.shape[0] == 2 * ids.shape[0] + 4 and strip.shape[1] == 2 * ids.shape[1] + 4


def test_edit_errors_name_the_problem(tiny_run, tmp_path, capsys):
    from panolift.commands.edit import edit

    with pytest.raises(SceneError, match="exactly one"):
        edit(tiny_run, out=tmp_path / "x")
    with pytest.raises(SceneError, match="needs --to"):
        edit(tiny_run, out=tmp_path / "x", duplicate=1)
    with pytest.raises(SceneError, match="another folder"):
        edit(tiny_run, out=tiny_run, delete=1)
    with pytest.raises(SceneError, match="no 3D instance 999"):
        edit(tiny_run, out=tmp_path / "y", delete=999)
    assert not (tmp_path / "y").exists()  # checked before anything is written
    with pytest.raises(SystemExit):  # the CLI turns it into a clean exit with the message
        main(["edit", str(tiny_run), "--move", "1", "--to", "1 2", "--out", str(tmp_path / "z")])
    assert "tx ty tz" in capsys.readouterr().err
