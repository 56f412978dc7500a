"""Whole-image rendering, occupancy grids and panoptic labels from a rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from panolift.config import RenderConfig, tiny_config
from panolift.field import PanopticField
from panolift.render import (
    compute_panoptic_ids,
    label_snap_of,
    panoptic_from_rendering,
    remove_specks,
    render_image,
    snap_to_colour,
)
from panolift.render.image import next_chunk_group
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


def test_specks_of_things_take_the_class_and_id_of_their_surroundings():
    semantics = np.full((6, 8), 1)  # wall
    instance = np.zeros((6, 8), dtype=np.int64)
    semantics[:, 4:], instance[:, 4:] = 5, 3  # a chair, 24 pixels
    semantics[2, 6], instance[2, 6] = 5, 7  # a one-pixel speck of another chair inside it
    semantics[0, 0], instance[0, 0] = 18, 2  # a one-pixel bag in the wall's corner
    semantics[5, 0] = 2  # a one-pixel floor: stuff is never a speck
    sem, ins = remove_specks(semantics, instance, min_pixels=3)
    assert (sem[2, 6], ins[2, 6]) == (5, 3)  # joins the chair around it
    assert (sem[0, 0], ins[0, 0]) == (1, 0)  # becomes wall
    assert sem[5, 0] == 2
    assert ((sem != semantics) | (ins != instance)).sum() == 2  # nothing else changes
    kept = remove_specks(semantics, instance, min_pixels=0)
    assert kept[0] is semantics and kept[1] is instance
    every = remove_specks(
        semantics[:1, :1], instance[:1, :1], min_pixels=3
    )  # all specks: nothing to fill from
    assert every[1].tolist() == [[2]]
    # through panoptic_from_rendering: a share of the image's pixels
    sem_t = torch.zeros(6, 8, SCANNET21.num_classes)
    ins_t = torch.zeros(6, 8, 8)
    sem_t[..., 1] = 1.0
    sem_t[:, 4:, 1], sem_t[:, 4:, 5] = 0.0, 1.0
    ins_t[:, 4:, 2] = 1.0
    ins_t[2, 6, 2], ins_t[2, 6, 6] = 0.0, 1.0
    rendering = {"semantics": sem_t, "instance": ins_t}
    _, raw = panoptic_from_rendering(rendering, SCANNET21)
    _, clean = panoptic_from_rendering(rendering, SCANNET21, min_segment_share=2 / 48)
    assert raw[2, 6] == 7 and clean[2, 6] == 3 and set(np.unique(clean)) == {0, 3}


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


def test_instance_head_only_on_thing_rays_gives_the_same_labels(monkeypatch):
    """With ``thing_mask`` the instance head runs only where the rendered class is a thing: the same classes
    and ids as a full render, the same instance distribution on thing rays, zero on the others, and fewer
    points through the instance head."""
    field = _field()
    K = np.array([[20.0, 0, 16.0], [0, 20.0, 12.0], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, -1.0]
    evaluated = []
    instance = field.instance
    monkeypatch.setattr(field, "instance", lambda points: evaluated.append(len(points)) or instance(points))
    full = render_image(field, K, c2w, 32, 24)
    classes = full["semantics"][..., 1:].argmax(dim=-1) + 1
    thing_mask = torch.zeros(SCANNET21.num_classes, dtype=torch.bool)
    present = classes.unique()
    thing_mask[present[: max(1, len(present) // 2)]] = True  # some of the rendered classes are things
    thing = thing_mask[classes]
    assert thing.any() and not thing.all()
    n_full = sum(evaluated)
    evaluated.clear()
    cheap = render_image(field, K, c2w, 32, 24, thing_mask=thing_mask)
    assert 0 < sum(evaluated) < n_full
    for key in ("rgb", "depth", "semantics"):
        torch.testing.assert_close(cheap[key], full[key])
    torch.testing.assert_close(cheap["instance"][thing], full["instance"][thing])
    assert float(cheap["instance"][~thing].abs().max()) == 0.0
    labels = [compute_panoptic_ids(out["semantics"], out["instance"], thing_mask) for out in (full, cheap)]
    for a, b in zip(labels[0], labels[1], strict=True):
        torch.testing.assert_close(a, b)
    assert bool((labels[0][1] > 0).any())


def test_chunk_groups_cover_every_ray_once_in_balanced_chunks():
    for num_rays, chunk, workers in [
        (27648, 4096, 2),
        (27648, 4096, 1),
        (100, 4096, 2),
        (1, 4096, 4),
        (9001, 1000, 3),
    ]:
        spans, start = [], 0
        while start < num_rays:
            group = next_chunk_group(start, num_rays, chunk, workers)
            assert 1 <= len(group) <= workers
            spans += group
            start = group[-1][1]
        assert spans[0][0] == 0 and spans[-1][1] == num_rays
        assert all(a[1] == b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))  # contiguous, no overlap
        sizes = [end - begin for begin, end in spans]
        assert max(sizes) <= chunk and max(sizes) - min(sizes) <= max(sizes) // 2 + 1


def test_parallel_chunks_render_the_same_image_and_keep_the_thread_count():
    """A chunk of rays per thread (``parallel_chunks``) gives the image of the chunk-by-chunk render, tells
    ``on_chunk`` about every chunk, and leaves torch's thread count as it found it."""
    field = _field()
    K = np.array([[20.0, 0, 16.0], [0, 20.0, 12.0], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, -1.0]
    config = RenderConfig(chunk_rays=100)  # 768 rays: 4 groups of 2 chunks
    torch.set_num_threads(2)
    serial = render_image(field, K, c2w, 32, 24, config=config)
    seen = []
    parallel = render_image(
        field, K, c2w, 32, 24, config=config, parallel_chunks=True, on_chunk=lambda s: seen.append(s)
    )
    assert torch.get_num_threads() == 2
    assert len(seen) == 8 and all(s > 0 for s in seen)
    for key in ("rgb", "depth", "opacity", "semantics", "instance", "points"):
        torch.testing.assert_close(parallel[key], serial[key])
    assert not parallel["rgb"].requires_grad  # the workers render without autograd too


def test_bfloat16_mlps_render_nearly_the_same_image():
    """``image_precision`` bfloat16 runs only the MLPs in bfloat16: the march (opacity, depth) is the
    float32 one exactly, colour and labels move by bfloat16 rounding only."""
    field = _field()
    K = np.array([[20.0, 0, 16.0], [0, 20.0, 12.0], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, -1.0]
    exact = render_image(field, K, c2w, 32, 24, config=RenderConfig(image_precision="float32"))
    half = render_image(field, K, c2w, 32, 24, config=RenderConfig(image_precision="bfloat16"))
    for key in ("opacity", "depth", "points"):
        torch.testing.assert_close(half[key], exact[key])
    for key in ("rgb", "semantics", "instance"):
        assert half[key].dtype == torch.float32
        assert float((half[key] - exact[key]).abs().max()) < 0.02, key
    assert not torch.equal(half["rgb"], exact["rgb"])  # the MLPs did run in bfloat16
    agree = (half["semantics"].argmax(-1) == exact["semantics"].argmax(-1)).float().mean()
    assert float(agree) > 0.95


def _two_colours(edge: int, width: int = 24, height: int = 10) -> np.ndarray:
    """A rendered colour: red left of column ``edge``, blue from it on, with a little noise."""
    rgb = np.zeros((height, width, 3), dtype=np.float32)
    rgb[:, :edge, 0], rgb[:, edge:, 2] = 0.8, 0.7
    return rgb + np.random.default_rng(0).normal(0.0, 0.01, rgb.shape).astype(np.float32)


def test_labels_snap_to_the_edges_of_the_rendered_colour():
    rgb = _two_colours(12)
    semantics = np.ones((10, 24), dtype=np.int64)  # wall ...
    instance = np.zeros((10, 24), dtype=np.int64)
    semantics[:, 11:], instance[:, 11:] = 5, 3  # ... and a chair drawn a pixel too fat on the left
    semantics[4, 18], instance[4, 18] = 1, 0  # a wall pixel inside the blue chair
    snapped_sem, snapped_ins = snap_to_colour(semantics, instance, rgb, radius=2)
    assert snapped_sem.dtype == semantics.dtype and snapped_ins.dtype == instance.dtype
    assert (snapped_sem[:, :12] == 1).all() and (snapped_ins[:, :12] == 0).all()  # the label edge moved
    assert (snapped_sem[:, 12:] == 5).all() and (snapped_ins[:, 12:] == 3).all()  # onto the colour edge
    # a thin thing of its own colour keeps its class and id: its same-coloured neighbours outvote the rest
    rgb[:, 5] = (0.1, 0.9, 0.1)
    semantics[:, 5], instance[:, 5] = 18, 7  # a one-pixel wide bag strap
    snapped_sem, snapped_ins = snap_to_colour(semantics, instance, rgb, radius=2)
    assert (snapped_sem[:, 5] == 18).all() and (snapped_ins[:, 5] == 7).all()
    assert (snapped_sem[:, 12:] == 5).all()
    # where colour says nothing (one flat colour), the vote is a plain majority: a lone pixel joins its
    # surroundings, edges between large segments stay
    flat = np.full((10, 24, 3), 0.5, dtype=np.float32)
    sem_flat, _ = snap_to_colour(semantics, instance, flat, radius=2)
    assert sem_flat[4, 18] == 5 and (sem_flat[:, :4] == 1).all() and (sem_flat[:, 14:] == 5).all()
    # off, one segment, and rows in bands: the same maps
    kept = snap_to_colour(semantics, instance, rgb, radius=0)
    assert kept[0] is semantics and kept[1] is instance
    one = np.ones((4, 4), dtype=np.int64)
    assert snap_to_colour(one, one * 0, flat[:4, :4], radius=2)[0] is one


def test_the_snap_in_chunks_and_at_any_radius(monkeypatch):
    rng = np.random.default_rng(1)
    semantics = rng.integers(0, 4, (30, 40))
    instance = (semantics == 3) * rng.integers(1, 3, (30, 40))
    rgb = rng.random((30, 40, 3)).astype(np.float32)
    whole = snap_to_colour(semantics, instance, rgb, radius=3)
    monkeypatch.setattr("panolift.render.image.SNAP_VOTES_PER_BAND", (7 + 25) * 40)  # chunks of 42 pixels
    banded = snap_to_colour(semantics, instance, rgb, radius=3)
    assert np.array_equal(whole[0], banded[0]) and np.array_equal(whole[1], banded[1])
    # a wide radius votes over 5 x 5 neighbours spaced r // 2 apart: the edge of a larger image moves as far
    rgb = _two_colours(48, width=96, height=20)
    semantics = np.ones((20, 96), dtype=np.int64)
    semantics[:, 45:] = 2  # three pixels off
    snapped, _ = snap_to_colour(semantics, np.zeros_like(semantics), rgb, radius=8)
    assert (snapped[:, :48] == 1).all() and (snapped[:, 48:] == 2).all()


def test_the_snap_radius_is_a_share_of_the_width_and_panoptic_labels_take_it():
    config = RenderConfig(label_snap_radius=0.0125)
    assert label_snap_of(config, 160) == (2, 0.06, 2) and label_snap_of(config, 512) == (6, 0.06, 2)
    assert label_snap_of(config, 40) == (1, 0.06, 2)  # at least one pixel
    assert label_snap_of(RenderConfig(), 160) is None  # off by default (`paper`, runs before stop 73)
    rgb = _two_colours(12)
    sem_t = torch.zeros(10, 24, SCANNET21.num_classes)
    sem_t[:, :11, 1], sem_t[:, 11:, 2] = 1.0, 1.0  # wall | floor, a pixel off the colour edge
    rendering = {"semantics": sem_t, "rgb": torch.from_numpy(rgb)}
    raw, _ = panoptic_from_rendering(rendering, SCANNET21)
    snapped, _ = panoptic_from_rendering(rendering, SCANNET21, snap=label_snap_of(config, 160))
    assert (raw[:, 11] == 2).all() and (snapped[:, :12] == 1).all() and (snapped[:, 12:] == 2).all()
