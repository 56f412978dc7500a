"""The panoptic field: outputs, grid resampling (upsampling / shrinking), state round trip."""

from __future__ import annotations

import pytest
import torch

from panolift.config import tiny_config
from panolift.field import PanopticField, TensorVM, compute_tv_loss, resolution_from_voxels
from panolift.scene.io import SceneError


def _field(bounded: bool = True, embedding: int = 0) -> PanopticField:
    torch.manual_seed(0)
    config = tiny_config().field
    config.instance_embedding = embedding
    return PanopticField(config, num_classes=7, bounded=bounded)


def test_outputs_are_well_formed():
    field = _field()
    pts = torch.rand(100, 3) * 2.4 - 1.2  # some outside the [-1, 1]^3 box
    dirs = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1)
    out = field(pts, dirs)
    assert out.density.shape == (100,) and (out.density >= 0).all()
    outside = (pts.abs() > 1).any(-1)
    assert (out.density[outside] == 0).all()
    assert out.rgb.shape == (100, 3) and (out.rgb >= 0).all() and (out.rgb <= 1).all()
    torch.testing.assert_close(out.semantics.sum(-1), torch.ones(100))
    assert out.instance.shape == (100, field.config.num_slots)
    torch.testing.assert_close(out.instance.sum(-1), torch.ones(100))
    logits = _field(bounded=False)(pts, dirs).semantics
    assert not torch.allclose(logits.sum(-1), torch.ones(100))


def test_embedding_field_gives_raw_embeddings_to_training_and_cluster_distributions_to_everyone_else():
    field = _field(embedding=5)
    pts = torch.rand(50, 3) * 2 - 1
    raw = field.instance_embedding(pts)
    assert raw.shape == (50, 5) and (raw < 0).any()  # unbounded: not a distribution
    with field.embedding_mode():
        torch.testing.assert_close(field.instance(pts), raw)
    assert field.slot_class_prior is None
    torch.testing.assert_close(field.instance(pts), torch.ones(50, 1))  # before clustering: one instance
    centres = torch.stack([raw[0], raw[1], raw[0] + 10.0])
    prior = torch.eye(7)[[3, 4]]
    field.set_instance_clusters(centres, torch.tensor([0, 1, 1]), prior)  # centres 1 and 2: one instance
    dist = field.instance(pts)
    assert dist.shape == (50, 2)
    torch.testing.assert_close(dist.sum(-1), torch.ones(50))
    assert int(dist[0].argmax()) == 0 and int(dist[1].argmax()) == 1
    torch.testing.assert_close(field.slot_class_prior, prior)
    # the clusters are part of the state, whatever their number
    state = {k: v.clone() for k, v in field.state_dict().items()}
    loaded = PanopticField.from_state_dict(field.config, 7, state)
    torch.testing.assert_close(loaded.instance(pts), dist)
    older = {k: v for k, v in state.items() if not k.startswith("instance_c")}  # a run from before clusters
    assert not PanopticField.from_state_dict(field.config, 7, older).has_instance_clusters
    field.clear_instance_clusters()
    assert not field.has_instance_clusters and field.instance(pts).shape == (50, 1)


def test_colour_without_the_view_direction_is_one_colour_a_point_for_every_camera():
    torch.manual_seed(0)
    config = tiny_config().field
    config.color_pe_view = 2
    pts = torch.rand(40, 3) * 2 - 1
    dirs_a = torch.nn.functional.normalize(torch.randn(40, 3), dim=-1)
    dirs_b = torch.nn.functional.normalize(torch.randn(40, 3), dim=-1)
    with_view = PanopticField(config, num_classes=7)
    assert not torch.allclose(with_view.color(pts, dirs_a), with_view.color(pts, dirs_b))
    config.color_view = False
    torch.manual_seed(0)
    without = PanopticField(config, num_classes=7)
    torch.testing.assert_close(without.color(pts, dirs_a), without.color(pts, dirs_b))
    assert not torch.allclose(
        without.color(pts, dirs_a), without.color(pts.flip(0), dirs_a)
    )  # still by place
    # the same parameters either way: a run's state loads into both
    assert with_view.state_dict().keys() == without.state_dict().keys()
    for name, value in with_view.state_dict().items():
        assert value.shape == without.state_dict()[name].shape, name


def test_num_slots_is_configurable():
    config = tiny_config().field
    config.instance_embedding = 0
    config.num_slots = 41
    field = PanopticField(config, num_classes=5)
    assert field(torch.zeros(3, 3), torch.ones(3, 3)).instance.shape == (3, 41)


def test_resolution_follows_box_aspect():
    aabb = torch.tensor([[0.0, 0.0, 0.0], [2.0, 1.0, 0.5]])
    res = resolution_from_voxels(aabb, 32)
    assert res[0] > res[1] > res[2]
    assert abs(res[0] * res[1] * res[2] - 32**3) / 32**3 < 0.15


