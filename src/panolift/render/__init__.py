"""Rendering: ray/box intersection, sampling with empty-space skipping, volume rendering, whole images."""

from .image import panoptic_from_rendering, render_image
from .rays import intersect_aabb
from .renderer import SamplingDomain, render_rays, sampling_domain
from .sampling import OccupancyGrid, compute_occupancy, occupied_aabb, sample_along_rays
from .volume import accumulate_along_rays, accumulate_sparse, render_weights_from_density


def render_run(*args, **kwargs):
    """Render a trained run to image folders; see :func:`panolift.render.run.render_run`."""
    from .run import render_run as _render_run

    return _render_run(*args, **kwargs)


def load_field_for_render(*args, **kwargs):
    """The field `panolift render` draws; see :func:`panolift.render.run.load_field_for_render`."""
    from .run import load_field_for_render as _load

    return _load(*args, **kwargs)


__all__ = [
    "OccupancyGrid",
    "SamplingDomain",
    "accumulate_along_rays",
    "accumulate_sparse",
    "compute_occupancy",
    "intersect_aabb",
    "load_field_for_render",
    "occupied_aabb",
    "panoptic_from_rendering",
    "render_image",
    "render_rays",
    "render_weights_from_density",
    "render_run",
    "sample_along_rays",
    "sampling_domain",
]
