"""The CPU thread tuner: it keeps the faster thread count, notices a load that arrives later, and the
trainer and the `train` command feed it."""

from __future__ import annotations

import pytest
import torch

from panolift.config import tiny_config
from panolift.lift.threads import ThreadTuner, thread_candidates
from panolift.lift.trainer import Trainer
from panolift.scene import Scene


class FakeMachine:
    """Step durations by thread count, switched by the tuner; ``cost`` can change mid-run (a load)."""

    def __init__(self, cost: dict[int, float]):
        self.cost, self.threads, self.history = cost, None, []

    def set_threads(self, count: int) -> None:
        self.threads = count
        self.history.append(count)

    def run(self, tuner: ThreadTuner, steps: int) -> list[int]:
        used = []
        for _ in range(steps):
            used.append(self.threads)
            tuner.step_done(self.cost[self.threads])
        return used


def test_candidates_are_one_half_and_all():
    assert thread_candidates(1) == [1]
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(16) == [1, 8, 16]


def test_tuner_keeps_the_faster_count_and_moves_when_a_load_arrives():
    machine = FakeMachine({1: 0.30, 2: 0.23})  # idle 2-core box: two threads are faster
    tuner = ThreadTuner([1, 2], block=4, rounds=2, interval=200, set_threads=machine.set_threads)
    used = machine.run(tuner, 16)  # the measurement: 2 rounds x 2 candidates x 4 steps, interleaved
    assert used == [1] * 4 + [2] * 4 + [1] * 4 + [2] * 4
    assert tuner.current == 2 and not tuner.measuring
    assert tuner.choices[-1] == {"threads": 2, "ms": {1: 300.0, 2: 230.0}}
    assert set(machine.run(tuner, 50)) == {2}

    machine.cost = {1: 0.28, 2: 0.69}  # another job takes a core: two spinning threads fight it
    used = machine.run(tuner, 40)
    assert len(tuner.choices) == 2 and tuner.choices[-1]["threads"] == 1
    assert used[:10] == [2] * 10 and used[10] == 1  # slow steps are most of the last 20: measure again
    assert machine.run(tuner, 30) == [1] * 30

    machine.cost = {1: 0.30, 2: 0.23}  # the load is gone: the periodic re-measurement finds it out
    machine.run(tuner, 200 + 16)
    assert tuner.choices[-1]["threads"] == 2 and tuner.current == 2


def test_tuner_with_one_candidate_only_sets_it():
    machine = FakeMachine({3: 0.1})
    tuner = ThreadTuner([3], set_threads=machine.set_threads)
    assert machine.run(tuner, 10) == [3] * 10 and machine.history == [3] and tuner.choices == []


def test_tuner_rejects_nonpositive_counts():
    with pytest.raises(ValueError, match="positive"):
        ThreadTuner([0, 2])


def test_trainer_reports_each_step_to_the_tuner(tiny_scene):
    """Trainer.run times every step for the tuner, which then sets real torch thread counts."""
    config = tiny_config()
    config.train.iterations = 12
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    threads = torch.get_num_threads()
    seen = []

    def set_threads(count: int) -> None:
        seen.append(count)
        torch.set_num_threads(count)

    try:
        tuner = ThreadTuner([1, 2], block=3, rounds=2, give_up=1e9, set_threads=set_threads)
        trainer.run(tuner=tuner)
    finally:
        torch.set_num_threads(threads)
    assert seen[:4] == [1, 2, 1, 2]
    assert len(tuner.choices) == 1 and tuner.choices[0]["threads"] in (1, 2)
    assert all(ms > 0 for ms in tuner.choices[0]["ms"].values())


def test_tuner_gives_up_on_a_much_slower_count_and_measures_less_often_when_nothing_changes():
    machine = FakeMachine({1: 0.04, 2: 1.2})  # a loaded machine: two threads take 30 times as long
    tuner = ThreadTuner([1, 2], block=4, rounds=2, interval=50, set_threads=machine.set_threads)
    used = machine.run(tuner, 12)
    assert used[:4] == [1] * 4 and used[4:6] == [2, 2]  # the switch step, then one measured step: enough
    assert used[6:] == [1] * 6 and tuner.current == 1 and tuner.choices[0]["threads"] == 1
    assert tuner.choices[0]["ms"][2] == 1200.0
    used = machine.run(tuner, 1000)  # each measurement: 4 steps at 1, 2 at 2, 4 at 1 (10 steps)
    starts = [i for i in range(1, len(used)) if used[i] == 2 and used[i - 1] == 1]
    assert starts[0] == 50 - 2 + 4  # 50 steps after the first choice (2 of them above), then 4 at one
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [110, 210, 410]  # interval doubles
    assert all(c["threads"] == 1 for c in tuner.choices)
