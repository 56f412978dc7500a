"""Cameras between the browser (viser) and panolift.

Both sides use the OpenCV camera axes (x right, y down, z forward) and both place the scene in WORLD units
(the scene's own, metres in a room), so a pose crosses unchanged in meaning; only its spelling differs:

- panolift: a (4, 4) camera-to-world matrix ``c2w = [R | t]`` (``Scene.pose``, ``render_image``).
- viser: ``wxyz`` (the unit quaternion of R, scalar first) and ``position`` (t), plus ``fov`` (VERTICAL
  field of view, radians) and the canvas size; pixels are square and the principal point is the centre.

The field itself works in normalised coordinates ``x_field = R (x_world - center) * scale``
(:class:`~panolift.scene.SceneNormalization`): ``render_image`` normalises world poses itself, and rays
picked in the browser go through :func:`world_ray_to_field`. viser's world is +z up by default; the viewer
sets it to the scene's up axis (estimated from the training cameras) so that orbiting keeps the floor level.
"""

from __future__ import annotations

import math

import numpy as np

from panolift.scene import SceneNormalization


def quaternion_to_matrix(wxyz: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of a quaternion (w, x, y, z) (normalised first)."""
    w, x, y, z = np.asarray(wxyz, dtype=np.float64) / float(np.linalg.norm(wxyz))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion (w, x, y, z), w >= 0, of a (3, 3) rotation (Shepperd's method: the largest of
    4w^2 = 1 + tr R, 4x^2 = 1 + R00 - R11 - R22, ... is computed first, the others from it)."""
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    candidates = [trace, R[0, 0], R[1, 1], R[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * math.sqrt(max(1.0 + trace, 1e-12))
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif k == 1:
        s = 2.0 * math.sqrt(max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], 1e-12))
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif k == 2:
        s = 2.0 * math.sqrt(max(1.0 + R[1, 1] - R[0, 0] - R[2, 2], 1e-12))
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(max(1.0 + R[2, 2] - R[0, 0] - R[1, 1], 1e-12))
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.asarray(q) / np.linalg.norm(q)
    return -q if q[0] < 0 else q


def pose_from_viser(wxyz: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(4, 4) camera-to-world (OpenCV, world units) of a viser camera (``wxyz``, ``position``)."""
    c2w = np.eye(4)
    c2w[:3, :3] = quaternion_to_matrix(wxyz)
    c2w[:3, 3] = np.asarray(position, dtype=np.float64)
    return c2w


def viser_from_pose(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wxyz (4,), position (3,)) of a (4, 4) camera-to-world (OpenCV, world units)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    return matrix_to_quaternion(c2w[:3, :3]), c2w[:3, 3].copy()


def intrinsics_from_fov(fov_y: float, width: int, height: int) -> np.ndarray:
    """(3, 3) K of a ``width`` x ``height`` image with vertical field of view ``fov_y`` (radians), square
    pixels and the principal point at the centre: f = (H / 2) / tan(fov_y / 2)."""
    f = 0.5 * height / math.tan(0.5 * fov_y)
    return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])


def fov_from_intrinsics(K: np.ndarray, height: int) -> float:
    """Vertical field of view (radians) of K for an image ``height`` pixels high: 2 atan(H / (2 fy))."""
    return 2.0 * math.atan(0.5 * height / float(np.asarray(K)[1, 1]))


def look_at_point(c2w: np.ndarray, distance: float) -> np.ndarray:
    """(3,) the point ``distance`` ahead of the camera (c + distance * z_axis): viser's orbit centre."""
    c2w = np.asarray(c2w, dtype=np.float64)
    return c2w[:3, 3] + distance * c2w[:3, 2]


def up_direction_of(c2w: np.ndarray) -> np.ndarray:
    """(3,) the camera's up in world coordinates (-y axis, OpenCV)."""
    return -np.asarray(c2w, dtype=np.float64)[:3, 1]


def world_ray_to_field(
    origin: np.ndarray, direction: np.ndarray, normalization: SceneNormalization
) -> tuple[np.ndarray, np.ndarray]:
    """A world ray (origin, any-length direction) in field coordinates: R (origin - center) * scale and
    the unit direction R d / |d| (a uniform scale keeps directions). Returns float64 (3,) arrays."""
    d = normalization.directions_to_field(direction)
    o = normalization.points_to_field(origin)
    return o, d / max(float(np.linalg.norm(d)), 1e-12)


def fit_to_aspect(aspect: float, longest_side: int) -> tuple[int, int]:
    """(width, height) of an image with ``aspect`` = width / height whose longest side is ``longest_side``
    (each at least 1)."""
    if aspect >= 1.0:
        return max(1, int(longest_side)), max(1, round(longest_side / aspect))
    return max(1, round(longest_side * aspect)), max(1, int(longest_side))
