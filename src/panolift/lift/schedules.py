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


def phase_at(step: int, config: LiftConfig) -> tuple[str, int, int]:
    """(phase, step within it, its length) at ``step``. With ``train.head_steps`` = 0 every step trains
    everything ("joint", step, iterations). Otherwise the first iterations - head_steps steps fit density
    and colour alone ("geometry") and the last head_steps fit the semantic and instance heads alone on the
    frozen geometry ("heads", step - G, head_steps)."""
    train = config.train
    if train.head_steps <= 0:
        return "joint", step, train.iterations
    geometry_steps = max(1, train.iterations - train.head_steps)
    if step <= geometry_steps:
        return "geometry", step, geometry_steps
    return "heads", step - geometry_steps, train.head_steps


def warmup_factor(step: int, start: float, config: LiftConfig) -> float:
    """0 before ``start_step(start)`` of the labels' steps (all iterations, or the head phase), then rising
    linearly to 1 over ``loss.ramp`` of them (at once when ``ramp`` is 0): step s0 gets 1 / n of the
    weight, s0 + n - 1 and later all of it."""
    phase, step, iters = phase_at(step, config)
    if phase == "geometry":
        return 0.0
    first = start_step(start, iters)
    if step < first:
        return 0.0
    ramp_steps = int(round(config.loss.ramp * iters))
    return 1.0 if ramp_steps <= 1 else min(1.0, (step - first + 1) / ramp_steps)


def loss_weights_at(step: int, config: LiftConfig) -> dict[str, float]:
    """lambda of each loss at ``step``: instance and consistency are 0 before their starts, then ramp up
    (:func:`warmup_factor`). With a head phase (``train.head_steps``) the geometry's steps weigh the
    labels' losses 0 and the heads' steps weigh colour and the geometry's regularisers 0."""
    loss = config.loss
    consistency = loss.weight_consistency if loss.segment_consistency else 0.0
    phase = phase_at(step, config)[0]
    geometry, labels = float(phase != "heads"), float(phase != "geometry")
    return {
        "rgb": loss.weight_rgb * geometry,
        "semantic": loss.weight_semantic * labels,
        "instance": loss.weight_instance * warmup_factor(step, loss.instance_start, config),
        "consistency": consistency * warmup_factor(step, loss.consistency_start, config),
        "tv_density": loss.tv_density * geometry,
        "tv_density_sparse": loss.tv_density_sparse * geometry,
        "tv_appearance": loss.tv_appearance * geometry,
        "l1_density": loss.l1_density * geometry,
        "distortion": loss.distortion * geometry,
        "matched_depth": loss.matched_depth
        * geometry
        * float(step >= start_step(loss.matched_depth_start, config.train.iterations)),
        "planarity": loss.planarity * geometry,
        "exposure_prior": loss.exposure_prior * geometry * float(config.train.frame_exposure),
    }


def learning_rate_factor_at(step: int, config: LiftConfig, decay: float | None = None) -> float:
    """Exponential decay: factor = decay ** (step / iterations), ``decay`` = ``train.lr_decay`` unless
    given (1 everywhere when it is 1); with a head phase, over the steps of the phase ``step`` is in (only
    that phase's parameters have gradients then)."""
    decay = config.train.lr_decay if decay is None else decay
    _, step, iters = phase_at(step, config)
    return decay ** (min(step, iters) / max(1, iters))


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
