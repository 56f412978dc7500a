"""Picking: which 3D instance is under a click, from the image shown or from the field along the ray.

A click in the browser arrives as a world ray (viser's scene click) and as a screen position in [0, 1]^2
(OpenCV image coordinates: (0, 0) the top-left corner, (1, 1) the bottom-right). The rendered image
already holds a class and an id per pixel (:func:`pick_pixel`), which is what the person sees (the viewer
asks it first, :func:`pick_shown`, when it is the current camera's sharpest pass); the ray
rendered through the field (:func:`pick_along_ray`) answers wherever the image is stale or coarse (while
the camera moves, on the 3D layer), with the same labelling convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from panolift.render import compute_panoptic_ids, field_device, render_rays, slot_class_prior_of
from panolift.scene import SceneNormalization

from .cameras import world_ray_to_field


@dataclass(frozen=True)
class Pick:
    """What lies under a click: class, 3D instance id (0 for stuff) and, from the field, its depth along
    the ray (world units; None when picked from an image) and the ray's opacity."""

    class_id: int
    instance_id: int
    distance: float | None = None
    opacity: float = 1.0

    @property
    def is_instance(self) -> bool:
        return self.instance_id > 0


def pixel_of(screen_pos: tuple[float, float], width: int, height: int) -> tuple[int, int]:
    """The pixel (x, y) of an image ``width`` x ``height`` under ``screen_pos`` in [0, 1]^2 (clipped)."""
    x = min(width - 1, max(0, int(float(screen_pos[0]) * width)))
    y = min(height - 1, max(0, int(float(screen_pos[1]) * height)))
    return x, y


def pick_pixel(
    classes: np.ndarray,
    ids: np.ndarray,
    screen_pos: tuple[float, float],
    opacity: np.ndarray | None = None,
    min_opacity: float = 0.5,
) -> Pick:
    """The class and id of the pixel under ``screen_pos`` in (H, W) label maps. With the (H, W)
    ``opacity``, a pixel under ``min_opacity`` shows nothing: no instance (id 0), as
    :func:`pick_along_ray` finds nothing there."""
    height, width = classes.shape
    x, y = pixel_of(screen_pos, width, height)
    if opacity is None:
        return Pick(int(classes[y, x]), int(ids[y, x]))
    seen = float(opacity[y, x])
    return Pick(int(classes[y, x]), int(ids[y, x]) if seen >= min_opacity else 0, opacity=seen)


def pick_shown(
    frame, generation: int, screen_pos: tuple[float, float] | None, min_opacity: float = 0.5
) -> Pick | None:
    """What the shown image holds under a click, when it answers: ``frame`` (a
    :class:`~panolift.view.render_loop.Frame`) is the sharpest pass of the renderer's newest
    ``generation`` (the camera and the field as they are now). Then the click names what the person sees,
    labelled as in the image (:meth:`~panolift.view.images.RenderedView.finished`), where the
    ray would name the speck's own instance (:func:`pick_pixel`, a transparent pixel no instance). None
    when the image does not answer (no frame, a coarse or stale pass, no screen position): ask the field."""
    if frame is None or screen_pos is None or not frame.final or frame.generation != generation:
        return None
    view = frame.view
    return pick_pixel(view.classes, view.ids, screen_pos, view.opacity, min_opacity)


@torch.no_grad()
def pick_along_ray(
    field,
    origin: np.ndarray,  # (3,) world
    direction: np.ndarray,  # (3,) world, any length
    normalization: SceneNormalization,
    thing_mask: torch.Tensor,  # (num_classes,) bool
    min_opacity: float = 0.5,
    instances=None,
) -> Pick | None:
    """Render the one ray through ``field`` (the run's render settings) and label it; None when the ray
    stays mostly transparent (opacity < ``min_opacity``: it hits nothing)."""
    config = field.render_config
    o, d = world_ray_to_field(origin, direction, normalization)
    device = field_device(field)
    origins = torch.as_tensor(o, dtype=torch.float32, device=device)[None]
    dirs = torch.as_tensor(d, dtype=torch.float32, device=device)[None]
    out = render_rays(field, origins, dirs, config)
    opacity = float(out["opacity"][0])
    if opacity < min_opacity:
        return None
    classes, ids = compute_panoptic_ids(
        out["semantics"], out.get("instance"), thing_mask, slot_class_prior_of(field)
    )
    t = float(out["depth"][0]) / max(opacity, 1e-6)
    if instances is not None:  # the id of the slot's piece where the ray ends
        ids = instances.ids_at(origins + t * dirs, ids)
    distance = t / normalization.scale
    return Pick(int(classes[0]), int(ids[0]), distance, opacity)
