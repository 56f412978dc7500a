"""Label votes: the training labels fused on the trained surfaces, kept in the field and blended with the
semantic head (panolift.lift.votes)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from panolift.cli import main
from panolift.config import FieldConfig, tiny_config
from panolift.field import PanopticField
from panolift.field.tensorf import resolution_from_voxels
from panolift.lift.batching import rays_for_pixels
from panolift.lift.votes import fuse_label_votes, splat_votes, vote_pixels
from panolift.render import render_rays
from panolift.runs import TrainingRun, load_run
from panolift.runs.checkpoints import latest_checkpoint, read_checkpoint, write_checkpoint
from panolift.runs.rendering import (
    OPEN_COLOR,
    UNLABELLED_COLOR,
    UNLABELLED_WARN_SHARE,
    render_run,
    unlabelled_mask,
    unlabelled_message,
    unseen_picture,
)
from panolift.runs.validate import check_checkpoint_values
from panolift.scene import SceneError
from panolift.scene.io import read_rgb

NUM_CLASSES = 5


def _field(share: float = 0.5) -> PanopticField:
    config = FieldConfig(
        grid_resolution_init=8, grid_resolution_final=8, density_components=2, appearance_components=2,
        appearance_features=4, color_mlp_width=8, semantic_width=8, semantic_layers=1, instance_width=8,
        instance_layers=1, head_grid_components=2, head_grid_resolution=8, num_slots=4, label_votes=share,
    )  # fmt: skip
    torch.manual_seed(0)
    return PanopticField(config, NUM_CLASSES)


def _votes_on(field: PanopticField, shape, points: torch.Tensor, values: torch.Tensor) -> None:
    sums = torch.zeros(math.prod(shape), NUM_CLASSES)
    splat_votes(sums, shape, field.aabb, points, values)
    mass = sums.sum(1)
    nodes = torch.nonzero(mass > 0)[:, 0]
    field.set_label_votes(shape, nodes, mass[nodes], sums[nodes] / mass[nodes, None])


def test_splatted_votes_read_back_at_their_nodes_and_mix_by_mass_between():
    field, shape = _field(), (5, 5, 5)  # nodes every 0.5 over [-1, 1]^3
    a, b = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.5, 0.0, 0.0]])
    one_hot = torch.eye(NUM_CLASSES)
    _votes_on(field, shape, torch.cat([a, b]), torch.stack([3.0 * one_hot[1], 1.0 * one_hot[2]]))
    assert field.has_label_votes and field.label_vote_nodes.shape == (2,)
    votes, voted = field.label_votes_at(
        torch.cat([a, b, torch.tensor([[0.25, 0.0, 0.0], [-0.9, -0.9, -0.9]])])
    )
    torch.testing.assert_close(votes[0], one_hot[1])
    torch.testing.assert_close(votes[1], one_hot[2], atol=1e-3, rtol=0)  # float16 storage
    # halfway: the trilinear mean of the vote sums, 3 : 1
    torch.testing.assert_close(votes[2], torch.tensor([0.0, 0.75, 0.25, 0.0, 0.0]), atol=1e-3, rtol=0)
    assert voted.tolist() == [True, True, True, False]  # no voted node around the last point


def test_unlabelled_pixels_are_the_opaque_ones_whose_surface_has_no_voted_node_near():
    field, shape = _field(), (5, 5, 5)
    assert unlabelled_mask(field, {}) is None  # no votes: nothing to tell
    _votes_on(field, shape, torch.tensor([[0.0, 0.0, 0.0]]), torch.eye(NUM_CLASSES)[1:2])
    points = torch.tensor([[0.1, 0.1, 0.1], [0.9, 0.9, 0.9], [0.9, -0.9, 0.9], [0.2, 0.0, 0.0]])
    rendering = {"points": points.reshape(2, 2, 3), "opacity": torch.tensor([[1.0, 1.0], [0.9, 0.1]])}
    # the first point has the voted node among its corners; the second and third do not; the last is
    # a ray that leaves the room (not opaque), whatever its point
    unlabelled, opaque = unlabelled_mask(field, rendering)
    assert unlabelled.tolist() == [[False, True], [True, False]] and opaque.tolist() == [
        [True, True],
        [True, False],
    ]


def test_what_no_training_view_labelled_counts_open_pixels_only_beyond_the_training_rays_open_share():
    class Field:
        label_vote_open_share = None

    # votes from before the count: the unlabelled share of the surface pixels, the open ones left out
    message, share = unlabelled_message(Field, 30, 600, 1000)
    assert share == pytest.approx(0.05) and message.startswith("5.0% of the rendered surface pixels")
    # no training ray ended on no surface: every open pixel looks where no training view did
    Field.label_vote_open_share = 0.0
    message, share = unlabelled_message(Field, 30, 600, 1000)
    assert share == pytest.approx(0.43) and "3.0% surfaces no training ray labelled, 40.0% open" in message
    # the training views show as much open background as this split: nothing beyond it counts
    Field.label_vote_open_share = 0.4
    assert unlabelled_message(Field, 30, 600, 1000)[1] == pytest.approx(0.03)
    Field.label_vote_open_share = 0.3  # a tenth of the split's pixels more open than the training rays
    share = unlabelled_message(Field, 30, 600, 1000)[1]
    assert share == pytest.approx(0.13) and share > UNLABELLED_WARN_SHARE


def test_the_unseen_picture_greys_the_colour_and_marks_unlabelled_surfaces_and_open_rays():
    rgb = np.zeros((2, 3, 3), dtype=np.float32)
    rgb[..., 0] = 0.6  # a red room: grey 0.2
    unlabelled = np.array([[True, False, False], [False, False, False]])
    opaque = np.array([[True, True, False], [True, True, True]])
    picture = unseen_picture(rgb, unlabelled, opaque)
    assert picture.shape == (2, 3, 3) and picture.dtype == np.uint8
    assert (picture[1] == 51).all() and (picture[0, 1] == 51).all()  # labelled surfaces: grey, unmarked
    grey = 0.2 * 255 * 0.45
    np.testing.assert_allclose(picture[0, 0], np.round(grey + 0.55 * np.array(UNLABELLED_COLOR)), atol=1)
    np.testing.assert_allclose(picture[0, 2], np.round(grey + 0.55 * np.array(OPEN_COLOR)), atol=1)


def test_semantics_blend_head_and_votes_where_voted_and_are_the_head_elsewhere():
    field = _field(share=0.3)
    points = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.9, 0.9]])
    head = field.semantics(points)  # no votes yet
    _votes_on(field, (5, 5, 5), points[:1], torch.eye(NUM_CLASSES)[3:4])
    mixed = field.semantics(points)
    torch.testing.assert_close(mixed[0], 0.7 * head[0] + 0.3 * torch.eye(NUM_CLASSES)[3], atol=1e-4, rtol=0)
    torch.testing.assert_close(mixed[1], head[1])
    field.config.label_votes = 0.0  # the head alone, votes kept
    torch.testing.assert_close(field.semantics(points), head)
    field.clear_label_votes()
    assert not field.has_label_votes


def test_votes_survive_a_state_dict_and_a_state_without_them_loads_with_none():
    field = _field()
    old_state = {k: v for k, v in field.state_dict().items() if not k.startswith("label_vote")}
    _votes_on(field, (5, 4, 3), torch.tensor([[0.1, 0.2, 0.3]]), torch.eye(NUM_CLASSES)[1:2])
    loaded = PanopticField.from_state_dict(field.config, NUM_CLASSES, field.state_dict())
    assert loaded.label_vote_shape.tolist() == [5, 4, 3]
    torch.testing.assert_close(loaded.label_vote_classes, field.label_vote_classes)
    points = torch.rand(20, 3) * 2 - 1
    torch.testing.assert_close(loaded.semantics(points), field.semantics(points))
    assert not PanopticField.from_state_dict(field.config, NUM_CLASSES, old_state).has_label_votes


def test_bad_votes_are_refused_in_the_field_and_in_a_checkpoint(tmp_path):
    field = _field()
    with pytest.raises(ValueError, match="outside"):
        field.set_label_votes((2, 2, 2), torch.tensor([8]), torch.ones(1), torch.ones(1, NUM_CLASSES))
    tensors = {
        "field.label_vote_shape": torch.tensor([2, 2, 2]),
        "field.label_vote_nodes": torch.tensor([3, 9]),
    }
    with pytest.raises(SceneError, match="label_vote_nodes names nodes outside the 2x2x2 lattice"):
        check_checkpoint_values(tmp_path / "step_000010.safetensors", tensors)
    with pytest.raises(ValueError, match="open rays of 1.5"):
        field.set_label_votes((2, 2, 2), torch.tensor([3]), torch.ones(1), torch.ones(1, NUM_CLASSES), 1.5)
    with pytest.raises(SceneError, match=r"label_vote_open is \[1.5\], not a share in \[0, 1\]"):
        check_checkpoint_values(
            tmp_path / "step_000010.safetensors", {"field.label_vote_open": torch.tensor([1.5])}
        )


def test_every_pixel_votes_up_to_the_ray_budget_then_the_same_share_of_each_frame():
    class Data:
        width, height, num_frames = 8, 4, 3

    assert [p.tolist() for p in vote_pixels(Data, 96, None)] == [list(range(32))] * 3
    picks = vote_pixels(Data, 30, torch.Generator().manual_seed(0))
    assert [p.shape[0] for p in picks] == [10, 10, 10]
    assert all(p.unique().shape[0] == 10 and int(p.max()) < 32 for p in picks)


def _small_config(share: float):
    config = tiny_config()
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 240, 80, 20
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (80, 160), 160, (200,)  # walls by 80
    config.field.label_votes = share
    return config


def test_a_run_fuses_votes_that_fit_its_labels_and_fuses_them_again_after_more_steps(
    tiny_scene, tmp_path, capsys, caplog, monkeypatch
):
    run = tmp_path / "run"
    with TrainingRun(tiny_scene, run, _small_config(0.4)) as training:
        training.run()
        trainer = training.trainer
        field, data = trainer.field, trainer.data
        assert field.has_label_votes
        assert tuple(field.label_vote_shape.tolist()) == resolution_from_voxels(field.aabb, 24)  # head grids'
        ended = field.label_vote_nodes.clone(), field.label_vote_classes.clone()
        # the tiny scene's views show open background beyond its objects: most of its rays end on nothing
        open_share = field.label_vote_open_share
        assert open_share is not None and 0.3 < open_share < 0.95
        # fusing again gives the same votes (the same rays, the same surfaces)
        again = fuse_label_votes(field, data, trainer.config.render, 24, trainer.config.field.label_vote_rays)
        assert torch.equal(again.nodes, ended[0]) and again.open_share == pytest.approx(open_share)
        torch.testing.assert_close(again.classes.half(), ended[1], atol=2e-3, rtol=0)
        # the votes follow the labels: every training pixel relabelled as one class, all of it votes for it
        targets = data.targets
        saved = [t.clone() for t in (targets.classes, targets.class_prob, targets.confidence)]
        kept = data.target_classes
        k = int(torch.nonzero(kept)[-1]) if kept is not None else 1
        targets.classes.zero_()
        targets.classes[..., 0] = k
        targets.class_prob.zero_()
        targets.class_prob[..., 0] = 255
        targets.confidence.fill_(255)
        relabelled = fuse_label_votes(
            field, data, trainer.config.render, 24, trainer.config.field.label_vote_rays
        )
        for tensor, before in zip(
            (targets.classes, targets.class_prob, targets.confidence), saved, strict=True
        ):
            tensor.copy_(before)
        assert relabelled.nodes.shape[0] > 100
        torch.testing.assert_close(relabelled.classes[:, k], torch.ones(relabelled.nodes.shape[0]))
        # ... and rendered with the blend, every opaque training ray puts at least the votes' share on it
        pixels = torch.arange(0, data.width * data.height, 3)
        origins, dirs = rays_for_pixels(data, torch.zeros_like(pixels), pixels)
        field.set_label_votes(relabelled.shape, relabelled.nodes, relabelled.mass, relabelled.classes)
        with torch.no_grad():
            out = render_rays(field, origins, dirs, trainer.config.render, outputs=("semantics",))
        opaque = out["opacity"] > 0.5
        assert int(opaque.sum()) > 100
        share = out["semantics"][opaque, k] / out["opacity"][opaque]
        assert float(share.min()) >= 0.4 - 1e-3
    # rendering the test views tells how much of them no training ray labelled: little, views of the
    # same room; above the threshold it warns
    with caplog.at_level("INFO", logger="panolift.runs.rendering"):
        render_run(run, out=tmp_path / "render")
        monkeypatch.setattr("panolift.runs.rendering.UNLABELLED_WARN_SHARE", -1.0)
        render_run(run, out=tmp_path / "render")
    shares = [r for r in caplog.records if "no training view labelled" in r.getMessage()]
    assert [r.levelname for r in shares] == ["INFO", "WARNING"] and "saw little or nothing" in shares[
        1
    ].getMessage()
    # ... and pictures where: one per test frame, the open background marked blue
    pictures = sorted((tmp_path / "render" / "unseen").glob("*.png"))
    assert [p.stem for p in pictures] == sorted(load_run(run).open_scene().test_frames)
    picture = read_rgb(pictures[0])
    marked = np.abs(picture.astype(int) - np.array(OPEN_COLOR) * 0.55).max(axis=2) <= 0.45 * 255 + 1
    assert picture.shape[2] == 3 and marked.mean() > 0.3
    # the test views' open background is what the training views show too: it does not count
    assert 0.0 <= float(shares[0].getMessage().split("%")[0]) < 5.0
    written = json.loads((tmp_path / "render" / "unseen.json").read_text())  # the last render's (warned)
    assert written["warned"] and written["train_open"] == pytest.approx(open_share)
    assert f"{100 * written['share']:.1f}%" == shares[1].getMessage().split(" ")[0]
    assert written["share"] == pytest.approx(written["unlabelled"] + written["open_beyond"])
    assert "open beyond the training rays'" in shares[0].getMessage()
    loaded = load_run(run).field  # the checkpoint at the end keeps the votes of training's end
    assert torch.equal(loaded.label_vote_nodes, ended[0]) and torch.equal(loaded.label_vote_classes, ended[1])
    assert loaded.label_vote_open_share == pytest.approx(open_share)
    # a run whose votes were fused before the open share was counted loads, and its render measures the
    # surface pixels alone, as then
    path = latest_checkpoint(run)
    meta, tensors = read_checkpoint(path)
    older = tmp_path / "older"
    shutil.copytree(run, older, ignore=shutil.ignore_patterns("checkpoints", "render"))
    tensors.pop("field.label_vote_open")
    meta.pop("format_version", None)
    write_checkpoint(older, meta, tensors)
    assert load_run(older).field.label_vote_open_share is None
    caplog.clear()
    with caplog.at_level("INFO", logger="panolift.runs.rendering"):
        render_run(older, out=tmp_path / "older-render")
    assert any("of the rendered surface pixels show surfaces" in r.getMessage() for r in caplog.records)
    main(["info", str(run)])
    printed = capsys.readouterr().out
    assert f"label votes  {ended[0].shape[0]} voted nodes of a " in printed
    assert f"; {100 * open_share:.1f}% of the training rays on no surface" in printed
    with TrainingRun(tiny_scene, run, resume=True) as resumed:
        resumed.trainer.config.train.iterations = 260
        resumed.run(stop_at=250)
        assert not resumed.trainer.field.has_label_votes  # the surfaces changed: none until the end
        resumed.run()
        assert resumed.trainer.step == 260 and resumed.trainer.field.has_label_votes
