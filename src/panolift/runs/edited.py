"""Edited runs: a small folder that references a trained run and lists edits, loaded like any run.

    EDITED/edits.json   the edit list (:mod:`panolift.edit.edits`), ``source_run`` relative to EDITED
    EDITED/run.json     a copy of the source run's run.json plus ``"edited_from"``

No checkpoint is copied: loading an edited run loads the source run's latest checkpoint and wraps its
field with the edits. Editing an edited run appends to its list and keeps the original source.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from panolift.edit import EDITS_FILE, Edit, EditList, apply_edits, estimate_up_axis
from panolift.edit.edits import REGION_RANGES
from panolift.errors import OptionError
from panolift.scene import SceneError

from .checkpoints import checkpoint_files
from .folder import RUN_FILE, is_edited_run, read_edit_list, read_run_info, write_edit_list, write_run_info
from .loaded import LoadedRun, load_trained_run
from .regions import resolve_region_settings, visibility_rays_of_run

log = logging.getLogger(__name__)


RUN_FIELDS = ("config", "class_set", "normalization", "image_size", "scene_fingerprint")


def shorten(path: Path, limit: int = 200) -> str:
    """A path for a message: a very long one cut in the middle."""
    text = str(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-20:]} ({len(text)} characters)"


def source_run_dir(run_dir: str | Path, edit_list: EditList) -> Path:
    """The trained run an edit list refers to (``source_run`` is relative to the edited run's folder),
    checked: a trained run (not an edited one, not this one), trained as it was when the edits were made
    (the edited run's run.json is a copy of the source's: a source retrained since then differs)."""
    run_dir = Path(run_dir)
    edits_file = run_dir / EDITS_FILE
    source = Path(edit_list.source_run)
    source = source if source.is_absolute() else run_dir / source
    try:
        has_run_file = os.path.lexists(source / RUN_FILE)
        same = source.resolve() == run_dir.resolve()
    except (OSError, RuntimeError) as exc:  # a name too long, a loop of links
        raise SceneError(f"{edits_file}: source run {shorten(source)}: {exc}") from None
    if same:
        raise SceneError(
            f"{edits_file}: source_run points back at this edited run ({edit_list.source_run!r})"
        )
    if not has_run_file:
        state = "has no run.json" if os.path.isdir(source) else "is missing"
        raise SceneError(f"{edits_file}: source run {shorten(source)} {state}")
    if is_edited_run(source):
        raise SceneError(f"{edits_file}: source run {source} is itself an edited run")
    if os.path.lexists(run_dir / RUN_FILE):
        check_source_unchanged(run_dir, source.resolve())
    return source.resolve()


def check_source_unchanged(run_dir: Path, source: Path) -> None:
    """The edited run's copy of run.json against the source's own: edits name instance ids of the field
    they were made on, so a source retrained with another configuration or scene is refused."""
    own, theirs = read_run_info(run_dir).to_dict(), read_run_info(source).to_dict()
    changed = [k for k in RUN_FIELDS if own.get(k) != theirs.get(k)]
    if changed:
        raise SceneError(
            f"{run_dir / RUN_FILE}: the source run {source} was retrained since these edits were made (its "
            f"run.json differs in {', '.join(changed)}); its instance ids may not be the edited ones: edit it "
            "anew"
        )


def wrap_with_edits(loaded: LoadedRun, edit_list: EditList, device=None) -> torch.nn.Module:
    """The loaded (trained) run's field wrapped by ``edit_list``."""
    rays = visibility_rays_of_run(loaded, edit_list.region, device)
    field = apply_edits(
        loaded.field, edit_list, loaded.thing_mask, loaded.normalization.scale, device=device, rays=rays,
        world_rotation=loaded.normalization.rotation,
    )  # fmt: skip
    return field.eval()


def load_edited_run(run_dir: str | Path, device: torch.device | str | None = None) -> LoadedRun:
    """The source run with its field wrapped by the edits and ``run_dir`` set to the edited run's folder."""
    run_dir = Path(run_dir)
    edit_list = read_edit_list(run_dir)
    read_run_info(run_dir)  # the edited run's own run.json, checked
    loaded = load_trained_run(source_run_dir(run_dir, edit_list), device)
    edit_list.region = resolve_region_settings(loaded, edit_list.region, device)  # a hand-written list
    rays = visibility_rays_of_run(loaded, edit_list.region, device)
    try:
        field = apply_edits(
            loaded.field, edit_list, loaded.thing_mask, loaded.normalization.scale, device=device, rays=rays,
            world_rotation=loaded.normalization.rotation,
        )  # fmt: skip
    except SceneError as exc:  # an instance id the source run does not have
        raise SceneError(f"{run_dir / EDITS_FILE}: {exc}") from None
    return loaded.with_field(field.eval(), run_dir=run_dir)


def load_run(run_dir: str | Path, device: torch.device | str | None = None) -> LoadedRun:
    """Any run folder: an edited run through :func:`load_edited_run`, a trained one as it is."""
    if is_edited_run(run_dir):
        return load_edited_run(run_dir, device)
    return load_trained_run(run_dir, device)


def check_edit_options(up, region: dict) -> None:
    """The options of an edit (``--up``, the region settings), before any work; OptionError names them."""
    if up is not None:
        values = [float(v) for v in up]
        if len(values) != 3 or not all(math.isfinite(v) for v in values) or not any(values):
            raise OptionError(
                f"--up {' '.join(str(v) for v in up)}: must be a non-zero vector of 3 finite numbers"
            )
    for key, value in region.items():
        if key in REGION_RANGES:
            ok, accepts = REGION_RANGES[key]
            if isinstance(value, float) and not math.isfinite(value) or not ok(value):
                raise OptionError(f"--{key.replace('_', '-')} {value}: must be {accepts}")


def create_edited_run(
    run_dir: str | Path,
    out: str | Path,
    edits: list[Edit],
    up: tuple[float, float, float] | None = None,
    device: torch.device | str | None = None,
    **region,
) -> LoadedRun:
    """Make the edited run ``out`` = ``run_dir`` + ``edits`` (appended when ``run_dir`` is itself edited)
    and return it loaded.

    ``up`` defaults to the previous list's axis, else the scene's (from its cameras). ``region`` overrides
    :class:`~panolift.edit.RegionConfig` fields; an unset density threshold is measured on the source
    run. The edits are applied before anything is written, so an unknown instance id leaves no folder.
    """
    run_dir, out = Path(run_dir), Path(out)
    if out.resolve() == run_dir.resolve():
        raise SceneError(f"{out}: the edited run must go to another folder than the run it edits")
    check_edit_options(up, region)
    if os.path.lexists(out) and not out.is_dir():
        raise SceneError(f"{out}: not a folder (--out names the edited run's folder)")
    if checkpoint_files(out) or (os.path.lexists(out / RUN_FILE) and not is_edited_run(out)):
        raise SceneError(f"{out}: a trained run is there; write the edited run to a folder of its own")
    if is_edited_run(run_dir):
        previous = read_edit_list(run_dir)
        source = source_run_dir(run_dir, previous)
        edit_list = dataclasses.replace(previous, edits=previous.edits + list(edits))
    else:
        source = run_dir.resolve()
        edit_list = EditList(source_run="", edits=list(edits))
    loaded = load_trained_run(source, device)
    if up is not None:
        edit_list.up = tuple(float(v) for v in up)  # type: ignore[assignment]
    elif not is_edited_run(run_dir):
        edit_list.up = tuple(float(v) for v in estimate_up_axis(np.asarray(loaded.open_scene().poses)))
    edit_list.region = dataclasses.replace(edit_list.region, **region)
    edit_list.region = resolve_region_settings(loaded, edit_list.region, device)
    field = wrap_with_edits(loaded, edit_list, device)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SceneError(f"{out}: cannot make the edited run's folder ({exc.strerror or exc})") from None
    edit_list.source_run = os.path.relpath(source, out.resolve())
    write_run_info(out, dataclasses.replace(read_run_info(source), edited_from=str(source)))
    write_edit_list(out, edit_list)
    log.info("wrote edited run %s (%d edits on %s)", out, len(edit_list.edits), source)
    return loaded.with_field(field, run_dir=out)