def test_upsampling_and_shrinking_preserve_the_function():
    torch.manual_seed(1)
    grid = TensorVM((9, 7, 8), 3, init_scale=1.0)
    with torch.no_grad():  # smooth content so that resampling is nearly exact
        for p in list(grid.planes) + list(grid.lines):
            p.copy_(torch.nn.functional.avg_pool2d(p, 3, stride=1, padding=1, count_include_pad=False))
    old_box = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    new_box = torch.tensor([[-0.5, -0.8, -0.2], [0.7, 0.6, 0.9]])
    pts = torch.rand(300, 3) * (new_box[1] - new_box[0]) + new_box[0]
    before = grid(pts)
    grid.resample(old_box, new_box, (40, 40, 40))
    after = grid((pts - new_box[0]) / (new_box[1] - new_box[0]) * 2 - 1)
    assert grid.resolution == (40, 40, 40)
    assert (after - before).abs().max() < 0.05 * before.abs().max()


def test_state_dict_round_trip_after_resampling():
    field = _field()
    field.resample(torch.tensor([[-0.6, -0.5, -0.4], [0.5, 0.6, 0.3]]), 20)
    field.set_occupancy(field.aabb, torch.rand(5, 6, 4) > 0.5)
    clone = PanopticField.from_state_dict(field.config, 7, field.state_dict())
    pts = torch.rand(50, 3) - 0.5
    dirs = torch.nn.functional.normalize(torch.randn(50, 3), dim=-1)
    a, b = field(pts, dirs), clone(pts, dirs)
    for key in ("density", "rgb", "semantics", "instance"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key))
    assert clone.resolution == field.resolution
    torch.testing.assert_close(clone.occupancy.mask, field.occupancy.mask)


def test_instance_grid_can_be_coarser_than_the_semantic_grid_and_keeps_its_size_through_resampling(tmp_path):
    from panolift.config import tiny_config as preset
    from panolift.runs.validate import SAFETENSORS_DTYPE, check_checkpoint_headers

    torch.manual_seed(0)
    config = preset()
    config.field.head_grid_resolution, config.field.instance_grid_resolution = 24, 12
    field = PanopticField(config.field, num_classes=7)
    assert max(field.semantic_grid.resolution) == 24 and max(field.instance_grid.resolution) == 12
    box = torch.tensor([[-0.6, -0.5, -0.4], [0.5, 0.6, 0.3]])
    field.resample(box, 20)
    assert field.semantic_grid.resolution == resolution_from_voxels(box, 24)
    assert field.instance_grid.resolution == resolution_from_voxels(box, 12)
    field.set_occupancy(field.aabb, torch.rand(5, 6, 4) > 0.5)
    clone = PanopticField.from_state_dict(config.field, 7, field.state_dict())
    assert clone.instance_grid.resolution == field.instance_grid.resolution
    pts = torch.rand(50, 3) - 0.5
    torch.testing.assert_close(clone.instance(pts), field.instance(pts))
    # a checkpoint's headers are read at the two sizes
    headers = {
        f"field.{k}": (tuple(v.shape), SAFETENSORS_DTYPE[v.dtype]) for k, v in field.state_dict().items()
    }
    check_checkpoint_headers(tmp_path / "c.safetensors", config, headers, 7)
    wrong = {
        **headers,
        "field.instance_grid.planes.0": ((1, 5, 12, 12), "F32"),
    }  # not a plane of 4 components
    with pytest.raises(SceneError, match="instance_grid"):
        check_checkpoint_headers(tmp_path / "c.safetensors", config, wrong, 7)
    default = PanopticField(preset().field, num_classes=7)  # 0: the semantic grid's size
    assert default.instance_grid.resolution == default.semantic_grid.resolution


def test_tv_loss_zero_on_constant_grids():
    planes = [torch.ones(1, 2, 5, 6)] * 3
    lines = [torch.ones(1, 2, 5, 1)] * 3
    assert float(compute_tv_loss(planes, lines)) == 0.0
    lines = [torch.arange(5.0).view(1, 1, 5, 1)] * 3
    assert abs(float(compute_tv_loss(planes, lines)) - 3.0) < 1e-6


