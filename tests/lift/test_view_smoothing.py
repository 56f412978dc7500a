"""Density smoothing that follows how many training views see each part of the room
(:mod:`panolift.lift.view_smoothing`)."""

from __future__ import annotations

import math

import pytest
import torch

from panolift.config import tiny_config
from panolift.field import compute_tv_loss
from panolift.field.occupancy import OccupancyGrid
from panolift.lift.trainer import Trainer
from panolift.lift.view_smoothing import (
    SparseViewSmoothing,
    frustum_counts,
    plane_weight_maps,
    sparse_view_weight,
    sparsely_seen_share,
    weighted_plane_tv,
)
from panolift.scene import Scene


def _camera(position, yaw_degrees: float) -> torch.Tensor:
    """OpenCV camera at ``position`` looking along +x turned by ``yaw`` about the vertical (-y) axis."""
    yaw = math.radians(yaw_degrees)
    forward = torch.tensor([math.cos(yaw), 0.0, math.sin(yaw)])
    down = torch.tensor([0.0, 1.0, 0.0])
    right = torch.linalg.cross(down, forward)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, torch.tensor(position)
    return c2w


K = torch.tensor([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])


def test_frustum_counts_cameras_in_front_inside_the_image():
    points = torch.tensor([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [2.0, 0.0, 1.5], [0.01, 0.0, 0.0]])
    c2w = torch.stack(
        [_camera((0.0, 0.0, 0.0), 0.0), _camera((0.0, 0.0, 0.5), 0.0), _camera((0, 0, 0), 180.0)]
    )
    counts = frustum_counts(points, c2w, K, 64, 48, near=0.05)
    # ahead of the first two; the third looks the other way and sees the second point only
    assert counts[0] == 2 and counts[1] == 1
    # 1.5 to the side at 2 ahead is outside a 64-pixel image at focal 50 (u = 32 - 50 * 0.75), but the
    # camera moved 0.5 towards it sees it (u = 32 - 50 * 0.5)
    assert counts[2] == 1
    assert counts[3] == 0  # within the near plane of the cameras looking at it


def test_sparse_view_weight_is_one_few_zero_many_linear_between():
    w = sparse_view_weight(torch.tensor([0, 3, 6, 9, 30]), few=3, many=9)
    assert w.tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError, match="must exceed"):
        sparse_view_weight(torch.tensor([1]), few=5, many=5)


def test_plane_maps_average_the_occupied_voxels_along_the_third_axis():
    X, Y, Z = 4, 3, 2
    weights = torch.zeros(X, Y, Z)
    occupied = torch.zeros(X, Y, Z, dtype=torch.bool)
    weights[1, 2, 0], occupied[1, 2, 0] = 1.0, True  # a sparsely seen occupied voxel
    occupied[1, 2, 1] = True  # a well seen one in the same (x, y) column
    weights[3, 0, 1] = 1.0  # sparsely seen but empty: takes no part
    maps = plane_weight_maps(weights, occupied, [(Y, X), (Z, X), (Z, Y)])
    xy, xz, yz = maps
    assert xy.shape == (Y, X) and xz.shape == (Z, X) and yz.shape == (Z, Y)
    assert xy[2, 1] == pytest.approx(0.5) and xy.sum() == pytest.approx(0.5)  # mean of 1 and 0 along z
    assert xz[0, 1] == pytest.approx(1.0) and xz[1, 1] == 0.0 and xz.sum() == pytest.approx(1.0)
    assert yz[0, 2] == pytest.approx(1.0) and yz.sum() == pytest.approx(1.0)
    # resized to finer planes, the map keeps its place and range
    fine = plane_weight_maps(weights, occupied, [(2 * Y, 2 * X), (2 * Z, 2 * X), (2 * Z, 2 * Y)])[0]
    assert fine.shape == (2 * Y, 2 * X) and 0.0 <= float(fine.min()) and float(fine.max()) <= 0.5 + 1e-6
    assert int(fine.argmax()) // (2 * X) in (4, 5) and int(fine.argmax()) % (2 * X) in (2, 3)


def test_weighted_tv_is_the_planes_tv_at_weight_one_and_zero_where_views_are_many():
    gen = torch.Generator().manual_seed(0)
    planes = [torch.randn(1, 3, h, w, generator=gen) for h, w in ((5, 6), (4, 6), (4, 5))]
    lines = [torch.zeros(1, 3, n, 1) for n in (4, 5, 6)]
    ones = [torch.ones(p.shape[-2:]) for p in planes]
    assert float(weighted_plane_tv(planes, ones)) == pytest.approx(float(compute_tv_loss(planes, lines)))
    zeros = [torch.zeros(p.shape[-2:]) for p in planes]
    assert float(weighted_plane_tv(planes, zeros)) == 0.0
    # one sparse node: only the differences that touch it count
    maps = [torch.zeros(p.shape[-2:]) for p in planes]
    maps[0][2, 3] = 1.0
    p = planes[0][0]
    touching = ((p[:, 2, 3] - p[:, 1, 3]).pow(2).sum() + (p[:, 3, 3] - p[:, 2, 3]).pow(2).sum()) / p[
        :, 1:, :
    ].numel() + ((p[:, 2, 3] - p[:, 2, 2]).pow(2).sum() + (p[:, 2, 4] - p[:, 2, 3]).pow(2).sum()) / p[
        :, :, 1:
    ].numel()
    assert float(weighted_plane_tv(planes, maps)) == pytest.approx(float(touching))


