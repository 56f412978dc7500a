"""The 3D instances of a run: region settings measured on the run, visibility from its training views,
the instance table that renders, the viewer and exports look ids up in, and the listing `panolift info
RUN` prints."""

from __future__ import annotations

import dataclasses
import logging

import torch

from panolift.config import RegionConfig
from panolift.edit import InstanceRegion, InstanceTable, find_regions
from panolift.edit.edits import edited_regions
from panolift.render import estimate_surface_density
from panolift.scene import SceneError

from .folder import is_edited_run, read_edit_list
from .loaded import LoadedRun, training_rays

Rays = tuple[torch.Tensor, torch.Tensor]
log = logging.getLogger(__name__)


class EmptyFieldError(SceneError):
    """The run's field has no surface yet: no training ray becomes opaque."""


def visibility_rays_of_run(loaded: LoadedRun, settings: RegionConfig, device=None) -> Rays | None:
    """Rays of the run's training views that decide which voxels were seen
    (:func:`panolift.render.compute_visibility`); None when the settings ask for none."""
    if settings.visibility_rays <= 0:
        return None
    origins, dirs = training_rays(loaded, max_rays=settings.visibility_rays)
    return origins.to(device), dirs.to(device)


def surface_density_of_run(loaded: LoadedRun, field=None, device=None) -> float:
    """The density at which the run's training rays become opaque
    (:func:`panolift.render.estimate_surface_density`) in ``field`` (default: the run's)."""
    origins, dirs = training_rays(loaded, max_rays=4096)
    level = estimate_surface_density(field or loaded.field, origins.to(device), dirs.to(device))
    if level is None:
        raise EmptyFieldError(f"{loaded.run_dir}: no training ray becomes opaque; the field is empty")
    return level


def resolve_region_settings(
    loaded: LoadedRun, settings: RegionConfig | None = None, device=None, fraction: float = 0.5
) -> RegionConfig:
    """``settings`` (default: the edited run's, else the defaults) with the density threshold filled in:
    ``fraction`` x the run's surface density. Relative to the field itself, it finds the instances of
    sharp and of blurry fields alike."""
    if settings is None:
        settings = read_edit_list(loaded.run_dir).region if is_edited_run(loaded.run_dir) else RegionConfig()
    if settings.density_threshold <= 0:
        level = surface_density_of_run(loaded, device=device)
        settings = dataclasses.replace(settings, density_threshold=fraction * level)
    return settings


def find_run_regions(
    loaded: LoadedRun, settings: RegionConfig | None = None, device=None, field=None
) -> tuple[dict[int, InstanceRegion], InstanceTable]:
    """The 3D instances of a loaded run's field (or of ``field``, e.g. an edited one over the same run):
    id -> region, and the :class:`~panolift.edit.InstanceTable` that maps points to those ids."""
    field = field if field is not None else loaded.field
    edited = edited_regions(field)
    if edited is not None:  # an edited field carries its source's instances, edited (stable ids)
        if not edited:
            return {}, InstanceTable(torch.zeros(2, 3), torch.zeros(1, 1, 1, dtype=torch.int64), {}, {})
        any_region = next(iter(edited.values()))
        return edited, InstanceTable.from_regions(edited, any_region.aabb, any_region.core.shape)
    settings = resolve_region_settings(loaded, settings, device)
    rays = visibility_rays_of_run(loaded, settings, device)
    grid, regions = find_regions(field, loaded.thing_mask, settings, device=device, rays=rays)
    return regions, InstanceTable.from_regions(regions, grid.aabb, grid.resolution)


def instance_table_of_run(
    loaded: LoadedRun, settings: RegionConfig | None = None, device=None, field=None
) -> InstanceTable | None:
    """The run's :class:`~panolift.edit.InstanceTable` (:func:`find_run_regions`); None for a field with
    no surface yet (a run at its first steps: its renders keep the slot ids)."""
    try:
        return find_run_regions(loaded, settings, device, field)[1]
    except EmptyFieldError as exc:
        log.info("no instance table: %s", exc)
        return None


def describe_instances(loaded: LoadedRun, settings: RegionConfig | None = None, device=None) -> list[dict]:
    """The 3D instances of a loaded run's field: id, class, slot, voxel count and the bounding box of the
    region's voxels (world units): unseen interiors included, floaters left out (:mod:`panolift.edit.regions`)."""
    return instance_rows(loaded, find_run_regions(loaded, settings, device)[0])


def instance_rows(loaded: LoadedRun, regions: dict[int, InstanceRegion]) -> list[dict]:
    """The rows of :func:`describe_instances` for ``regions`` of the run's field."""
    norm = loaded.normalization
    rows = []
    for instance_id, region in sorted(regions.items()):
        bounds = norm.box_to_world(region.bounds().numpy())  # (2, 3) world
        rows.append(
            {
                "id": instance_id,
                "class": loaded.class_set.names[region.class_id],
                "class_id": region.class_id,
                "slot": region.slot_id - 1,
                "voxels": region.voxel_count,
                "bbox_min": bounds[0].tolist(),
                "bbox_max": bounds[1].tolist(),
            }
        )
    return rows
