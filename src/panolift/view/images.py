"""What the viewer shows: a view rendered by the field (numpy, labels decided), drawn in one of the modes.

Colours come from :mod:`panolift.render.colors`, the palette of every picture panolift draws: a class has
the colour it has in `panolift render` and in reports, and a 3D instance the colour hashed from its
(class, id), the same in every view, in the 3D layer and in the instance panel.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

from panolift.config import RenderConfig
from panolift.render import (
    class_palette,
    colorize_panoptic,
    colorize_semantics,
    compute_panoptic_ids,
    label_snap_of,
    overlay,
    remove_specks,
    render_image,
    snap_to_colour,
)
from panolift.render.colors import instance_colors, instance_key
from panolift.scene import ClassSet, SceneNormalization

MODES = ("rgb", "depth", "semantics", "instances", "panoptic overlay")
"""Render modes of the viewer's image."""


@dataclass
class RenderedView:
    """One view rendered by the field, on the CPU: what every mode is drawn from."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    depth: np.ndarray  # (H, W) float32 z-depth, world units
    opacity: np.ndarray  # (H, W) float32
    classes: np.ndarray  # (H, W) int64 class (argmax, void excluded)
    ids: np.ndarray  # (H, W) int64 3D instance id, 0 for stuff

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def without_specks(self, min_segment_share: float) -> RenderedView:
        """The view with its specks merged into their surroundings, as `panolift render` does
        (:func:`panolift.render.remove_specks`; ``RenderConfig.min_segment_share``; 0: unchanged)."""
        if min_segment_share <= 0:
            return self
        classes, ids = remove_specks(self.classes, self.ids, min_segment_share * self.classes.size)
        return RenderedView(self.rgb, self.depth, self.opacity, classes, ids)

    def finished(self, config: RenderConfig) -> RenderedView:
        """The view labelled as `panolift render` labels a frame of the run: specks merged
        (:meth:`without_specks`), then the segments snapped to the colour's edges
        (:func:`panolift.render.snap_to_colour`; ``RenderConfig.label_snap_radius``)."""
        view = self.without_specks(config.min_segment_share)
        snap = label_snap_of(config, self.size[0])
        if snap is None:
            return view
        classes, ids = snap_to_colour(view.classes, view.ids, view.rgb, *snap)
        return RenderedView(view.rgb, view.depth, view.opacity, classes, ids)

    @staticmethod
    def stack(bands: list[RenderedView]) -> RenderedView:
        """Bands (top to bottom) of one image, as one view."""
        return RenderedView(
            *(np.concatenate([getattr(b, name) for b in bands]) for name in RenderedView.__dataclass_fields__)
        )


def render_view(
    field,
    K: np.ndarray,  # (3, 3) for width x height
    c2w: np.ndarray,  # (4, 4) camera-to-world, OpenCV, WORLD units
    width: int,
    height: int,
    normalization: SceneNormalization,
    thing_mask,  # (num_classes,) bool tensor
    config: RenderConfig | None = None,
    instances=None,
) -> RenderedView:
    """Render one view with :func:`panolift.render.render_image` and decide its labels (class = argmax over
        the non-void classes, id = argmax slot + 1 on thing classes: the renderer's convention; with
    ``instances``, the id of the slot's piece where the ray ends). ``config`` defaults to the field's own
    render settings."""
    out = render_image(
        field, K, c2w, width, height, normalization=normalization, config=config, thing_mask=thing_mask
    )
    classes, ids = compute_panoptic_ids(
        out["semantics"], out.get("instance"), thing_mask, out.get("slot_class_prior")
    )
    if instances is not None:  # the ids of the pieces of a slot (panolift.edit.InstanceTable)
        ids = instances.ids_at(out["points"].reshape(-1, 3), ids.reshape(-1)).reshape(ids.shape)
    return RenderedView(
        rgb=out["rgb"].clamp(0, 1).float().cpu().numpy(),
        depth=out["depth"].float().cpu().numpy(),
        opacity=out["opacity"].float().cpu().numpy(),
        classes=classes.cpu().numpy().astype(np.int64),
        ids=ids.cpu().numpy().astype(np.int64),
    )


def colorize_depth(depth: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) uint8 (turbo, near = blue, between the 2nd and 98th percentile of the
    opaque pixels; transparent pixels black)."""
    solid = opacity > 0.5
    values = depth[solid] if solid.any() else depth.reshape(-1)
    lo, hi = np.percentile(values, [2, 98]) if values.size else (0.0, 1.0)
    t = np.clip((depth - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    rgb = (colormaps["turbo"](t)[..., :3] * 255).round().astype(np.uint8)
    rgb[opacity < 0.05] = 0
    return rgb


def colorize_instances(view: RenderedView, class_set: ClassSet) -> np.ndarray:
    """(H, W, 3) uint8: things in their 3D instance's colour (outlines darkened), stuff in dim grey shades
    of the image, so that the instances stand out."""
    out = colorize_panoptic(view.classes, view.ids, class_set.num_classes, class_set.thing_ids)
    stuff = view.ids == 0
    grey = (view.rgb.mean(axis=-1) * 110 + 30).astype(np.uint8)
    out[stuff] = grey[stuff][:, None]
    return out


def draw_view(view: RenderedView, mode: str, class_set: ClassSet, selected: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of ``view`` in ``mode`` (one of :data:`MODES`); a ``selected`` instance id
    is highlighted: everything else is dimmed and its outline drawn in white."""
    if mode == "rgb":
        image = (view.rgb * 255).round().astype(np.uint8)
    elif mode == "depth":
        image = colorize_depth(view.depth, view.opacity)
    elif mode == "semantics":
        image = colorize_semantics(view.classes, class_set.num_classes)
    elif mode == "instances":
        image = colorize_instances(view, class_set)
    elif mode == "panoptic overlay":
        colors = colorize_panoptic(view.classes, view.ids, class_set.num_classes, class_set.thing_ids)
        image = overlay(view.rgb, colors)
    else:
        raise ValueError(f"unknown render mode {mode!r} (one of {', '.join(MODES)})")
    if selected is not None and selected > 0:
        image = highlight(image, view.ids == selected)
    return image


def highlight(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with the pixels outside ``mask`` dimmed to 35% and the mask's outline in white."""
    out = image.copy()
    out[~mask] = (out[~mask].astype(np.float32) * 0.35).astype(np.uint8)
    edge = np.zeros_like(mask)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    out[edge] = 255
    return out


def instance_color(class_id: int, instance_id: int) -> tuple[int, int, int]:
    """The colour of 3D instance (class_id, instance_id), as every picture draws it."""
    rgb = instance_colors(instance_key(np.array([class_id]), np.array([instance_id])))[0]
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def swatch(rgb: tuple[int, int, int] | np.ndarray) -> str:
    """An inline HTML colour square."""
    r, g, b = (int(v) for v in rgb)
    return (
        f'<span style="display:inline-block;width:0.9em;height:0.9em;margin-right:0.4em;'
        f'vertical-align:-0.1em;border:1px solid #0004;background:rgb({r},{g},{b})"></span>'
    )


def legend_html(class_set: ClassSet, present: set[int] | None = None) -> str:
    """The class legend: a swatch and the name of each class (void left out), things marked; with
    ``present``, the classes not in it are greyed."""
    palette = class_palette(class_set.num_classes)
    lines = []
    for k in range(1, class_set.num_classes):
        name = html.escape(class_set.names[k]) + (" (thing)" if k in class_set.thing_ids else "")
        style = "" if present is None or k in present else ' style="opacity:0.4"'
        lines.append(f"<div{style}>{swatch(palette[k])}{name}</div>")
    return '<div style="font-size:0.8em;line-height:1.5">' + "".join(lines) + "</div>"
