"""The room's floor plan: a bounding rectangle less solid rectangles (an L's missing corner, a partial wall).

World frame: z up, floor at z = 0, the bounding rectangle spans [0, X] x [0, Y]. Everything that must stay
inside the room (furniture, cameras, lights) asks the plan; the geometry turns every cutout into a solid
full-height block of wall, so that the room stays closed whatever its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import SynthConfig

DIVIDER_THICKNESS = 0.12  # metres, a partial wall of the open plan
MIN_WALL_LENGTH = 0.3  # faces of cutouts shorter than this take no furniture


@dataclass
class WallSegment:
    """A stretch of wall seen from the room: from ``start`` to ``end`` (xy), ``normal`` points into the room."""

    start: np.ndarray  # (2,)
    end: np.ndarray  # (2,)
    normal: np.ndarray  # (2,) unit, into the room

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.end - self.start))


@dataclass
class FloorPlan:
    """Bounding rectangle [0, X] x [0, Y], height Z, less solid rectangles ``cutouts`` (each (2, 2): lo, hi)."""

    size: tuple[float, float, float]
    cutouts: list[np.ndarray] = field(default_factory=list)

    @staticmethod
    def from_config(config: SynthConfig) -> FloorPlan:
        return FloorPlan.from_shape(config.room_shape, config.room_size, config.notch, config.divider)

    @staticmethod
    def from_shape(
        shape: str,
        size: tuple[float, float, float],
        notch: tuple[float, float] = (0.0, 0.0),
        divider: tuple[float, float] = (0.0, 0.0),
    ) -> FloorPlan:
        """box; L: less the corner rectangle ``notch`` at (X, Y); open: a partial wall at x = divider[0]
        from the wall y = 0 for divider[1] metres (see ``SynthConfig``)."""
        X, Y, Z = size
        cutouts = []
        if shape == "L":
            cutouts.append(np.array([[X - notch[0], Y - notch[1]], [X, Y]], dtype=np.float64))
        elif shape == "open":
            half = DIVIDER_THICKNESS / 2
            cutouts.append(
                np.array([[divider[0] - half, 0.0], [divider[0] + half, divider[1]]], dtype=np.float64)
            )
        return FloorPlan((float(X), float(Y), float(Z)), cutouts)

    @property
    def is_box(self) -> bool:
        return not self.cutouts

    def clearance(self, xy: np.ndarray) -> np.ndarray:
        """(num_points,) distance from points (num_points, 2) to the nearest wall; negative outside the room.

        d(p) = min(x, X - x, y, Y - y, min_k dist(p, cutout_k)), with dist(p, R) = |max(lo - p, 0, p - hi)|
        (the Euclidean distance to the rectangle) and -1 inside a cutout.
        """
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        X, Y, _ = self.size
        d = np.minimum.reduce([xy[:, 0], X - xy[:, 0], xy[:, 1], Y - xy[:, 1]])
        for lo, hi in self.cutouts:
            gap = np.maximum(np.maximum(lo - xy, xy - hi), 0.0)
            dist = np.linalg.norm(gap, axis=1)
            inside = np.all((xy > lo) & (xy < hi), axis=1)
            d = np.minimum(d, np.where(inside, -1.0, dist))
        return d

    def box_inside(self, box: np.ndarray, margin: float = 0.0) -> bool:
        """Is the xy footprint of a (2, 3) (or (2, 2)) box inside the room, ``margin`` clear of cutouts?"""
        lo, hi = np.asarray(box)[0, :2], np.asarray(box)[1, :2]
        X, Y, _ = self.size
        if np.any(lo < -1e-9) or hi[0] > X + 1e-9 or hi[1] > Y + 1e-9:
            return False
        for c_lo, c_hi in self.cutouts:
            if np.max(np.maximum(c_lo - hi, lo - c_hi)) < margin - 1e-9:
                return False
        return True

    def walls(self) -> list[WallSegment]:
        """The four sides of the bounding rectangle (south, east, north, west) and the faces of cutouts that
        look into the room. Parts of a side hidden behind a cutout are still listed; ``box_inside`` rejects
        what would stand there."""
        X, Y, _ = self.size
        corners = np.array([[0.0, 0.0], [X, 0.0], [X, Y], [0.0, Y]])
        inward = np.array([[0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
        out = [WallSegment(corners[i], corners[(i + 1) % 4], inward[i]) for i in range(4)]
        for lo, hi in self.cutouts:
            faces = [
                (np.array([lo[0], lo[1]]), np.array([hi[0], lo[1]]), np.array([0.0, -1.0])),  # south face
                (np.array([hi[0], lo[1]]), np.array([hi[0], hi[1]]), np.array([1.0, 0.0])),  # east face
                (np.array([hi[0], hi[1]]), np.array([lo[0], hi[1]]), np.array([0.0, 1.0])),  # north face
                (np.array([lo[0], hi[1]]), np.array([lo[0], lo[1]]), np.array([-1.0, 0.0])),  # west face
            ]
            for start, end, normal in faces:
                probe = (start + end) / 2 + 0.05 * normal
                if np.linalg.norm(end - start) >= MIN_WALL_LENGTH and self.clearance(probe)[0] > 0.0:
                    out.append(WallSegment(start, end, normal))
        return out

    def distance_grid(self, resolution: float = 0.05) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """``clearance`` at the centres of square cells: the (num_y, num_x) grid and the cell-centre
        coordinates (xs (num_x,), ys (num_y,))."""
        X, Y, _ = self.size
        xs = np.arange(resolution / 2, X, resolution)
        ys = np.arange(resolution / 2, Y, resolution)
        gx, gy = np.meshgrid(xs, ys)
        grid = self.clearance(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gy.shape)
        return grid, (xs, ys)

    def segment_clear(self, a: np.ndarray, b: np.ndarray, clearance: float, step: float = 0.05) -> bool:
        """Does the straight segment from a to b (xy) keep at least ``clearance`` from every wall?"""
        n = max(2, int(np.ceil(np.linalg.norm(np.asarray(b) - a) / step)) + 1)
        t = np.linspace(0.0, 1.0, n)[:, None]
        return bool(np.all(self.clearance(a + t * (np.asarray(b) - a)) >= clearance))

    def sample_free(self, rng: np.random.Generator, clearance: float, tries: int = 1000) -> np.ndarray:
        """A uniform random point (xy) at least ``clearance`` from every wall (rejection sampling)."""
        X, Y, _ = self.size
        for _ in range(tries):
            p = rng.uniform([0.0, 0.0], [X, Y])
            if self.clearance(p)[0] >= clearance:
                return p
        raise ValueError(f"no point of the floor plan {self.size} lies {clearance} m from every wall")

    @property
    def area(self) -> float:
        X, Y, _ = self.size
        return X * Y - sum(float(np.prod(hi - lo)) for lo, hi in self.cutouts)
