"""Schedules: pure functions of the iteration (1-based step) and the configuration."""

from __future__ import annotations

import math

from panolift.config import LiftConfig


def upsample_resolutions(init: int, final: int, num_steps: int) -> list[int]:
    """Voxels per side after each of ``num_steps`` upsamplings, log-spaced from ``init`` to ``final``.

    n_k = round(exp(log(init) + (log(final) - log(init)) k / num_steps)), k = 1..num_steps.
    """
    if num_steps == 0:
        return []
    lo, hi = math.log(init), math.log(final)
    return [int(round(math.exp(lo + (hi - lo) * k / num_steps))) for k in range(1, num_steps + 1)]


def grid_resolution_at(step: int, config: LiftConfig) -> int:
    """Voxels per side in effect after ``step`` (the last upsampling at or before ``step``)."""
    steps = sorted(config.train.upsample_steps)
    sizes = upsample_resolutions(
        config.field.grid_resolution_init, config.field.grid_resolution_final, len(steps)
    )
    done = sum(1 for s in steps if s <= step)
    return sizes[done - 1] if done else config.field.grid_resolution_init


def start_step(fraction: float, iterations: int) -> int:
    """First step at which a warmed-up loss is on: ceil(fraction * iterations)."""
    return int(math.ceil(fraction * iterations))


def warmup_factor(step: int, start: float, config: LiftConfig) -> float:
    """0 before ``start_step(start)``, then rising linearly to 1 over ``loss.ramp`` of the iterations
    (at once when ``ramp`` is 0): step s0 gets 1 / n of the weight, s0 + n - 1 and later all of it."""
    iters = config.train.iterations
    first = start_step(start, iters)
    if step < first:
        return 0.0
    ramp_steps = int(round(config.loss.ramp * iters))
    return 1.0 if ramp_steps <= 1 else min(1.0, (step - first + 1) / ramp_steps)


def loss_weights_at(step: int, config: LiftConfig) -> dict[str, float]:
    """lambda of each loss at ``step``: instance and consistency are 0 before their starts, then ramp up
    (:func:`warmup_factor`)."""
    loss = config.loss
    consistency = loss.weight_consistency if loss.segment_consistency else 0.0
    return {
        "rgb": loss.weight_rgb,
        "semantic": loss.weight_semantic,
        "instance": loss.weight_instance * warmup_factor(step, loss.instance_start, config),
        "consistency": consistency * warmup_factor(step, loss.consistency_start, config),
        "tv_density": loss.tv_density,
        "tv_appearance": loss.tv_appearance,
        "l1_density": loss.l1_density,
        "distortion": loss.distortion,
    }


def learning_rate_factor_at(step: int, config: LiftConfig, decay: float | None = None) -> float:
    """Exponential decay: factor = decay ** (step / iterations), ``decay`` = ``train.lr_decay`` unless
    given (1 everywhere when it is 1)."""
    decay = config.train.lr_decay if decay is None else decay
    return decay ** (min(step, config.train.iterations) / max(1, config.train.iterations))


def events_at(step: int, config: LiftConfig) -> list[str]:
    """Grid events after ``step``, in order: "occupancy", "shrink", "upsample"."""
    train = config.train
    events = []
    if step in train.occupancy_steps or step == train.shrink_step:
        events.append("occupancy")
    if step == train.shrink_step:
        events.append("shrink")
    if step in train.upsample_steps:
        events.append("upsample")
    return events
