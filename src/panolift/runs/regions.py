"""The 3D instances of a run: region settings measured on the run, visibility from its training views,
and the instance table `panolift info RUN` prints."""

from __future__ import annotations

import dataclasses

import torch

from panolift.config import RegionConfig
from panolift.edit import find_regions
from panolift.render import estimate_surface_density
from panolift.scene import SceneError

from .folder import is_edited_run, read_edit_list
from .loaded import LoadedRun, training_rays

Rays = tuple[torch.Tensor, torch.Tensor]


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
        raise SceneError(f"{loaded.run_dir}: no training ray becomes opaque; the field is empty")
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


def describe_instances(loaded: LoadedRun, settings: RegionConfig | None = None, device=None) -> list[dict]:
    """The 3D instances of a loaded run's field: id, class, voxel count and the bounding box of the
    region's voxels (world units): unseen interiors included, floaters left out (:mod:`panolift.edit.regions`)."""
    settings = resolve_region_settings(loaded, settings, device)
    rays = visibility_rays_of_run(loaded, settings, device)
    _, regions = find_regions(loaded.field, loaded.thing_mask, settings, device=device, rays=rays)
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
