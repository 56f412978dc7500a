"""An upright, wall-aligned world for structure-from-motion models.

SfM puts its world wherever its first pair of cameras happened to be: the room stands tilted and turned
in it. The field does not see the room the same way whatever its orientation: TensoRF factorises density
and colour into planes and lines along the world's axes, and the box around the room is axis-aligned, so
a room whose walls and floor lie along the axes is represented with fewer components and fewer empty
voxels. (Measured on tuning room 0: its exact cameras turned by 37 degrees about a tilted axis cost
1.3 dB of test-view colour; benchmarks/SUITE.md, forty-sixth round.) An import therefore turns the
model's world, as ScanNet's and the authors' scenes are oriented:

1. upright: the up direction is the one most nearly perpendicular to every camera's x axis (people hold
   cameras level: little roll), signed against the cameras' mean "down" (OpenCV y). With cameras that all
   point one way (a single straight walk) that is ill-posed: up is then the direction perpendicular to
   their x axis, within 30 degrees of their mean up (which leans with their mean pitch), along which the
   3D points' heights pile up most sharply (floor, ceiling), or the cameras' mean up without points.
   (Levelling further by the points, the tilt under which they pile up most sharply along z, made three
   of four suite rooms' SfM worlds less level: 0.04-0.53 degrees off -> 0.12-1.16.);
2. turned about that up axis so that the walls are along x and y: among rotations of 0-90 degrees (0.5
   degree steps), the one under which the model's 3D points pile up most sharply along x and along y
   (the sum of squares of their coordinate histograms: points on a wall share one coordinate). A model
   without points is only made upright.

Only rotations: the scale (:mod:`panolift.capture.world_scale`) and the camera centres' positions
relative to each other are unchanged.

The trainer uses the same estimate for scenes that stand turned whatever their source (a nerfstudio
import, ScanNet's raw poses), from the depths it matched between views instead of SfM points, and puts
the turn into the field's normalisation rather than into the scene (:func:`nearest_axes`,
:meth:`panolift.lift.trainer.Trainer.orient_world`). There a hand-held walk's roll can lean the cameras'
up by several degrees in a room that stands upright (4.3 on a suite room), so the trainer turns only when
up from the points' heights (:func:`heights_up`, :func:`heights_turn_degrees`) finds the room off too.
"""

from __future__ import annotations

import math

import numpy as np

UP = np.array([0.0, 0.0, 1.0])
"""The world's up axis after the import (z, as ScanNet and the synth)."""

MAX_POINTS = 50_000
"""3D points used to level and turn the world (a random subset of a larger model's)."""

WELL_POSED = 0.1
"""Smallest ratio of the cameras' x axes' second singular value to their first for the up direction to be
taken from them (below it the x axes span one direction only, and any vector perpendicular to it fits)."""


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that turns unit vector ``a`` onto unit vector ``b``."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1.0 + 1e-12:  # opposite: half a turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def rotation_about(axis, degrees: float) -> np.ndarray:
    """The rotation (3, 3) by ``degrees`` about ``axis`` (3,; any length), right-handed (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    a = math.radians(degrees)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(a) * k + (1.0 - math.cos(a)) * k @ k


def up_direction(c2w: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """The world's up direction (3,) from camera-to-world poses (N, 4, 4, OpenCV: y down); where the
    cameras all look one way, from the room's 3D ``points`` (M, 3) too when there are at least 100."""
    mean_up = -c2w[:, :3, 1].mean(axis=0)
    mean_up /= max(float(np.linalg.norm(mean_up)), 1e-12)
    right = c2w[:, :3, 0]
    if len(right) < 2:
        return mean_up
    _, s, vt = np.linalg.svd(right, full_matrices=False)
    if s[1] < WELL_POSED * s[0]:
        if points is None or len(points) < 100:
            return mean_up
        return level_by_heights(at_most(points, MAX_POINTS), vt[0], mean_up)
    up = vt[-1]
    return up if float(up @ mean_up) >= 0 else -up


def level_by_heights(
    points: np.ndarray, right: np.ndarray, guess: np.ndarray, span_deg: float = 30.0
) -> np.ndarray:
    """Up for cameras that all look one way (a straight walk): perpendicular to their common x axis
    ``right``, and within ``span_deg`` of their mean up ``guess`` (which leans with their mean pitch),
    the direction along which the points' heights pile up most sharply (floor, ceiling, table tops)."""
    right = right / np.linalg.norm(right)
    g = guess - (guess @ right) * right
    g /= max(float(np.linalg.norm(g)), 1e-12)
    h = np.cross(right, g)
    angles = np.radians(np.arange(-span_deg, span_deg + 1e-9, 0.25))
    return sharpest_heights(points, [math.cos(a) * g + math.sin(a) * h for a in angles])


def sharpest_heights(points: np.ndarray, candidates) -> np.ndarray:
    """The unit direction among ``candidates`` (each (3,)) along which the 3D ``points`` (M, 3; centred on
    their median) pile up most sharply (:func:`sharpness`, 512 bins over 98% of their spread)."""
    centred = points - np.median(points, axis=0)
    radius = float(np.quantile(np.linalg.norm(centred, axis=1), 0.98)) or 1.0
    best, best_score = None, -1.0
    for u in candidates:
        u = u / np.linalg.norm(u)
        score = sharpness(centred @ u, radius, 512)
        if score > best_score:
            best, best_score = u, score
    return best


