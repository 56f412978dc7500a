"""Whole-image rendering, occupancy grids and panoptic labels from a rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from panolift.config import RenderConfig, tiny_config
from panolift.field import PanopticField
from panolift.render import panoptic_from_rendering, render_image
from panolift.scene import SCANNET21, SceneNormalization


def _field() -> PanopticField:
    torch.manual_seed(0)
    field = PanopticField(tiny_config().field, num_classes=SCANNET21.num_classes)
    with torch.no_grad():  # a visible blob so that images are not empty
        for p in field.density_grid.parameters():
            p.add_(0.8)
    field.normalization = SceneNormalization(center=np.array([0.0, 0.0, 1.0]), scale=0.5)
    return field.eval()


def test_render_image_any_aspect_and_chunk_invariant():
    field = _field()
    K = np.array([[20.0, 0, 16.0], [0, 20.0, 5.0], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, -1.0]  # world units: normalised origin (0, 0, -1)
    big = render_image(field, K, c2w, 32, 10, config=RenderConfig(chunk_rays=4096))
    small = render_image(field, K, c2w, 32, 10, config=RenderConfig(chunk_rays=37))
    assert big["rgb"].shape == (10, 32, 3) and big["depth"].shape == (10, 32)
    assert big["semantics"].shape == (10, 32, SCANNET21.num_classes)
    assert big["instance"].shape == (10, 32, field.config.num_slots)
    for key in ("rgb", "depth", "opacity", "semantics", "instance"):
        torch.testing.assert_close(big[key], small[key])
    assert float(big["opacity"].max()) > 0.5
    assert (big["semantics"].sum(-1) <= big["opacity"] + 1e-5).all()


def test_images_take_colour_from_their_own_sample_cap():
    """``image_samples_per_ray`` caps the colour samples of whole images (not of training rays): the image
    equals one rendered with that ``max_evaluated_per_ray``, and stays within the weight it leaves out."""
    field = _field()
    K = np.array([[20.0, 0, 16.0], [0, 20.0, 5.0], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, -1.0]
    wide = RenderConfig(max_evaluated_per_ray=12, termination_threshold=0.0)
    full = render_image(field, K, c2w, 32, 10, config=wide)
    capped = render_image(field, K, c2w, 32, 10, config=dataclasses.replace(wide, image_samples_per_ray=2))
    same = render_image(field, K, c2w, 32, 10, config=dataclasses.replace(wide, max_evaluated_per_ray=2))
    torch.testing.assert_close(capped["rgb"], same["rgb"])
    assert not torch.allclose(capped["rgb"], full["rgb"], atol=1e-4)  # the cap is applied
    torch.testing.assert_close(capped["opacity"], full["opacity"])  # the density march is untouched
    assert float((capped["rgb"] - full["rgb"]).abs().max()) <= float(full["opacity"].max()) + 1e-6


def test_render_image_needs_a_normalisation():
    field = _field()
    field.normalization = None
    try:
        render_image(field, np.eye(3), np.eye(4), 4, 4)
    except ValueError as exc:
        assert "normalization" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_panoptic_from_rendering_things_get_slot_ids():
    sem = torch.zeros(2, 2, SCANNET21.num_classes)
    sem[0, 0, 5] = 0.9  # chair (thing)
    sem[0, 1, 1] = 0.9  # wall (stuff)
    sem[1, 0, 0] = 0.9  # void wins the raw argmax; excluded: the next class is taken
    sem[1, 0, 2] = 0.1
    sem[1, 1, 4] = 0.5  # bed (thing)
    ins = torch.zeros(2, 2, 8)
    ins[0, 0, 3] = 1.0
    ins[0, 1, 5] = 1.0
    ins[1, 1, 0] = 1.0
    semantics, instance = panoptic_from_rendering({"semantics": sem, "instance": ins}, SCANNET21)
    assert semantics.tolist() == [[5, 1], [2, 4]]
    assert instance.tolist() == [[4, 0], [0, 1]]


def test_an_instances_class_prior_decides_where_a_things_pixel_wavers():
    """Embedding fields give each 3D instance the class distribution of its rays (slot_class_prior): a thing
    pixel weighs it against its own classes; a sure pixel keeps its class, stuff stays stuff."""
    num = SCANNET21.num_classes
    sem = torch.full((1, 5, num), 0.001)
    sem[0, 0, 5], sem[0, 0, 4] = 0.55, 0.4  # chair, bed close second; instance mostly bed: bed
    sem[0, 1, 5], sem[0, 1, 4] = 0.97, 0.003  # sure of chair; instance mostly bed: keeps chair
    sem[0, 2, 5], sem[0, 2, 6] = 0.5, 0.45  # chair, sofa; an instance of chairs and sofas alike: chair
    sem[0, 3, 5], sem[0, 3, 4] = 0.5, 0.45  # a slot beyond the prior (a duplicated copy): keeps chair
    sem[0, 4, 1], sem[0, 4, 4] = 0.6, 0.39  # wall: stuff stays stuff, whatever the instance
    ins = torch.zeros(1, 5, 4)
    for pixel, slot in enumerate([0, 0, 1, 3, 0]):
        ins[0, pixel, slot] = 1.0
    prior = torch.zeros(2, num)
    prior[0, 4], prior[0, 5] = 0.9, 0.1
    prior[1, 5], prior[1, 6] = 0.5, 0.5
    rendering = {"semantics": sem, "instance": ins, "slot_class_prior": prior}
    semantics, instance = panoptic_from_rendering(rendering, SCANNET21)
    assert semantics.tolist() == [[4, 5, 5, 5, 1]]
    assert instance.tolist() == [[1, 1, 2, 4, 0]]
    plain, _ = panoptic_from_rendering({"semantics": sem, "instance": ins}, SCANNET21)
    assert plain.tolist() == [[5, 5, 5, 5, 1]]
