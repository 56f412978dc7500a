"""Choosing torch's CPU thread count while work runs: steady speed when other jobs share the machine.

torch's CPU kernels run on OpenMP threads that spin while they wait for each other. On an idle 2-core
machine two threads beat one (a `fast` training step: 228 ms against 300 ms), but when another job holds
one of the cores, two spinning threads fight it for the same core and a step takes 686 ms, where one
thread still takes about 280 ms (measured on the 2-core CPU box of the closing note of issue 16). No fixed
count is right for both, and the load changes while a training runs, so :class:`ThreadTuner` measures:
it times blocks of steps at each candidate count, interleaved (A B A B, so that a slow stretch of the
schedule hits every candidate alike), keeps the fastest, and measures again every ``interval`` steps or
as soon as steps get ``drift`` times slower than when it chose.

Changing the count changes the order of floating-point sums in some kernels: a training with the tuner is
not bitwise reproducible. Pass a fixed ``--threads N`` for that.
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_candidates(cpus: int) -> list[int]:
    """Thread counts worth trying on ``cpus`` CPUs: one, half of them and all of them."""
    return sorted({1, max(1, cpus // 2), cpus})


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


class ThreadTuner:
    """Feed it every step's duration (:meth:`step_done`); it sets the thread count through ``set_threads``.

    ``block`` steps per candidate and round (the first of each block is not counted: it pays for the
    switch), ``rounds`` interleaved rounds per measurement. A candidate whose step takes ``give_up`` times
    the best median measured so far is not measured further (on a loaded machine a step with too many
    threads can take 30 times as long: measuring it in full would cost more than it could save). A
    measurement that confirms the choice doubles the interval to the next one (up to 8 times
    ``interval``); a change of choice or of speed brings it back.
    """

    def __init__(
        self,
        candidates: Sequence[int] | None = None,
        block: int = 6,
        rounds: int = 2,
        interval: int = 300,
        drift: float = 1.3,
        give_up: float = 2.0,
        set_threads: Callable[[int], None] = _set_torch_threads,
    ):
        self.candidates = list(candidates) if candidates else thread_candidates(available_cpus())
        if any(c < 1 for c in self.candidates):
            raise ValueError(f"thread counts must be positive, got {self.candidates}")
        self.block, self.rounds, self.base_interval, self.drift = block, rounds, interval, drift
        self.interval, self.give_up = interval, give_up
        self._set_threads = set_threads
        self.current = self.candidates[-1]
        self.choices: list[dict] = []
        """Every decision: {"threads": chosen, "ms": {count: median ms/step}}."""
        self._plan: list[int] = []
        self._samples: dict[int, list[float]] = {}
        self._recent: list[float] = []
        self._since_choice = 0
        self._reference = 0.0
        if len(self.candidates) > 1:
            self._start_measuring()
        else:
            self._apply(self.current)

    @property
    def measuring(self) -> bool:
        return bool(self._plan)

    def _apply(self, count: int) -> None:
        self.current = count
        self._set_threads(count)

    def _start_measuring(self) -> None:
        self._plan = [c for _ in range(self.rounds) for c in self.candidates for _ in range(self.block)]
        self._samples = {c: [] for c in self.candidates}
        self._first_of_block = True
        self._apply(self._plan[0])

    def step_done(self, seconds: float) -> None:
        """Record the duration of the step just run (at :attr:`current` threads)."""
        if len(self.candidates) == 1:
            return
        if self._plan:
            count = self._plan.pop(0)
            if not self._first_of_block:
                self._samples[count].append(seconds)
                others = [statistics.median(v) for c, v in self._samples.items() if v and c != count]
                if others and seconds > self.give_up * min(others):
                    self._plan = [c for c in self._plan if c != count]  # clearly slower: stop measuring it
            self._first_of_block = bool(self._plan) and self._plan[0] != count
            if self._plan:
                if self._plan[0] != count:
                    self._apply(self._plan[0])
            else:
                self._choose()
            return
        self._since_choice += 1
        self._recent = (self._recent + [seconds])[-20:]
        slower = len(self._recent) == 20 and statistics.median(self._recent) > self.drift * self._reference
        if self._since_choice >= self.interval or slower:
            if slower:
                log.info("steps %.1fx slower than when the thread count was chosen: measuring again",
                         statistics.median(self._recent) / self._reference)  # fmt: skip
                self.interval = self.base_interval
            self._start_measuring()

    def _choose(self) -> None:
        medians = {c: statistics.median(s) for c, s in self._samples.items() if s}
        best = min(medians, key=medians.get)
        self.choices.append({"threads": best, "ms": {c: round(1000 * m, 1) for c, m in medians.items()}})
        if not self.choices[:-1] or self.choices[-2]["threads"] != best:
            log.info(
                "CPU threads: %d (%s)",
                best,
                ", ".join(f"{c}: {1000 * m:.0f} ms/step" for c, m in medians.items()),
            )
            self.interval = self.base_interval
        else:  # the same choice again: measure less often
            self.interval = min(2 * self.interval, 8 * self.base_interval)
        self._apply(best)
        self._reference = medians[best]
        self._recent, self._since_choice = [], 0


__all__ = ["ThreadTuner", "available_cpus", "thread_candidates"]