def test_tensor_vm_is_the_sum_of_plane_times_line_products():
    """Twin: f_{m,c}(x) = P_{m,c}(x_a, x_b) L_{m,c}(x_v), bilinear / linear interpolation written out by hand
    (align_corners: node i of n sits at u = -1 + 2 i / (n - 1))."""
    torch.manual_seed(0)
    vm = TensorVM((5, 4, 6), num_components=3)
    points = torch.rand(40, 3) * 2 - 1
    features = vm(points)

    def interp1(values: torch.Tensor, u: float) -> torch.Tensor:  # values (n,) along an axis
        x = (u + 1) / 2 * (values.shape[0] - 1)
        i0 = min(int(x), values.shape[0] - 2)
        return values[i0] * (1 - (x - i0)) + values[i0 + 1] * (x - i0)

    for p in range(points.shape[0]):
        expected = []
        for mode, ((a, b), v) in enumerate(zip(((0, 1), (0, 2), (1, 2)), (2, 1, 0), strict=True)):
            for c in range(3):
                plane = vm.planes[mode][0, c]  # (res_b, res_a)
                rows = torch.stack([interp1(plane[j], float(points[p, a])) for j in range(plane.shape[0])])
                value = interp1(rows, float(points[p, b]))
                expected.append(value * interp1(vm.lines[mode][0, c, :, 0], float(points[p, v])))
        torch.testing.assert_close(features[p], torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_lookups_split_over_threads_give_grid_sample_values_and_gradients(monkeypatch):
    """bilinear_lookup splits a lookup into one chunk per CPU thread (torch's CPU grid_sample runs a batch
    of one on one thread); values and gradients must be those of one grid_sample call, for any number of
    points (padding) and threads."""
    import torch.nn.functional as F

    import panolift.field.tensorf as tensorf

    monkeypatch.setattr(tensorf, "MIN_POINTS_PER_THREAD", 8)
    torch.manual_seed(0)
    values = torch.randn(1, 3, 7, 9, requires_grad=True)
    threads = torch.get_num_threads()
    try:
        for num_threads, num_points in ((1, 50), (2, 51), (3, 100), (4, 7)):
            torch.set_num_threads(num_threads)
            coords = torch.rand(num_points, 2) * 2.2 - 1.1  # some outside the grid: zeros, as grid_sample
            upstream = torch.randn(3, num_points)
            (got,) = torch.autograd.grad((tensorf.bilinear_lookup(values, coords) * upstream).sum(), values)
            want_values = F.grid_sample(values, coords.view(1, -1, 1, 2), align_corners=True)[0, :, :, 0]
            (want,) = torch.autograd.grad((want_values * upstream).sum(), values)
            torch.testing.assert_close(tensorf.bilinear_lookup(values, coords), want_values)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    finally:
        torch.set_num_threads(threads)


def test_node_sums_interpolate_to_the_factorised_sum_everywhere():
    """The sum of a VM's features is trilinear within each voxel, so trilinear interpolation of its node
    values gives it exactly at any point, on any box aspect (the rendering's baked density)."""
    from panolift.field.tensorf import trilinear_lookup

    torch.manual_seed(3)
    vm = TensorVM((7, 5, 9), num_components=4, init_scale=1.0)
    points = torch.rand(500, 3) * 2 - 1
    points[:6] = torch.tensor([[-1.0, -1, -1], [1, 1, 1], [1, -1, 1], [-1, 1, -1], [0, 0, 0], [1, 0.5, -1]])
    volume = vm.node_sums()
    assert volume.shape == (1, 1, 9, 5, 7)
    torch.testing.assert_close(trilinear_lookup(volume, points)[0], vm(points).sum(-1), atol=1e-5, rtol=1e-5)


def test_rendering_reads_a_baked_density_that_follows_every_change_of_the_grid(monkeypatch):
    import panolift.field.panoptic as panoptic

    field = _field()
    with torch.no_grad():
        for p in field.density_grid.parameters():
            p.normal_(0, 3.0)  # densities far from zero, so that a stale bake would show
    pts = torch.rand(400, 3) * 2.2 - 1.1
    factorised = field.density(pts)  # train mode (a new module's default) with gradients: never baked
    assert factorised.requires_grad and field._baked_density is None
    field.eval()
    with torch.no_grad():
        baked = field.density(pts)
        assert field._baked_density is not None
        torch.testing.assert_close(baked, factorised.detach(), atol=1e-4, rtol=1e-4)
        field.density_grid.planes[1].mul_(-0.5)  # an in-place update (an optimizer step, load_state_dict)
        field.train()
        want = field.density(pts)
        field.eval()
        torch.testing.assert_close(field.density(pts), want, atol=1e-4, rtol=1e-4)
        assert (want - baked).abs().max() > 1.0
    field.resample(torch.tensor([[-0.6, -0.5, -0.4], [0.5, 0.6, 0.3]]), 10)  # new parameters, new box
    inner = torch.rand(300, 3) - 0.5
    with torch.no_grad():
        got = field.density(inner)
        field.train()
        torch.testing.assert_close(got, field.density(inner), atol=1e-4, rtol=1e-4)
        field.eval()
    assert field.density(inner).requires_grad  # gradients asked for: the planes and lines, not the bake
    monkeypatch.setattr(panoptic, "BAKED_DENSITY_MAX_NODES", 10)
    assert field.baked_density() is None  # over the cap: read factorised
    with torch.no_grad():
        torch.testing.assert_close(field.density(inner), got)