def manhattan_angle(points_xy: np.ndarray, step_deg: float = 0.5, bins: int = 256) -> float:
    """The rotation about z (radians, in [0, pi/2)) that lines up the horizontal coordinates (N, 2) of a
    room's points with x and y: the sharpest coordinate histograms (module docstring)."""
    centred = points_xy - np.median(points_xy, axis=0)
    radius = float(np.quantile(np.linalg.norm(centred, axis=1), 0.98)) or 1.0
    best, best_score = 0.0, -1.0
    for angle in np.arange(0.0, 90.0, step_deg):
        a = math.radians(angle)
        c, s = math.cos(a), math.sin(a)
        x = c * centred[:, 0] - s * centred[:, 1]
        y = s * centred[:, 0] + c * centred[:, 1]
        score = sharpness(x, radius, bins) + sharpness(y, radius, bins)
        if score > best_score:
            best, best_score = a, score
    return best


def at_most(points: np.ndarray, count: int) -> np.ndarray:
    """``points``, or a fixed random ``count`` of them when there are more (plenty for histograms)."""
    if len(points) <= count:
        return points
    return points[np.random.default_rng(0).choice(len(points), count, replace=False)]


def sharpness(values: np.ndarray, radius: float, bins: int = 256) -> float:
    """How sharply ``values`` pile up: the sum of squares of their histogram over [-radius, radius]."""
    counts, _ = np.histogram(values, bins=bins, range=(-radius, radius))
    return float((counts.astype(np.float64) ** 2).sum())


def heights_up(
    points: np.ndarray, guess: np.ndarray, span_deg: float = 6.0, step_deg: float = 0.25
) -> np.ndarray:
    """Up (3,) within ``span_deg`` of ``guess`` in any direction (a grid of ``step_deg``), along which the
    3D ``points`` (M, 3) pile up most sharply in height (floor, ceiling, table tops): a second estimate of
    up, independent of the cameras' roll."""
    guess = guess / np.linalg.norm(guess)
    a = np.cross(guess, [1.0, 0.0, 0.0] if abs(guess[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(guess, a)
    tilts = np.tan(np.radians(np.arange(-span_deg, span_deg + 1e-9, step_deg)))
    return sharpest_heights(
        at_most(points, MAX_POINTS), [guess + i * a + j * b for i in tilts for j in tilts]
    )


def heights_turn_degrees(c2w: np.ndarray, points: np.ndarray) -> float:
    """How far (degrees) the world of ``c2w`` (N, 4, 4) stands off the axes when up is taken from the 3D
    ``points``' heights near the cameras' up (:func:`heights_up`) rather than from the cameras alone: the
    second opinion the trainer asks before it turns a room
    (:meth:`panolift.lift.trainer.Trainer.orient_world`)."""
    up = heights_up(points, up_direction(c2w, points))
    return turn_degrees(nearest_axes(world_rotation(c2w, points, up=up)))


def world_rotation(
    c2w: np.ndarray, points: np.ndarray | None = None, up: np.ndarray | None = None
) -> np.ndarray:
    """The rotation (3, 3) that makes the world of ``c2w`` (N, 4, 4) upright (z up; ``up`` when given,
    else :func:`up_direction`'s) and, with its 3D ``points`` (M, 3; at least 100), wall-aligned."""
    upright = rotation_between(up_direction(c2w, points) if up is None else up, UP)
    if points is None or len(points) < 100:
        return upright
    points = at_most(points, MAX_POINTS)
    level = points @ upright.T
    a = manhattan_angle(level[:, :2])
    c, s = math.cos(a), math.sin(a)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return turn @ upright


def _axis_turns() -> np.ndarray:
    """The 24 rotations (24, 3, 3) that carry the axes onto the axes (signed permutation matrices)."""
    turns = []
    for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            m[[0, 1, 2], order] = [1.0 - 2.0 * s for s in signs]
            if np.linalg.det(m) > 0:
                turns.append(m)
    return np.stack(turns)


AXIS_TURNS = _axis_turns()


def nearest_axes(rotation: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that lines a world up as ``rotation`` does, up to which axis is which:
    ``P @ rotation`` for the axis turn P (:data:`AXIS_TURNS`) that leaves the least angle. An axis-aligned
    box and grid do not care whether the room's up is z or y, only that its floor and walls lie along
    axes: a world that is already so (y up, say) needs no turn (the identity, or nearly)."""
    candidates = AXIS_TURNS @ np.asarray(rotation, dtype=np.float64)
    return candidates[int(np.argmax(np.trace(candidates, axis1=1, axis2=2)))]


def turn_degrees(rotation: np.ndarray) -> float:
    """The angle (degrees) of a rotation (3, 3)."""
    cosine = (float(np.trace(rotation)) - 1.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def rotate_poses(c2w: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Camera-to-world poses (N, 4, 4) in the world turned by ``rotation`` (3, 3) about its origin."""
    out = np.array(c2w, dtype=np.float64, copy=True)
    out[:, :3, :3] = rotation @ out[:, :3, :3]
    out[:, :3, 3] = out[:, :3, 3] @ rotation.T
    return out


def orientation_offsets(c2w: np.ndarray, points: np.ndarray | None = None) -> tuple[float, float | None]:
    """How far a world is from upright and wall-aligned: (degrees between its z axis and the cameras' up,
    degrees by which its walls are turned off x and y, in [0, 45]; None without 100 ``points``)."""
    up = up_direction(c2w, points)
    tilt = math.degrees(math.acos(min(1.0, abs(float(up @ UP)))))
    if points is None or len(points) < 100:
        return tilt, None
    points = at_most(points, MAX_POINTS)
    level = points @ rotation_between(up if float(up @ UP) >= 0 else -up, UP).T
    turn = math.degrees(manhattan_angle(level[:, :2]))
    return tilt, min(turn, 90.0 - turn)
