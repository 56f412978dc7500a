"""How many training views see each pixel of a frame: its depth reprojected, with an occlusion test.

Lifting fuses what the training views show. A test pixel whose surface no training view sees (a door that
only the test camera faces, round a corner the path turns in one step) cannot be lifted from anything, and
one that a single training view sees has no second view to check that view's label against. The suite
scores lifting on the pixels that at least two training views see beside its scores on all pixels, so that
a room whose test views look where the training views did not is told apart from a room that lifting fails.

A pixel (u, v) of frame t with depth z_t (along the optical axis) is the point

    X = T_t [ z_t K^-1 (u + 1/2, v + 1/2, 1)^T ; 1 ]

and training view s sees it when X projects in front of s, inside its image, onto a pixel whose own depth
d_s agrees with X's depth z_s in s: |z_s - d_s| <= tolerance * d_s + slack (otherwise something nearer
hides X from s, or s's depth is unknown). Benchmarks only: it needs depth (ground truth for synthetic
scenes, a sensor's for captures).
"""

from __future__ import annotations

import numpy as np

from panolift.scene import Scene, SceneError

MIN_VIEWS = 2  # pixels seen by at least this many training views are "covered"


def backproject(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points of the pixels with depth > 0: ((N, 3) float64, (H, W) bool mask of those pixels)."""
    valid = depth > 0
    ys, xs = np.nonzero(valid)
    z = depth[valid].astype(np.float64)
    x = (xs + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (ys + 0.5 - K[1, 2]) / K[1, 1] * z
    camera = np.stack([x, y, z], axis=-1)
    return camera @ c2w[:3, :3].T + c2w[:3, 3], valid


def seen_by(
    points: np.ndarray,
    K: np.ndarray,
    c2w: np.ndarray,
    depth: np.ndarray,
    tolerance: float = 0.05,
    slack: float = 0.03,
) -> np.ndarray:
    """(N,) bool: which world ``points`` the camera ``c2w`` (intrinsics K, depth image ``depth``) sees."""
    height, width = depth.shape
    rotation, centre = c2w[:3, :3], c2w[:3, 3]
    camera = (points - centre) @ rotation  # world -> camera: R^T (X - c), row-wise
    z = camera[:, 2]
    front = z > 1e-6
    u = np.full(z.shape, -1.0)
    v = np.full(z.shape, -1.0)
    u[front] = K[0, 0] * camera[front, 0] / z[front] + K[0, 2]
    v[front] = K[1, 1] * camera[front, 1] / z[front] + K[1, 2]
    inside = front & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    seen = np.zeros(z.shape, dtype=bool)
    if inside.any():
        col = np.minimum(u[inside].astype(np.int64), width - 1)
        row = np.minimum(v[inside].astype(np.int64), height - 1)
        there = depth[row, col].astype(np.float64)
        seen[inside] = (there > 0) & (np.abs(z[inside] - there) <= tolerance * there + slack)
    return seen


class ViewCoverage:
    """Counts, for pixels of any frame of ``scene``, the ``sources`` frames (default: the training frames)
    that see them. The sources' depth images are read once."""

    def __init__(
        self, scene: Scene, sources: list[str] | None = None, tolerance: float = 0.05, slack: float = 0.03
    ):
        self.scene = scene
        self.sources = list(scene.train_frames if sources is None else sources)
        self.tolerance, self.slack = tolerance, slack
        self.K = scene.intrinsics
        self._depths = {name: self._depth(name) for name in self.sources}

    def _depth(self, name: str) -> np.ndarray:
        depth = self.scene.depth(name)
        if depth is None:
            raise SceneError(f"{self.scene.root / 'depth' / (name + '.png')}: no depth image for '{name}' "
                             "(view coverage needs depth)")  # fmt: skip
        return depth

    def count(self, name: str) -> np.ndarray:
        """(H, W) int16: how many source frames see each pixel of frame ``name`` (0 where its depth is
        unknown). A frame that is one of the sources counts itself."""
        points, valid = backproject(self._depth(name), self.K, self.scene.pose(name))
        counts = np.zeros(points.shape[0], dtype=np.int16)
        for source, depth in self._depths.items():
            counts += seen_by(points, self.K, self.scene.pose(source), depth, self.tolerance, self.slack)
        out = np.zeros(valid.shape, dtype=np.int16)
        out[valid] = counts
        return out
