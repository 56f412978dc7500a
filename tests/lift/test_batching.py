"""Training batches: rays made on the fly from (frame, pixel) agree with the scene's ray generator."""

from __future__ import annotations

import numpy as np
import torch

from panolift.lift.batching import load_training_data, rays_for_pixels, sample_image_batch, sample_scene_batch
from panolift.scene import Scene, generate_rays


def test_rays_for_pixels_are_the_scene_rays_of_those_pixels(tiny_scene):
    scene = Scene(tiny_scene)
    normalization = scene.normalization()
    data = load_training_data(scene, normalization, num_slots=16)
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(data.num_frames, (300,), generator=gen)
    pixels = torch.randint(data.width * data.height, (300,), generator=gen)
    origins, dirs = rays_for_pixels(data, frames, pixels)
    for i in range(0, 300, 17):  # the slow way: one pixel at a time through generate_rays
        name = data.frame_names[int(frames[i])]
        c2w = torch.as_tensor(normalization.apply_to_poses(scene.pose(name)), dtype=torch.float32)
        xy = torch.tensor([[int(pixels[i]) % data.width, int(pixels[i]) // data.width]])
        o, d = generate_rays(
            torch.as_tensor(scene.intrinsics, dtype=torch.float32), c2w, data.width, data.height, xy
        )
        torch.testing.assert_close(origins[i], o[0])
        torch.testing.assert_close(dirs[i], d[0])


def test_batches_carry_the_targets_of_their_pixels(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    gen = torch.Generator().manual_seed(1)
    batch = sample_scene_batch(data, 256, gen)
    assert batch["origins"].shape == (256, 3) and batch["rgb"].shape == (256, 3)
    np.testing.assert_allclose(batch["probability"].sum(-1).numpy(), 1.0, atol=2e-2)
    image = sample_image_batch(data, 128, gen)
    assert (image["origins"] == image["origins"][0]).all() and (image["frame"] == image["frame"][0]).all()
    assert (image["segments"][1:] >= image["segments"][:-1]).all()  # grouped by segment


def test_frames_with_more_instances_than_slots_are_summed_up_in_one_warning(tiny_scene, caplog):
    scene = Scene(tiny_scene)
    counts = {}
    for name in scene.train_frames:
        instance = scene.machine_label_maps(name)[1]
        counts[name] = len(np.unique(instance[instance > 0]))
    over = {name: n - 1 for name, n in counts.items() if n > 1}  # one slot: all but the largest dropped
    assert over, counts
    with caplog.at_level("WARNING", logger="panolift.lift.batching"):
        data = load_training_data(scene, scene.normalization(), num_slots=1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings  # not one a frame
    worst = max(over, key=over.get)
    assert warnings[0].startswith(f"{len(over)} of {len(scene.train_frames)} training frames")
    assert f"{sum(over.values())} in all, {over[worst]} of {counts[worst]} in frame {worst})" in warnings[0]
    for frame in range(data.num_frames):  # at most one 2D instance a frame is left
        kept = data.targets.instance[frame]
        assert len(torch.unique(kept[kept > 0])) <= 1


def test_balanced_image_batches_give_every_2d_instance_an_even_share(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=4096)
    things = [
        f[(f > 0) & (c > 0)] for f, c in zip(data.targets.instance, data.targets.confidence, strict=True)
    ]
    areas = [torch.unique(f, return_counts=True)[1] for f in things]
    frame = max(
        range(len(areas)), key=lambda i: float(areas[i].max() / areas[i].min()) if len(areas[i]) > 1 else 0
    )
    ids, area = torch.unique(things[frame], return_counts=True)
    assert int(area.max()) > 4 * int(area.min()), area  # sizes differ a lot

    def shares(balanced: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Each instance's share of the thing rays with pixel weight 0 and with pixel weight 1."""
        counts = torch.zeros(2, len(ids))
        gen = torch.Generator().manual_seed(2)
        while counts.sum() < 6000:
            batch = sample_image_batch(data, 256, gen, balanced=balanced)
            if int(batch["frame"][0]) != frame:
                continue
            thing = batch["instance"] > 0
            assert (batch["pixel_weight"][~thing] == 1).all()  # the labelled half: as ever
            hits = (batch["instance"][thing][:, None] == ids[None]).float()
            for w in (0, 1):
                counts[w] += hits[batch["pixel_weight"][thing] == w].sum(0)
        return counts[0] / counts[0].sum().clamp_min(1), counts[1] / counts[1].sum()

    small = int(area.argmin())
    (even, by_pixel), (none, unbalanced) = shares(True), shares(False)
    assert float(none.sum()) == 0  # an unbalanced batch: every ray weighs 1
    torch.testing.assert_close(by_pixel, area / area.sum(), atol=0.05, rtol=0)
    torch.testing.assert_close(unbalanced, area / area.sum(), atol=0.05, rtol=0)
    assert float(even.max() / even.min()) < 1.6  # each instance about 1 / len(ids)
    assert float(even[small]) > 3 * float(by_pixel[small])  # the smallest object is drawn far more often


def test_batches_name_the_pixel_of_each_ray(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    generator = torch.Generator().manual_seed(3)
    for batch in (sample_scene_batch(data, 200, generator), sample_image_batch(data, 200, generator, True)):
        origins, dirs = rays_for_pixels(data, batch["frame"], batch["pixel"])
        assert torch.allclose(origins, batch["origins"]) and torch.allclose(dirs, batch["dirs"])
        # (frame, pixel) is the key of the head phase's sample cache: one ray per key
        keys = batch["frame"] * data.width * data.height + batch["pixel"]
        assert int(keys.max()) < data.num_frames * data.width * data.height


def test_edge_rays_fall_on_the_edges_of_the_2d_segments(tiny_scene):
    """boundary_pixels against a pixel-by-pixel twin (a pixel within one pixel, 3x3, of a pair of
    4-neighbours in different segments), and a batch with edge_share draws that share from them."""
    from panolift.lift.batching import boundary_pixels

    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    H, W = data.height, data.width
    seg = data.targets.segments.view(data.num_frames, H, W).numpy()
    differs = np.zeros(seg.shape, dtype=bool)
    for f, y, x in np.ndindex(*seg.shape):
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            if 0 <= y + dy < H and 0 <= x + dx < W and seg[f, y + dy, x + dx] != seg[f, y, x]:
                differs[f, y, x] = True
    near = np.zeros_like(differs)
    for f, y, x in zip(*np.nonzero(differs), strict=True):
        near[f, max(0, y - 1) : y + 2, max(0, x - 1) : x + 2] = True
    want = np.nonzero(near.reshape(-1))[0]
    got = boundary_pixels(data).numpy()
    np.testing.assert_array_equal(got, want)
    assert 0 < want.size < near.size  # the tiny scene has segments and insides
    plain = sample_scene_batch(data, 400, torch.Generator().manual_seed(5))
    batch = sample_scene_batch(data, 400, torch.Generator().manual_seed(5), edge_share=0.5)
    flat = (batch["frame"] * H * W + batch["pixel"]).numpy()
    on_edge = np.isin(flat, want)
    assert on_edge[200:].all()  # the edge share comes last
    assert (
        on_edge[:200].mean() < 0.9
        and on_edge.mean() > np.isin((plain["frame"] * H * W + plain["pixel"]).numpy(), want).mean()
    )
    origins, _ = rays_for_pixels(data, batch["frame"], batch["pixel"])
    torch.testing.assert_close(origins, batch["origins"])


def test_the_trainer_draws_its_scene_rays_with_the_configured_edge_share(tiny_scene, monkeypatch):
    import panolift.lift.trainer as trainer_module
    from panolift.config import tiny_config

    scene = Scene(tiny_scene)
    config = tiny_config()
    config.train.edge_rays = 0.4
    shares = []

    def spy(data, num_rays, generator, edge_share=0.0):
        shares.append(edge_share)
        return sample_scene_batch(data, num_rays, generator, edge_share)

    monkeypatch.setattr(trainer_module, "sample_scene_batch", spy)
    trainer = trainer_module.Trainer(scene, scene.normalization(), config)
    trainer.train_step()
    assert shares and shares[0] == 0.4 and trainer.data.boundary is not None


def test_class_views_count_the_training_frames_whose_labels_make_each_class_most_likely(tiny_scene):
    from panolift.lift.targets import quantize_unit

    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    want = np.zeros(scene.class_set.num_classes, dtype=np.int64)
    for name in scene.train_frames:  # the slow way: each frame's labels as the scene gives them
        labels = scene.machine_labels(name, tta=True)
        usable = ~scene.invalid_mask(name)
        labelled = usable & (labels.semantics > 0) & (quantize_unit(labels.confidence) > 0)
        top = labels.probability.argmax(-1)[labelled]
        want[np.unique(top)] += 1
    np.testing.assert_array_equal(data.class_views.numpy(), want)
    assert (want == 1).any() and (want > 2).any()  # the tiny scene has a class of one view, and others


def test_pixels_of_a_class_too_few_views_show_carry_no_class_target(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    assert data.keep_classes_seen_in(1) == [] and data.target_classes is None  # every class the labels show
    plain = sample_scene_batch(data, 2000, torch.Generator().manual_seed(3))
    views = data.class_views
    left_out = data.keep_classes_seen_in(3)
    assert left_out == [c for c in range(1, len(views)) if 0 < views[c] < 3] and left_out
    batch = sample_scene_batch(data, 2000, torch.Generator().manual_seed(3))
    top = batch["probability"].argmax(-1)
    out = torch.isin(top, torch.tensor(left_out))
    assert out.any() and (plain["confidence"][out] > 0).any()
    assert (batch["confidence"][out] == 0).all()
    torch.testing.assert_close(batch["confidence"][~out], plain["confidence"][~out])
    torch.testing.assert_close(batch["probability"], plain["probability"])  # the same rays, same classes
    gen = torch.Generator().manual_seed(4)
    for _ in range(20):  # R_I draws labelled and thing pixels from the lifted classes only
        image = sample_image_batch(data, 256, gen)
        kept = image["confidence"] > 0
        assert (
            kept.any() and not torch.isin(image["probability"][kept].argmax(-1), torch.tensor(left_out)).any()
        )
        assert not torch.isin(image["probability"].argmax(-1), torch.tensor(left_out)).any()


def test_the_trainer_names_the_classes_it_does_not_lift(tiny_scene, caplog):
    from panolift.config import tiny_config
    from panolift.lift.trainer import Trainer

    scene = Scene(tiny_scene)
    config = tiny_config()
    config.loss.min_class_views = 2
    with caplog.at_level("INFO", logger="panolift.lift.trainer"):
        trainer = Trainer(scene, scene.normalization(), config)
    views = trainer.data.class_views.tolist()
    single = [scene.class_set.names[c] for c in range(1, len(views)) if views[c] == 1]
    assert single and trainer.data.target_classes is not None
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not lifted")]
    assert len(said) == 1 and all(f"{name} (1 frame)" in said[0] for name in single), said
    assert trainer.train_step() is not None
