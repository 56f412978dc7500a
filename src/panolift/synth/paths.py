"""Camera paths that go where people take photos of rooms: an outward-looking loop, a hand-held random
walk and a forward walk through the room. Every path keeps ``wall_clearance`` from the walls of any floor
plan (box, L, open plan); objects keep clear of the cameras through the layout.

Paths are built in the plane (positions), then given heights and orientations (yaw, pitch, roll) that vary
smoothly, plus small hand-held jitter. Each path draws from its own generator, so the room's layout and
materials do not depend on the path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .config import SynthConfig
from .floorplan import FloorPlan

log = logging.getLogger(__name__)


@dataclass
class CameraPath:
    """Per frame: position (num_frames, 3) and yaw, pitch, roll (num_frames,) in radians."""

    position: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray


def smooth_noise(rng: np.random.Generator, n: int, amplitude: float, cycles: float) -> np.ndarray:
    """(n,) a smooth random function with peak |value| = amplitude: sum_j a_j sin(2 pi f_j t + phi_j) over
    t = i / n, five terms with frequencies f_j ~ U(0.5, cycles) per sequence, rescaled to the peak."""
    t = np.arange(n) / max(n, 1)
    f = rng.uniform(0.5, max(cycles, 0.6), 5)
    value = (
        rng.normal(size=5)[:, None]
        * np.sin(2 * np.pi * f[:, None] * t + rng.uniform(0, 2 * np.pi, 5)[:, None])
    ).sum(0)
    peak = np.abs(value).max()
    return amplitude * value / peak if peak > 0 else value


def chaikin(points: np.ndarray, iterations: int = 3, closed: bool = False) -> np.ndarray:
    """Corner cutting: every segment (p, q) becomes the points 3/4 p + 1/4 q and 1/4 p + 3/4 q."""
    for _ in range(iterations):
        p = np.concatenate([points, points[:1]]) if closed else points
        q = np.stack([0.75 * p[:-1] + 0.25 * p[1:], 0.25 * p[:-1] + 0.75 * p[1:]], axis=1).reshape(-1, 2)
        points = q if closed else np.concatenate([points[:1], q, points[-1:]])
    return points


def resample_polyline(points: np.ndarray, n: int, closed: bool = False) -> np.ndarray:
    """(n, 2) points evenly spaced by arc length along a polyline (a loop when ``closed``, without repeating
    its start)."""
    p = np.concatenate([points, points[:1]]) if closed else points
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    s = np.arange(n) * arc[-1] / n if closed else np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, p[:, 0]), np.interp(s, arc, p[:, 1])], axis=1)


def loop_contour(plan: FloorPlan, level: float, resolution: float = 0.05) -> np.ndarray:
    """(num_points, 2) the longest closed curve at distance ``level`` from the walls, counter-clockwise."""
    from skimage.measure import find_contours

    grid, (xs, ys) = plan.distance_grid(resolution)
    contours = [c for c in find_contours(grid, level) if np.allclose(c[0], c[-1])]
    if not contours:
        raise ValueError(f"no closed loop {level:.2f} m from the walls of {plan.size}")
    rc = max(contours, key=len)[:-1]
    xy = np.stack([xs[0] + rc[:, 1] * resolution, ys[0] + rc[:, 0] * resolution], axis=1)
    x, y = xy[:, 0], xy[:, 1]
    area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    return xy if area > 0 else xy[::-1]


def outward_path(config: SynthConfig, plan: FloorPlan, rng: np.random.Generator) -> CameraPath:
    """A closed loop at a random fraction (0.45-0.7) of the room's largest wall distance; cameras face away
    from the loop's inside (towards the nearest walls) with a slow sweep of 20-50 degrees to either side, so
    that they look out and across at every wall, near-horizontally."""
    n = config.num_frames
    grid, _ = plan.distance_grid()
    top = float(grid.max())
    level = float(np.clip(rng.uniform(0.45, 0.7) * top, config.wall_clearance, max(top - 0.15, 0.1)))
    loop = resample_polyline(loop_contour(plan, level), 400, closed=True)
    loop = np.stack([gaussian_filter1d(loop[:, k], 6.0, mode="wrap") for k in range(2)], axis=1)
    loop = np.roll(loop, int(rng.integers(len(loop))), axis=0)
    if rng.random() < 0.5:
        loop = loop[::-1]
        sign = -1.0  # clockwise: the outside lies to the left of travel
    else:
        sign = 1.0
    xy = resample_polyline(loop, n, closed=True)
    tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    outward = sign * np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    t = np.arange(n) / n
    sweep = np.deg2rad(rng.uniform(20, 50)) * np.sin(
        2 * np.pi * int(rng.integers(2, 4)) * t + rng.uniform(0, 6.3)
    )
    yaw = np.unwrap(np.arctan2(outward[:, 1], outward[:, 0])) + sweep
    pitch = np.deg2rad(
        config.pitch_deg + config.pitch_amplitude_deg * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6.3))
    )
    height = config.eye_height + config.height_variation * np.sin(2 * np.pi * 2 * t + rng.uniform(0, 6.3))
    return CameraPath(np.column_stack([xy, height]), yaw, pitch, np.zeros(n))


def waypoint_walk(
    plan: FloorPlan,
    rng: np.random.Generator,
    clearance: float,
    hops: int,
    hop: tuple[float, float],
    turn_sd: float | None,
) -> np.ndarray:
    """(hops + 1, 2) waypoints: each hop of length U(hop) leaves in a random direction (or within turn_sd of
    the previous heading, when given) along a straight segment that keeps ``clearance`` from the walls."""
    points = [plan.sample_free(rng, clearance)]
    heading = rng.uniform(0, 2 * np.pi)
    for _ in range(hops):
        for attempt in range(200):
            wide = turn_sd is None or attempt >= 100  # boxed in: any direction will do
            a = rng.uniform(0, 2 * np.pi) if wide else heading + rng.normal(0.0, turn_sd)
            q = points[-1] + rng.uniform(*hop) * np.array([np.cos(a), np.sin(a)])
            if plan.segment_clear(points[-1], q, clearance):
                points.append(q)
                heading = a
                break
    return np.asarray(points)


def walk_path(config: SynthConfig, plan: FloorPlan, rng: np.random.Generator) -> CameraPath:
    """Hand-held random walk: smooth random positions, a view that turns 1-1.6 times around at an uneven
    pace, slow random pitch, roll and height, and per-frame jitter (1 cm, 0.6 degrees)."""
    n = config.num_frames
    hops = max(4, int(plan.area / 4.0))
    way = waypoint_walk(plan, rng, config.wall_clearance, hops, (0.8, 2.5), None)
    xy = resample_polyline(chaikin(way, 3), n)
    t = np.arange(n) / n
    turns = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 1.6)
    yaw = rng.uniform(0, 2 * np.pi) + 2 * np.pi * turns * t + smooth_noise(rng, n, np.deg2rad(35), 3.0)
    pitch = np.deg2rad(config.pitch_deg) + smooth_noise(rng, n, np.deg2rad(config.pitch_amplitude_deg), 4.0)
    roll = smooth_noise(rng, n, np.deg2rad(config.roll_deg), 3.0)
    height = config.eye_height + smooth_noise(rng, n, config.height_variation, 3.0)
    jitter = np.deg2rad(0.6) * rng.normal(size=(3, n))
    position = np.column_stack([xy, height]) + 0.01 * rng.normal(size=(n, 3))
    return CameraPath(position, yaw + jitter[0], pitch + jitter[1], roll + jitter[2])


def forward_path(config: SynthConfig, plan: FloorPlan, rng: np.random.Generator) -> CameraPath:
    """A walk through the room that mostly looks where it goes (like a ScanNet capture): waypoints that keep
    roughly ahead, the view turning with the path plus 25 degrees of wandering and one or two look-arounds of
    60-120 degrees, a slight walking bob and roll."""
    n = config.num_frames
    hops = max(4, int(plan.area / 3.0))
    way = waypoint_walk(plan, rng, config.wall_clearance, hops, (1.0, 3.0), np.deg2rad(50))
    fine = resample_polyline(chaikin(way, 3), 400)
    xy = resample_polyline(fine, n)
    step = np.gradient(fine, axis=0)
    heading = np.unwrap(np.arctan2(gaussian_filter1d(step[:, 1], 8.0), gaussian_filter1d(step[:, 0], 8.0)))
    heading = np.interp(np.linspace(0, 399, n), np.arange(400), heading)
    t = np.arange(n) / n
    yaw = heading + smooth_noise(rng, n, np.deg2rad(25), max(2.0, hops / 2))
    for _ in range(int(rng.integers(1, 3))):  # stop and look around
        centre, width = rng.uniform(0.1, 0.9), rng.uniform(0.04, 0.1)
        yaw += (
            rng.choice([-1, 1])
            * np.deg2rad(rng.uniform(60, 120))
            * np.exp(-0.5 * ((t - centre) / width) ** 2)
        )
    pitch = np.deg2rad(config.pitch_deg) + smooth_noise(rng, n, np.deg2rad(config.pitch_amplitude_deg), 4.0)
    roll = smooth_noise(rng, n, np.deg2rad(config.roll_deg), 3.0)
    bob = 0.02 * np.sin(2 * np.pi * t * n / 4.0)
    height = config.eye_height + smooth_noise(rng, n, config.height_variation, 2.0) + bob
    jitter = np.deg2rad(0.3) * rng.normal(size=(3, n))
    position = np.column_stack([xy, height]) + 0.005 * rng.normal(size=(n, 3))
    return CameraPath(position, yaw + jitter[0], pitch + jitter[1], roll + jitter[2])


PATHS = {"outward": outward_path, "walk": walk_path, "forward": forward_path}


def build_path(config: SynthConfig, plan: FloorPlan, attempts: int = 20) -> CameraPath:
    """The configured path (not ``orbit``), redrawn until every camera keeps 0.75 wall_clearance and stays
    below the ceiling. Draws from the generator seeded by (seed, 0xCA3E, attempt)."""
    make = PATHS[config.trajectory]
    for attempt in range(attempts):
        path = make(config, plan, np.random.default_rng([config.seed, 0xCA3E, attempt]))
        low = plan.clearance(path.position[:, :2]).min()
        high = path.position[:, 2].max()
        if low >= 0.75 * config.wall_clearance and high <= plan.size[2] - 0.2:
            return path
        log.debug("synth: %s path %d came %.2f m near a wall; redrawn", config.trajectory, attempt, low)
    raise ValueError(f"synth: no {config.trajectory} path keeps {config.wall_clearance} m from the walls")
