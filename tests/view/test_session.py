"""The viewer's actions through the edit machinery: pending edits, hiding, undo, and the round trip to an
edited-run folder that `load_run` reads (and that `panolift edit` would have written)."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.edit import Edit
from panolift.errors import PanoliftError
from panolift.runs import create_edited_run, load_run, read_edit_list, source_run_dir
from panolift.view import ViewerSession, intrinsics_from_fov, render_view


def render_ids(session_or_loaded, field) -> np.ndarray:
    camera = session_or_loaded.cameras()[0] if hasattr(session_or_loaded, "cameras") else None
    K = intrinsics_from_fov(1.0, 32, 24)
    c2w = camera.c2w
    return render_view(field, K, c2w, 32, 24, session_or_loaded.normalization, session_or_loaded.thing_mask)


def test_instances_are_listed_with_their_colours(session):
    rows = session.instances()
    assert rows, "the tiny run has 3D instances"
    for row in rows:
        assert row.id > 0 and session.class_set.names[row.class_id] == row.class_name
        assert len(row.color) == 3 and np.all(row.extent >= 0)
        assert row.class_name in row.label() and f"#{row.id}" in row.label()
    assert session.select(rows[0].id) == rows[0] and session.selected == rows[0].id
    assert session.select(99999) is None and session.selected is None


def test_delete_save_and_load_round_trip(session, tmp_path):
    target = session.instances()[0].id
    before = session.version
    session.apply(Edit("delete", target))
    assert session.version > before and [e.op for e in session.pending] == ["delete"]
    assert target not in {r.id for r in session.instances()}
    camera = session.cameras()[0]
    K = intrinsics_from_fov(1.0, 32, 24)
    shown = render_view(session.field, K, camera.c2w, 32, 24, session.normalization, session.thing_mask)
    assert not (shown.ids == target).any()

    out = session.save(tmp_path / "edited")
    assert out == tmp_path / "edited" and session.run_dir == out and session.pending == []
    edits = read_edit_list(out)
    assert [(e.op, e.instance) for e in edits.edits] == [("delete", target)]
    assert source_run_dir(out, edits) == session.base.run_dir.resolve()
    loaded = load_run(out)
    again = render_view(loaded.field, K, camera.c2w, 32, 24, loaded.normalization, loaded.thing_mask)
    np.testing.assert_allclose(again.rgb, shown.rgb, atol=1e-5)
    np.testing.assert_array_equal(again.ids, shown.ids)

    # what `panolift edit --delete` writes for the same edit renders the same
    cli = create_edited_run(session.base.run_dir, tmp_path / "cli", [Edit("delete", target)])
    by_cli = render_view(cli.field, K, camera.c2w, 32, 24, cli.normalization, cli.thing_mask)
    np.testing.assert_allclose(by_cli.rgb, shown.rgb, atol=1e-5)


def test_an_edited_run_opens_and_its_edits_append(tiny_run, tmp_path):
    session = ViewerSession.open(tiny_run)
    rows = session.instances()
    session.apply(Edit("delete", rows[0].id))
    first = session.save(tmp_path / "one")
    reopened = ViewerSession.open(first)
    assert reopened.run_dir == first and [e.op for e in reopened.edit_list.edits] == ["delete"]
    assert rows[0].id not in {r.id for r in reopened.instances()}
    reopened.apply(Edit("duplicate", rows[-1].id, (0.3, 0.0, 0.0), 0.0))
    hidden_target = rows[-1].id
    reopened.set_hidden(hidden_target, True)
    assert hidden_target in reopened.hidden
    second = reopened.save(tmp_path / "two")
    edits = read_edit_list(second).edits
    assert [(e.op, e.instance) for e in edits] == [("delete", rows[0].id), ("duplicate", rows[-1].id)]
    assert edits[1].translation == (0.3, 0.0, 0.0)  # hiding is never saved
    assert source_run_dir(second, read_edit_list(second)) == source_run_dir(first, read_edit_list(first))
    load_run(second)


def test_undo_hide_and_errors(session):
    rows = session.instances()
    version = session.version
    session.set_hidden(rows[0].id, True)
    assert session.version == version + 1 and rows[0].id in {r.id for r in session.instances()}
    session.set_hidden(rows[0].id, False)
    assert session.hidden == set()
    with pytest.raises(PanoliftError, match="no 3D instance 4242"):
        session.apply(Edit("delete", 4242))
    assert session.pending == []  # a failed edit changes nothing
    session.apply(Edit("move", rows[0].id, (0.1, 0.0, 0.0)))
    assert session.undo().op == "move" and session.pending == [] and session.undo() is None
    with pytest.raises(PanoliftError, match="nothing to save"):
        session.save("/nonexistent/never")


def test_a_read_only_session_refuses_edits(tiny_run):
    session = ViewerSession.open(tiny_run)
    session.editable = False
    with pytest.raises(PanoliftError, match="read-only"):
        session.apply(Edit("delete", 1))
