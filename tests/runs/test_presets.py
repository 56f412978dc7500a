"""Presets and schedules: `quick` is `fast` compressed, and a schedule keeps its shape at any length."""

from __future__ import annotations

import dataclasses

import pytest
import tyro

from panolift.cli import iterations_of
from panolift.config import (
    QUICK_ITERATIONS,
    LiftConfig,
    TrainConfig,
    fast_config,
    get_preset,
    paper_config,
    tiny_config,
)
from panolift.errors import OptionError
from panolift.lift.schedules import loss_weights_at


def test_a_rescheduled_training_keeps_every_event_at_its_fraction_after_the_first():
    train = TrainConfig(
        iterations=3000, upsample_steps=(400, 800, 1200), occupancy_steps=(100, 200, 1200), shrink_step=1200
    )
    short = train.rescheduled(1000)
    assert short.iterations == 1000 and short.upsample_steps == (133, 267, 400) and short.shrink_step == 400
    # 100 -> 33 and 200 -> 67 would come before the first event (100): the geometry forms first
    assert short.occupancy_steps == (100, 400)
    assert short.rays_scene == train.rays_scene and short.checkpoint_every == train.checkpoint_every
    assert train.iterations == 3000 and train.shrink_step == 1200  # a new config; the old one is kept
    longer = train.rescheduled(6000)
    assert longer.upsample_steps == (800, 1600, 2400) and longer.occupancy_steps == (200, 400, 2400)
    # "never" stays never, events that meet are one event, a head phase keeps at least one step
    tiny = dataclasses.replace(train, shrink_step=-1, head_steps=600).rescheduled(5)
    assert tiny.shrink_step == -1 and tiny.head_steps == 1
    assert tiny.upsample_steps == (100,) and tiny.occupancy_steps == (100,)
    early = dataclasses.replace(train, occupancy_steps=(30, 300)).rescheduled(300)
    assert early.occupancy_steps == (30,) and early.upsample_steps == (40, 80, 120)
    for bad in (0, -3):
        with pytest.raises(OptionError, match="iterations"):
            train.rescheduled(bad)


def test_quick_is_fast_compressed_and_get_preset_reschedules():
    quick, fast = get_preset("quick"), fast_config()
    assert quick.preset == "quick" and fast.preset == "fast"
    assert quick.train.iterations == QUICK_ITERATIONS < fast.train.iterations
    assert quick.train == dataclasses.replace(fast.train.rescheduled(QUICK_ITERATIONS), lr_decay=0.3)
    assert quick.field == dataclasses.replace(fast.field, label_votes=0.6)  # the votes weigh more
    assert quick.render == fast.render
    # `fast`'s lighter density smoothing sharpens outlines over 3000 steps, not over quick's 800
    assert quick.loss == dataclasses.replace(fast.loss, tv_density=0.01) and fast.loss.tv_density == 0.002
    assert (
        fast.field.label_votes == 0.4 and paper_config().field.label_votes == 0
    )  # the paper: the head alone
    assert get_preset("fast", 1500).train.shrink_step == fast.train.shrink_step // 2
    # the room's box from the first upsampling in both; the paper keeps the frusta's box to its shrink
    assert quick.train.box_from_matches == fast.train.box_from_matches == 0.25
    assert paper_config().train.box_from_matches == 0
    assert quick.train.floor_from_matches and fast.train.floor_from_matches  # nothing under the floor
    assert not paper_config().train.floor_from_matches and not tiny_config().train.floor_from_matches
    # the matched depths start with the first upsampling (the finer grid), whatever the steps
    for preset in (fast, quick, get_preset("fast", 1500)):
        first = min(preset.train.upsample_steps)
        assert loss_weights_at(first - 1, preset)["matched_depth"] == 0
        assert loss_weights_at(first, preset)["matched_depth"] == preset.loss.matched_depth > 0
    paper = get_preset("paper", 20_000).train  # the authors' events stay where they are
    assert paper.iterations == 20_000 and paper.upsample_steps == paper_config().train.upsample_steps
    assert get_preset("quick", QUICK_ITERATIONS) == quick
    # from fast's schedule, not a compression of quick's
    assert get_preset("quick", 1000).train.upsample_steps == fast.train.rescheduled(1000).upsample_steps
    with pytest.raises(OptionError, match="unknown preset"):
        get_preset("fastest")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "s", "--train.iterations", "1200"], 1200),
        (["train", "s", "--train.iterations=50", "--preset", "tiny"], 50),
        (["train", "s"], None),
        (["train", "s", "--train.iterations", "many"], None),  # left to the parser's error
        (["train", "s", "--train.iterations", "0"], None),
    ],
)
def test_the_command_line_iterations_are_read_before_the_options(argv, expected):
    assert iterations_of(argv) == expected


def test_the_train_command_takes_the_preset_over_the_command_line_iterations():
    import inspect

    from panolift.cli import load_commands

    def defaults(argv):
        return inspect.signature(load_commands(argv)["train"]).parameters["config"].default

    assert defaults(["train", "s"]).train == fast_config().train
    config = defaults(["train", "s", "--preset", "quick", "--train.iterations", "1000"])
    assert config.preset == "quick" and config.train == get_preset("quick", 1000).train
    assert defaults(["train", "s", "--train.iterations=1600"]).train.shrink_step == 640


def test_fast_and_quick_learn_a_per_frame_exposure_and_the_paper_keeps_every_frame_as_recorded():
    fast = fast_config()
    assert fast.train.frame_exposure and get_preset("quick").train.frame_exposure
    assert not paper_config().train.frame_exposure and not get_preset("tiny").train.frame_exposure
    assert fast.loss.exposure_prior == paper_config().loss.exposure_prior == 0.1
    off = tyro.cli(LiftConfig, default=fast, args=["--train.no-frame-exposure"])
    assert not off.train.frame_exposure
    assert off == dataclasses.replace(fast, train=dataclasses.replace(fast.train, frame_exposure=False))
