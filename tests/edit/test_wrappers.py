"""Wrapper details: slot removal, attribute forwarding, occupancy for the real renderer, the strip."""

from __future__ import annotations

import numpy as np
import torch

from panolift.config import RegionConfig, RenderConfig
from panolift.edit import Edit, EditList, apply_edits
from panolift.edit.wrappers import DeleteInstance, remove_slot
from panolift.field import compute_occupancy
from panolift.render import own_attribute, panoptic_from_rendering, render_image, unwrap_field
from panolift.runs.rendering import GUTTER, compose_strip
from panolift.scene import SCANNET21, SceneNormalization

SETTINGS = RegionConfig(resolution=64, density_threshold=100.0, dilation=1)
IDENTITY = SceneNormalization(center=np.zeros(3), scale=1.0)
CONFIG = RenderConfig(step_ratio=0.5, chunk_rays=8192)


def test_remove_slot_renormalises_and_keeps_zero_rows():
    pi = torch.tensor([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    out = remove_slot(pi, 1)
    assert torch.allclose(out, torch.tensor([[2 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]]))


def test_wrappers_forward_attributes_but_not_the_renderer_speed_ups(box_field, thing_mask):
    edited = apply_edits(box_field, EditList("x", [Edit("delete", 1)], region=SETTINGS), thing_mask, 1.0)
    assert isinstance(edited, DeleteInstance) and unwrap_field(edited) is box_field
    assert edited.num_slots == box_field.num_slots and torch.equal(edited.aabb, box_field.aabb)
    assert own_attribute(edited, "density") is None  # the renderer must call the wrapper, not the field
    copied = apply_edits(
        box_field, EditList("x", [Edit("duplicate", 1, (0.0, 1.5, 0.0))], region=SETTINGS), thing_mask, 1.0
    )
    assert copied.num_slots == box_field.num_slots + 1
    # the chair [-0.2, 0.1) in y, moved by 1.5, leaves the unit box: the sampling box grows to hold it
    assert copied.aabb[0, 1] == box_field.aabb[0, 1] and copied.aabb[1, 1] >= 1.6


def occupancy_field(box_field_cls):
    """The box field with an occupancy grid, as a trained field has: the renderer skips empty cells."""

    class WithOccupancy(box_field_cls):
        @property
        def occupancy(self):
            if not hasattr(self, "_grid"):
                self._grid = compute_occupancy(
                    lambda p: self(p, torch.zeros_like(p)).density, self.aabb, (32,) * 3, 0.01, 1e-3
                )
            return self._grid

    return WithOccupancy()


def test_real_renderer_with_occupancy_draws_a_copy_in_empty_space(box_field_cls, thing_mask, camera):
    field = occupancy_field(box_field_cls)
    K, c2w, width, height = camera
    t = (0.25, -0.5, 0.0)
    edited = apply_edits(field, EditList("x", [Edit("duplicate", 1, t)], region=SETTINGS), thing_mask, 1.0)
    grid = own_attribute(edited, "occupancy")
    assert grid is not None and grid.mask.sum() > field.occupancy.mask.sum()  # the copy's cells added
    out = render_image(edited, K, c2w, width, height, IDENTITY, CONFIG)
    ids = panoptic_from_rendering(out, SCANNET21)[1]
    lo, hi, cls, _, colour = field.boxes[2]
    copy_box = (
        tuple(a + b for a, b in zip(lo, t, strict=True)),
        tuple(a + b for a, b in zip(hi, t, strict=True)),
    )
    expected_field = box_field_cls(boxes=field.boxes + [(*copy_box, cls, 5, colour)], num_slots=6)
    expected = panoptic_from_rendering(
        render_image(expected_field, K, c2w, width, height, IDENTITY, CONFIG), SCANNET21
    )[1]
    assert (expected == 6).sum() > 50
    assert (ids == expected).mean() > 0.98


def test_before_after_strip_layout(box_field, thing_mask, camera):
    K, c2w, width, height = camera
    edited = apply_edits(box_field, EditList("x", [Edit("delete", 1)], region=SETTINGS), thing_mask, 1.0)
    before = render_image(box_field, K, c2w, width, height, IDENTITY, CONFIG)
    after = render_image(edited, K, c2w, width, height, IDENTITY, CONFIG)
    strip = compose_strip(before, after, SCANNET21)
    assert strip.shape == (2 * height + GUTTER, 2 * width + GUTTER, 3)
    rgb_before = np.round(before["rgb"].clamp(0, 1).numpy() * 255).astype(np.uint8)
    assert np.array_equal(strip[:height, :width], rgb_before)
    assert not np.array_equal(strip[:height, width + GUTTER :], rgb_before)  # the chair is gone on the right
    assert (strip[height : height + GUTTER] == 255).all()