def test_sparse_view_smoothing_follows_the_occupancy_grid_and_its_resets():
    # two cameras at the origin look along +x: the half-space x > 0 near the axis is seen twice
    c2w = torch.stack([_camera((0.0, 0.0, 0.0), 0.0), _camera((0.0, 0.0, 0.0), 0.0)])
    smoothing = SparseViewSmoothing(c2w, K, 64, 48, near=0.05)
    planes = [torch.randn(1, 2, h, w) for h, w in ((8, 8), (8, 8), (8, 8))]
    assert float(smoothing.loss(planes, None)) == 0.0  # before the first occupancy grid
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    empty = OccupancyGrid(aabb, torch.zeros(4, 4, 4, dtype=torch.bool))
    assert float(smoothing.loss(planes, empty)) == 0.0
    smoothing.reset()
    full = OccupancyGrid(aabb, torch.ones(4, 4, 4, dtype=torch.bool))
    loss = smoothing.loss(planes, full)
    assert float(loss) > 0.0  # every voxel is seen by at most two views: weight 1 where occupied
    assert float(loss) == pytest.approx(float(weighted_plane_tv(planes, [torch.ones(8, 8)] * 3)))
    # the maps are kept until the trainer's next grid event
    assert float(smoothing.loss(planes, empty)) == pytest.approx(float(loss))
    smoothing.reset()
    assert float(smoothing.loss(planes, empty)) == 0.0


def test_training_with_sparse_view_smoothing_smooths_the_density_planes(train_tiny_steps):
    """On the tiny scene (a dozen views), the extra weight lowers the density planes' total variation
    against the same training without it, and the loss is logged and finite."""
    tvs = {}
    for extra in (0.0, 2.0):
        trainer, metrics = train_tiny_steps("tv_density_sparse", extra)
        assert ("tv_density_sparse" in metrics) == (extra > 0)
        planes = list(trainer.field.density_grid.planes)
        with torch.no_grad():
            tvs[extra] = float(weighted_plane_tv(planes, [torch.ones(p.shape[-2:]) for p in planes]))
    assert tvs[2.0] < 0.8 * tvs[0.0], tvs


def test_sparsely_seen_share_counts_points_few_cameras_image():
    points = torch.tensor([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    looking_ahead = torch.stack([_camera((0.0, 0.0, 0.1 * i), 0.0) for i in range(5)])
    # the point ahead: five cameras; the one behind: none
    assert sparsely_seen_share(points, looking_ahead, K, 64, 48, near=0.05, few=3) == pytest.approx(0.5)
    assert sparsely_seen_share(points, looking_ahead, K, 64, 48, near=0.05, few=5) == pytest.approx(1.0)
    assert sparsely_seen_share(points[:0], looking_ahead, K, 64, 48, near=0.05) == 0.0


def test_training_reports_how_sparse_its_capture_is(tiny_scene, caplog, monkeypatch):
    """The matched surface points' share seen by at most 3 training cameras is logged once the matches
    are made: a warning above the threshold, an info line below it."""
    import panolift.lift.trainer as trainer_module

    scene = Scene(tiny_scene)
    config = tiny_config()
    config.loss.matched_depth = 0.1
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    with caplog.at_level("INFO", logger="panolift.lift.trainer"):
        trainer.train_step()
    assert len(trainer.matched) > 0
    lines = [r for r in caplog.records if "imaged by at most 3 training cameras" in r.getMessage()]
    assert len(lines) == 1  # once, when the matches are made
    share = trainer.report_capture_sparsity()
    assert 0.0 < share < 1.0 and f"{100 * share:.1f}%" in lines[0].getMessage()
    for threshold, level in ((share + 0.01, "INFO"), (share - 0.01, "WARNING")):
        monkeypatch.setattr(trainer_module, "SPARSE_CAPTURE_SHARE", threshold)
        caplog.clear()
        with caplog.at_level("INFO", logger="panolift.lift.trainer"):
            trainer.report_capture_sparsity()
        (record,) = [r for r in caplog.records if "training cameras" in r.getMessage()]
        assert record.levelname == level
        assert ("a sparse capture" in record.getMessage()) == (level == "WARNING")
