"""Picking an instance from a pixel of the shown image, and from the field along the click's ray."""

from __future__ import annotations

import numpy as np
import torch

from panolift.scene import generate_rays
from panolift.view import (
    Pick,
    fov_from_intrinsics,
    intrinsics_from_fov,
    pick_along_ray,
    pick_pixel,
    pick_shown,
    render_view,
)
from panolift.view.images import RenderedView
from panolift.view.picking import pixel_of
from panolift.view.render_loop import Frame, ViewRequest


def test_screen_positions_map_to_pixels():
    assert pixel_of((0.0, 0.0), 64, 48) == (0, 0)
    assert pixel_of((1.0, 1.0), 64, 48) == (63, 47)  # the far corner is still in the image
    assert pixel_of((0.5, 0.25), 64, 48) == (32, 12)
    classes = np.zeros((48, 64), np.int64)
    ids = np.zeros((48, 64), np.int64)
    classes[12, 32], ids[12, 32] = 5, 7
    assert pick_pixel(classes, ids, (0.505, 0.26)) == Pick(5, 7)
    assert not pick_pixel(classes, ids, (0.1, 0.1)).is_instance


def test_a_ray_through_a_pixel_picks_what_the_pixel_shows(session):
    width, height = 48, 36
    best = None
    for camera in session.cameras():  # the training view that shows the most instance pixels
        K = intrinsics_from_fov(fov_from_intrinsics(camera.K, camera.height), width, height)
        view = render_view(
            session.field, K, camera.c2w, width, height, session.normalization, session.thing_mask
        )
        count = int(((view.ids > 0) & (view.opacity > 0.6)).sum())
        if best is None or count > best[0]:
            best = (count, camera, K, view)
    _, camera, K, view = best
    ys, xs = np.nonzero((view.ids > 0) & (view.opacity > 0.6))
    assert len(xs) > 0, "an instance is in a training view"
    _, dirs = generate_rays(torch.tensor(K), torch.tensor(camera.c2w), width, height)
    dirs = dirs.reshape(height, width, 3).numpy()
    agree = 0
    for x, y in list(zip(xs, ys, strict=True))[:: max(1, len(xs) // 12)]:
        pick = pick_along_ray(
            session.field, camera.c2w[:3, 3], dirs[y, x], session.normalization, session.thing_mask
        )
        assert pick is not None and pick.distance > 0
        agree += (pick.class_id, pick.instance_id) == (view.classes[y, x], view.ids[y, x])
        assert (
            pick_pixel(view.classes, view.ids, ((x + 0.5) / width, (y + 0.5) / height)).instance_id
            == view.ids[y, x]
        )
    assert agree >= 0.8 * len(list(zip(xs, ys, strict=True))[:: max(1, len(xs) // 12)])


def test_a_ray_into_nothing_picks_nothing(session):
    away = session.normalization.center + 1e3
    assert pick_along_ray(session.field, away, away, session.normalization, session.thing_mask) is None


def test_a_click_names_what_the_shown_image_shows_while_it_is_current():
    # a chair (class 5, id 7) with a one-pixel speck of another instance (id 9) that the image merged
    classes = np.zeros((48, 64), np.int64)
    ids = np.zeros((48, 64), np.int64)
    classes[10:30, 20:40], ids[10:30, 20:40] = 5, 7
    ids[20, 30] = 9
    opacity = np.ones((48, 64), np.float32)
    opacity[40:, :] = 0.1  # the bottom rows show nothing
    raw = RenderedView(
        np.zeros((48, 64, 3), np.float32), np.ones((48, 64), np.float32), opacity, classes, ids
    )
    shown = raw.without_specks(0.001)
    request = ViewRequest(np.eye(4), 1.0, (64, 48))
    frame = Frame(shown, request, generation=3, final=True, seconds=0.1)
    at_speck = ((30 + 0.5) / 64, (20 + 0.5) / 48)
    assert raw.ids[20, 30] == 9 and shown.ids[20, 30] == 7
    assert pick_shown(frame, 3, at_speck) == Pick(5, 7, opacity=1.0)  # the chair, as drawn
    assert not pick_shown(frame, 3, (0.5, 0.95)).is_instance  # transparent: nothing to select
    assert pick_shown(frame, 4, at_speck) is None  # the camera or the field changed since: ask the field
    assert pick_shown(Frame(shown, request, 3, False, 0.1), 3, at_speck) is None  # a coarse pass
    assert pick_shown(None, 3, at_speck) is None
    assert pick_shown(frame, 3, None) is None
