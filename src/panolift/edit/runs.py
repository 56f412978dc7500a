"""Edited runs: a small folder that references a trained run and lists edits.

EDITED/edits.json   the edit list (:mod:`panolift.edit.edits`), ``source_run`` relative to EDITED
EDITED/run.json     a copy of the source run's run.json plus ``"edited_from"`` (so `panolift info` knows it)
No checkpoint is copied: loading an edited run loads the source run's latest checkpoint and wraps its
field with the edits. Editing an edited run appends to its list and keeps the original source.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from panolift.edit.edits import (
    EDITS_FILE,
    Edit,
    EditList,
    RegionSettings,
    apply_edits,
    find_regions,
    load_edits,
    save_edits,
)
from panolift.edit.regions import thing_mask_from_ids
from panolift.scene.io import SceneError, write_json

logger = logging.getLogger(__name__)


def is_edited_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / EDITS_FILE).exists()


def source_run_dir(run_dir: str | Path, edit_list: EditList) -> Path:
    """The trained run an edit list refers to (``source_run`` is relative to the edited run's folder)."""
    source = Path(edit_list.source_run)
    source = source if source.is_absolute() else Path(run_dir) / source
    if not (source / "run.json").exists():
        raise SceneError(f"{Path(run_dir) / EDITS_FILE}: source run {source} has no run.json")
    return source.resolve()


def thing_mask_of(class_set) -> torch.Tensor:
    return thing_mask_from_ids(class_set.thing_ids, class_set.num_classes)


def visibility_rays_of_run(loaded, settings: RegionSettings):
    """Rays of the run's training views (field coordinates, on the run's device) that decide which voxels
    were seen (:func:`panolift.edit.regions.compute_visibility`); None when the settings ask for none."""
    if settings.visibility_rays <= 0:
        return None
    from panolift.edit.edits import field_device
    from panolift.export.level import training_rays

    origins, dirs = training_rays(loaded, max_rays=settings.visibility_rays)
    device = field_device(loaded.field)
    return origins.to(device), dirs.to(device)


def load_edited_run(run_dir: str | Path, device: torch.device | str | None = None):
    """The source run (:class:`panolift.lift.checkpoint.LoadedRun`) with its field wrapped by the edits
    and ``run_dir`` set to the edited run's folder."""
    from panolift.lift.checkpoint import load_run

    run_dir = Path(run_dir)
    edit_list = load_edits(run_dir / EDITS_FILE)
    loaded = load_run(source_run_dir(run_dir, edit_list), device)
    edit_list.region = resolve_region_settings(loaded, edit_list.region, device)  # a hand-written list
    field = apply_edits(
        loaded.field,
        edit_list,
        thing_mask_of(loaded.class_set),
        loaded.normalization.scale,
        device=device,
        rays=visibility_rays_of_run(loaded, edit_list.region),
    )
    return dataclasses.replace(loaded, run_dir=run_dir, field=field.eval())


def load_run_with_edits(run_dir: str | Path, device: torch.device | str | None = None):
    """An edited run through :func:`load_edited_run`, any other run through ``load_run``."""
    if is_edited_run(run_dir):
        return load_edited_run(run_dir, device)
    from panolift.lift.checkpoint import load_run

    return load_run(run_dir, device)


def region_threshold_of_run(loaded, device=None, fraction: float = 0.5) -> float:
    """Occupied-voxel density for instance regions: ``fraction`` x the density at which the run's
    training rays reach transmittance 1/2 (:func:`panolift.export.level.estimate_surface_density`).
    Relative to the field itself, it finds the instances of sharp and of blurry fields alike."""
    from panolift.export.level import estimate_surface_density, training_rays

    origins, dirs = training_rays(loaded, max_rays=4096)
    level = estimate_surface_density(loaded.field, origins.to(device), dirs.to(device))
    if level is None:
        raise SceneError(f"{loaded.run_dir}: no training ray becomes opaque; the field is empty")
    return fraction * level


def resolve_region_settings(loaded, settings: RegionSettings | None = None, device=None) -> RegionSettings:
    """``settings`` (default: the edited run's, else the defaults) with the density threshold filled in."""
    if settings is None:
        edited = is_edited_run(loaded.run_dir)
        settings = load_edits(loaded.run_dir / EDITS_FILE).region if edited else RegionSettings()
    if settings.density_threshold <= 0:
        settings = dataclasses.replace(settings, density_threshold=region_threshold_of_run(loaded, device))
    return settings


def estimate_scene_up(scene_path: Path) -> tuple[float, float, float]:
    """World up of the run's scene from its camera poses (see :func:`estimate_up_axis`)."""
    from panolift.edit.edits import estimate_up_axis
    from panolift.scene import Scene

    up = estimate_up_axis(np.asarray(Scene(scene_path).poses))
    return tuple(float(v) for v in up)  # type: ignore[return-value]


def create_edited_run(
    run_dir: str | Path,
    out: str | Path,
    edits: list[Edit],
    up: tuple[float, float, float] | None = None,
    device: torch.device | str | None = None,
    **region,
):
    """Make the edited run ``out`` = ``run_dir`` + ``edits`` (appended when ``run_dir`` is itself edited)
    and return it loaded (:class:`~panolift.lift.checkpoint.LoadedRun` with the wrapped field).

    ``up`` defaults to the previous list's axis, else the scene's (from its cameras). ``region`` overrides
    :class:`~panolift.edit.edits.RegionSettings` fields; an unset density threshold is measured on the
    source run (:func:`region_threshold_of_run`). The edits are applied before anything is written, so
    an unknown instance id leaves no folder behind.
    """
    from panolift.lift.checkpoint import load_run

    run_dir, out = Path(run_dir), Path(out)
    if out.resolve() == run_dir.resolve():
        raise SceneError(f"{out}: the edited run must go to another folder than the run it edits")
    if is_edited_run(run_dir):
        previous = load_edits(run_dir / EDITS_FILE)
        source = source_run_dir(run_dir, previous)
        edit_list = dataclasses.replace(previous, edits=previous.edits + list(edits))
    else:
        source = run_dir.resolve()
        edit_list = EditList(source_run="", edits=list(edits))
    loaded = load_run(source, device)
    if up is not None:
        edit_list.up = tuple(float(v) for v in up)  # type: ignore[assignment]
    elif not is_edited_run(run_dir):
        edit_list.up = estimate_scene_up(loaded.scene_path)
    edit_list.region = dataclasses.replace(edit_list.region, **region)
    edit_list.region = resolve_region_settings(loaded, edit_list.region, device)
    thing_mask = thing_mask_of(loaded.class_set)
    rays = visibility_rays_of_run(loaded, edit_list.region)
    field = apply_edits(
        loaded.field, edit_list, thing_mask, loaded.normalization.scale, device=device, rays=rays
    )
    out.mkdir(parents=True, exist_ok=True)
    edit_list.source_run = os.path.relpath(source, out.resolve())
    run_info = json.loads((source / "run.json").read_text())
    write_json(out / "run.json", {**run_info, "edited_from": str(source)})
    save_edits(out / EDITS_FILE, edit_list)
    logger.info("wrote edited run %s (%d edits on %s)", out, len(edit_list.edits), source)
    return dataclasses.replace(loaded, run_dir=out, field=field.eval())


def describe_instances(loaded, settings: RegionSettings | None = None, device=None) -> list[dict]:
    """The 3D instances of a loaded run's field: id, class, voxel count and the bounding box of the
    region's voxels (world units): unseen interiors included, floaters left out (:mod:`.regions`)."""
    settings = resolve_region_settings(loaded, settings, device)
    rays = visibility_rays_of_run(loaded, settings)
    _, regions = find_regions(
        loaded.field, thing_mask_of(loaded.class_set), settings, device=device, rays=rays
    )
    norm = loaded.normalization
    rows = []
    for instance_id, region in sorted(regions.items()):
        bounds = region.bounds().numpy() / norm.scale + norm.center  # (2, 3) world
        rows.append(
            {
                "id": instance_id,
                "class": loaded.class_set.names[region.class_id],
                "class_id": region.class_id,
                "voxels": region.voxel_count,
                "bbox_min": bounds[0].tolist(),
                "bbox_max": bounds[1].tolist(),
            }
        )
    return rows
