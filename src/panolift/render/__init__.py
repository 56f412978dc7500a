"""Rendering: samplers, volume rendering, whole images in chunks, field probing (box, device, chunked
evaluation, visibility, surface density), the palette, and the dense reference renderer that every fast
path is tested against."""

from .colors import class_palette, colorize_panoptic, colorize_semantics, depth_to_uint16, overlay
from .image import (
    compute_panoptic_ids,
    label_snap_of,
    panoptic_from_rendering,
    remove_classes,
    remove_specks,
    render_image,
    slot_class_prior_of,
    snap_to_colour,
    thing_mask_of,
)
from .probe import (
    FieldWrapper,
    box_of,
    evaluate_density,
    evaluate_field_in_chunks,
    field_device,
    own_attribute,
    unwrap_field,
)
from .rays import intersect_aabb
from .reference import render_rays_reference
from .renderer import SamplingDomain, render_rays, sampling_domain
from .sampling import sample_along_rays, sample_evenly
from .visibility import compute_visibility, estimate_surface_density, reach_ends
from .volume import accumulate_along_rays, accumulate_sparse, render_weights_from_density

__all__ = [
    "FieldWrapper",
    "SamplingDomain",
    "accumulate_along_rays",
    "accumulate_sparse",
    "box_of",
    "class_palette",
    "colorize_panoptic",
    "colorize_semantics",
    "compute_panoptic_ids",
    "compute_visibility",
    "depth_to_uint16",
    "estimate_surface_density",
    "evaluate_density",
    "evaluate_field_in_chunks",
    "field_device",
    "intersect_aabb",
    "label_snap_of",
    "overlay",
    "own_attribute",
    "panoptic_from_rendering",
    "remove_classes",
    "remove_specks",
    "render_image",
    "render_rays",
    "render_rays_reference",
    "reach_ends",
    "render_weights_from_density",
    "sample_along_rays",
    "sample_evenly",
    "sampling_domain",
    "slot_class_prior_of",
    "snap_to_colour",
    "thing_mask_of",
    "unwrap_field",
]
