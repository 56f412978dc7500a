"""What the viewer draws: every render mode, the highlight, the legend, and the 3D layer (cache, colours)."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.render import class_palette
from panolift.scene import ClassSet
from panolift.view import LAYER_COLORINGS, MODES, RenderedView, compute_layer, draw_view, layer_colors
from panolift.view.images import instance_color, legend_html
from panolift.view.layer import layer_cache_path

CLASSES = ClassSet(names=("void", "wall", "floor", "chair", "table"), thing_ids=(3, 4))


def small_view() -> RenderedView:
    rng = np.random.default_rng(0)
    classes = np.full((6, 8), 1, np.int64)
    ids = np.zeros((6, 8), np.int64)
    classes[2:5, 2:5], ids[2:5, 2:5] = 3, 7
    classes[0:2, 6:8], ids[0:2, 6:8] = 4, 2
    return RenderedView(
        rgb=rng.random((6, 8, 3), dtype=np.float32), depth=rng.random((6, 8), dtype=np.float32) + 1,
        opacity=np.ones((6, 8), np.float32), classes=classes, ids=ids,
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_draws_an_image(mode):
    image = draw_view(small_view(), mode, CLASSES)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8


def test_classes_and_instances_have_the_palette_colours():
    view = small_view()
    semantics = draw_view(view, "semantics", CLASSES)
    assert (semantics[0, 0] == class_palette(5)[1]).all()
    instances = draw_view(view, "instances", CLASSES)
    assert tuple(instances[3, 3]) == instance_color(3, 7)  # inside, not on the outline
    with pytest.raises(ValueError, match="unknown render mode"):
        draw_view(view, "x-ray", CLASSES)


def test_selection_dims_the_rest_and_outlines_the_instance():
    view = small_view()
    plain = draw_view(view, "rgb", CLASSES)
    selected = draw_view(view, "rgb", CLASSES, selected=7)
    assert (selected[3, 3] == plain[3, 3]).all()  # inside the selection: as it was
    assert (selected[0, 0] <= plain[0, 0]).all() and selected[0, 0].sum() < plain[0, 0].sum()
    assert (selected[2, 2] == 255).all()  # the outline


def test_legend_names_every_class():
    text = legend_html(CLASSES)
    assert all(name in text for name in CLASSES.names[1:]) and "void" not in text


def test_layer_is_cached_and_coloured(session, tmp_path):
    cache = layer_cache_path(tmp_path, session.step, [], 32)
    surface = compute_layer(session.loaded(), 32, cache)
    assert surface is not None and surface.num_vertices > 0 and cache.is_file()
    again = compute_layer(session.loaded(), 32, cache)
    np.testing.assert_array_equal(again.vertices, surface.vertices)
    assert layer_cache_path(tmp_path, session.step + 1, [], 32) != cache
    for coloring in LAYER_COLORINGS:
        colors = layer_colors(surface, coloring, session.class_set)
        assert colors.shape == (surface.num_vertices, 3) and colors.dtype == np.uint8
    if (surface.instances > 0).any():
        k = int(surface.instances[surface.instances > 0][0])
        dim = layer_colors(surface, "class", session.class_set, selected=k)
        full = layer_colors(surface, "class", session.class_set)
        inside = surface.instances == k
        assert (dim[inside] == full[inside]).all() and (dim[~inside] <= full[~inside]).all()
