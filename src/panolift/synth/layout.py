"""Room layout: which furniture, and where (rejection sampling with clearances).

World frame: z up, floor at z = 0, the room spans [0, X] x [0, Y] x [0, Z] less the floor plan's cutouts.
Objects stand against walls, hang on walls, stand free on the floor, or rest on the tops of tables,
cabinets, counters and shelves. Around an orbit a box is kept free so that objects are seen from a
distance; along any other path every camera keeps CAMERA_CLEARANCE from every object's footprint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .config import SynthConfig
from .floorplan import FloorPlan
from .furniture import BUILDERS, Furniture

log = logging.getLogger(__name__)

# The first objects of every room, so that even a small room shows several things and stuff classes.
CORE_CLASSES = (
    "sofa", "table", "chair", "cabinet", "television", "door", "window", "chair", "shelves", "bag", "bed",
    "lamp", "counter", "refrigerator", "curtain", "otherprop", "toilet", "sink",
)  # fmt: skip
# Relative frequencies of the objects past the core list (clutter dominates messy rooms).
EXTRA_CLASS_WEIGHTS = {
    "otherprop": 10, "bag": 5, "chair": 3, "television": 1, "table": 1.5, "cabinet": 1, "shelves": 1,
    "lamp": 1, "curtain": 1, "window": 0.5, "person": 0.5, "sofa": 0.3, "door": 0.3,
}  # fmt: skip
ON_TOP_PROBABILITY = {"television": 1.0, "otherprop": 0.7, "bag": 0.4}
MODE_ORDER = {"mounted": 0, "wall": 1, "floor": 2, "on_top": 3}
CAMERA_CLEARANCE = 0.45  # metres kept free around the camera path
WALL_GAP = 0.01


@dataclass
class PlacedObject:
    """A piece of furniture in the room: local parts plus the rigid placement (yaw about z, position)."""

    furniture: Furniture
    yaw: float  # radians, a multiple of pi/2
    position: np.ndarray  # (3,) world position of the local origin
    instance_id: int = 0  # scene-consistent thing id (1..), 0 for stuff; set by the layout

    @property
    def name(self) -> str:
        return self.furniture.name

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) world axis-aligned bounding box."""
        h = self.furniture.size[2]
        hx, hy = self.half_extent
        x, y, z = (float(v) for v in self.position)
        return np.array([[x - hx, y - hy, z], [x + hx, y + hy, z + h]])

    @property
    def half_extent(self) -> tuple[float, float]:
        """Half the footprint along world x and y (the yaw is a multiple of pi/2)."""
        w, d, _ = self.furniture.size
        swap = round(self.yaw / (np.pi / 2)) % 2 == 1
        return (d / 2, w / 2) if swap else (w / 2, d / 2)

    def transform(self) -> np.ndarray:
        """(4, 4) local-to-world transform."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        T = np.eye(4)
        T[:2, :2] = [[c, -s], [s, c]]
        T[:3, 3] = self.position
        return T


@dataclass
class _Support:
    """A horizontal top others may rest on: world rectangle, height, free height above, what rests there."""

    lo: np.ndarray  # (2,) xy
    hi: np.ndarray  # (2,) xy
    z: float
    clearance: float
    yaw: float
    items: list[np.ndarray] = field(default_factory=list)  # (2, 3) bounds


def draw_extra_classes(
    num: int, rng: np.random.Generator, weights: dict[str, float] | None = None
) -> list[str]:
    """``num`` random classes drawn by ``weights`` (default: the clutter-heavy EXTRA_CLASS_WEIGHTS)."""
    weights = weights or EXTRA_CLASS_WEIGHTS
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return [keys[i] for i in rng.choice(len(keys), size=num, p=p / p.sum())]


def choose_classes(num: int, rng: np.random.Generator, weights: dict[str, float] | None = None) -> list[str]:
    """The core classes first, then random draws of extra classes."""
    names = list(CORE_CLASSES[:num])
    return names + draw_extra_classes(num - len(names), rng, weights) if num > len(names) else names


def class_weights_of(config: SynthConfig) -> dict[str, float] | None:
    """The extra-class weights of ``config`` (None: the defaults); an unknown class name is refused."""
    if not config.class_weights:
        return None
    weights = dict(config.class_weights)
    unknown = sorted(set(weights) - set(BUILDERS))
    if unknown or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(
            f"SynthConfig.class_weights: classes must be among {sorted(BUILDERS)} with weights >= 0 and a "
            f"positive sum; got {config.class_weights}"
        )
    return weights


def _gaps(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """:func:`_separation` of ``box`` (2, 3) from each of ``others`` (n, 2, 3)."""
    return np.maximum(box[0] - others[:, 1], others[:, 0] - box[1]).max(axis=1)


def _separation(a: np.ndarray, b: np.ndarray) -> float:
    """Largest per-axis gap between two (2, 3) boxes (negative when they overlap in every axis)."""
    return float(_gaps(a, b[None])[0])


class RoomLayout:
    """Places furniture in a room one object at a time; failures are logged and skipped."""

    def __init__(self, config: SynthConfig, rng: np.random.Generator, cameras: np.ndarray | None = None):
        """``cameras``: (num_frames, 2) camera positions (xy) that objects keep clear of; None keeps the box
        around the orbit free instead."""
        self.config = config
        self.rng = rng
        self.size = np.asarray(config.room_size, dtype=np.float64)
        self.plan = FloorPlan.from_config(config)
        self.walls = self.plan.walls()
        center = (
            self.size[:2] / 2 if config.trajectory_center is None else np.asarray(config.trajectory_center)
        )
        keep = np.asarray(config.trajectory_radius) + CAMERA_CLEARANCE
        self.keep_out = np.stack([[*(center - keep), 0.0], [*(center + keep), self.size[2]]])
        self.cameras = None if cameras is None else np.asarray(cameras, dtype=np.float64)[:, :2]
        self.objects: list[PlacedObject] = []
        self._boxes: list[np.ndarray] = []  # collision boxes of objects on the floor and walls
        self._box_array: np.ndarray | None = None  # the same boxes as one array, rebuilt when one is added
        self._supports: list[_Support] = []

    # ------------------------------------------------------------------ sampling
    def _wall_pose(self, wall: int, along: float, depth: float, z: float) -> tuple[float, np.ndarray]:
        """Yaw and position for an object whose back touches wall ``wall`` (0 south, then counter-clockwise)."""
        X, Y = self.size[:2]
        origin = [(0, 0), (X, 0), (X, Y), (0, Y)][wall]
        along_dir = [(1, 0), (0, 1), (-1, 0), (0, -1)][wall]
        inward = [(0, 1), (-1, 0), (0, -1), (1, 0)][wall]
        xy = np.add(origin, np.multiply(along_dir, along)) + np.multiply(inward, depth / 2 + WALL_GAP)
        return wall * np.pi / 2, np.array([xy[0], xy[1], z])

    def _segment_pose(self, wall: int, along: float, depth: float, z: float) -> tuple[float, np.ndarray]:
        """Yaw and position for an object whose back touches ``self.walls[wall]`` (any floor plan)."""
        seg = self.walls[wall]
        direction = (seg.end - seg.start) / seg.length
        xy = seg.start + direction * along + seg.normal * (depth / 2 + WALL_GAP)
        # the local front (+y) turns to the wall's inward normal n: (-sin yaw, cos yaw) = n
        return float(np.arctan2(-seg.normal[0], seg.normal[1])), np.array([xy[0], xy[1], z])

    def _sample_against_wall(self, f: Furniture) -> tuple[PlacedObject, np.ndarray]:
        if self.plan.is_box:  # the original rooms: one of four walls, uniformly
            wall = int(self.rng.integers(4))
            length = self.size[wall % 2]
            pose = self._wall_pose
        else:  # any wall, in proportion to its length
            lengths = np.array([s.length for s in self.walls])
            wall = int(self.rng.choice(len(self.walls), p=lengths / lengths.sum()))
            length = lengths[wall]
            pose = self._segment_pose
        w, d, _ = f.size
        along = self.rng.uniform(w / 2 + 0.05, max(length - w / 2 - 0.05, w / 2 + 0.05))
        yaw, pos = pose(wall, along, d, f.elevation)
        obj = PlacedObject(f, yaw, pos)
        box = obj.bounds
        if f.name == "door":  # keep the floor in front of a door free
            clear = PlacedObject(
                Furniture("door", [], (w, 0.7, f.size[2]), "mounted"),
                yaw,
                pose(wall, along, 0.7, 0.0)[1],
            )
            box = clear.bounds
        return obj, box

    def _sample_on_floor(self, f: Furniture) -> tuple[PlacedObject, np.ndarray]:
        yaw = float(self.rng.integers(4)) * np.pi / 2
        obj = PlacedObject(f, yaw, np.zeros(3))
        half = np.array(obj.half_extent)
        obj.position = np.array([*self.rng.uniform(half + 0.05, self.size[:2] - half - 0.05), 0.0])
        return obj, obj.bounds

    def _clear_of_cameras(self, box: np.ndarray) -> bool:
        """Does every camera keep CAMERA_CLEARANCE from the xy footprint of ``box``?"""
        if self.cameras is None:
            return _separation(box, self.keep_out) >= 0.0
        gap = np.maximum(np.maximum(box[0, :2] - self.cameras, self.cameras - box[1, :2]), 0.0)
        return bool(np.min(np.einsum("nk,nk->n", gap, gap)) >= CAMERA_CLEARANCE**2)

    def _fits(self, box: np.ndarray, footprint: np.ndarray | None = None) -> bool:
        """Is ``box`` inside the room and clear of other objects, and ``footprint`` (the object's own
        bounds; default ``box``) clear of the cameras?"""
        inside = (
            np.all(box[0] >= -1e-9)
            and np.all(box[1, :2] <= self.size[:2] + 1e-9)
            and box[1, 2] <= self.size[2] - 0.05
        )
        if not inside or not (self.plan.is_box or self.plan.box_inside(box)):
            return False
        if not self._clear_of_cameras(box if footprint is None or self.cameras is None else footprint):
            return False
        if not self._boxes:
            return True
        if self._box_array is None or len(self._box_array) != len(self._boxes):
            self._box_array = np.asarray(self._boxes)  # (num_boxes, 2, 3)
        return bool(_gaps(box, self._box_array).min() >= self.config.min_gap)

    def _try_on_top(self, f: Furniture) -> PlacedObject | None:
        order = self.rng.permutation(len(self._supports))
        for i in order:
            s = self._supports[i]
            if f.size[2] > s.clearance:
                continue
            for _ in range(10):
                yaw = s.yaw if f.name == "television" else float(self.rng.integers(4)) * np.pi / 2
                obj = PlacedObject(f, yaw, np.array([0.0, 0.0, s.z]))
                half = np.array(obj.half_extent)
                if np.any(s.hi - s.lo < 2 * half):
                    break
                obj.position[:2] = self.rng.uniform(s.lo + half, s.hi - half)
                box = obj.bounds
                if not s.items or _gaps(box, np.asarray(s.items)).min() >= 0.05:
                    s.items.append(box)
                    return obj
        return None

    # ------------------------------------------------------------------ placing
    def place(self, f: Furniture, attempts: int = 300) -> PlacedObject | None:
        """Place one object (or return None when no free spot was found)."""
        if self.rng.random() < ON_TOP_PROBABILITY.get(f.name, 0.0):
            obj = self._try_on_top(f)
            if obj is not None:
                return self._accept(obj, None)
        mode = f.mode
        if mode == "on_top":  # a television with nothing to stand on hangs on a wall
            f.mode, f.elevation, mode = "mounted", float(self.rng.uniform(0.9, 1.2)), "mounted"
        for _ in range(attempts):
            if mode in ("wall", "mounted"):
                obj, box = self._sample_against_wall(f)
            else:
                obj, box = self._sample_on_floor(f)
            if self._fits(box, obj.bounds):
                return self._accept(obj, box)
        if f.name in ON_TOP_PROBABILITY:  # a full floor still leaves room on tables and shelves
            obj = self._try_on_top(f)
            if obj is not None:
                return self._accept(obj, None)
        log.info("synth: no free spot for a %s; skipped", f.name)
        return None

    def _accept(self, obj: PlacedObject, box: np.ndarray | None) -> PlacedObject:
        if box is not None:
            self._boxes.append(box)
        bounds = obj.bounds
        for z, clearance in obj.furniture.supports:
            lo, hi = bounds[0, :2] + 0.03, bounds[1, :2] - 0.03
            self._supports.append(_Support(lo, hi, obj.position[2] + z, clearance, obj.yaw))
        self.objects.append(obj)
        return obj


def layout_room(
    config: SynthConfig, rng: np.random.Generator, thing_names: set[str], cameras: np.ndarray | None = None
) -> list[PlacedObject]:
    """Choose ``config.num_things`` objects and place them; thing classes get scene-consistent ids 1, 2, ...

    Doors and windows go first, then big objects against walls, free-standing ones, and objects on tops.
    ``cameras`` (num_frames, 2 or 3): positions every object keeps clear of (None: the orbit's box).
    """
    weights = class_weights_of(config)
    names = choose_classes(config.num_things, rng, weights)
    furniture = [BUILDERS[n](rng) for n in names]
    furniture.sort(key=lambda f: (MODE_ORDER[f.mode], -f.size[0] * f.size[1]))
    layout = RoomLayout(config, rng, cameras)
    for f in furniture:
        layout.place(f)
    # Objects that found no spot are replaced by further draws (mostly small clutter) while any fit.
    for _ in range(3 * config.num_things):
        if len(layout.objects) >= config.num_things:
            break
        layout.place(BUILDERS[draw_extra_classes(1, rng, weights)[0]](rng), attempts=100)
    next_id = 1
    for obj in layout.objects:
        if obj.name in thing_names:
            obj.instance_id = next_id
            next_id += 1
    return layout.objects


def raise_onto_platform(objects: list[PlacedObject], config: SynthConfig) -> list[PlacedObject]:
    """The objects with everything on the raised floor ``config.platform`` lifted by its height: what
    stands on the floor with any of its footprint over the platform, what hangs on a wall over it (a
    window, a picture), and what sits on the top of a lifted object. The same objects (changed in place); none without a
    platform."""
    height, depth = config.platform
    if height <= 0.0:
        return objects
    edge = config.room_size[1] - depth
    lifted: list[PlacedObject] = []
    for obj in sorted(objects, key=lambda o: float(o.position[2])):  # supports before what they hold
        lo, hi = obj.bounds
        on_platform = hi[1] > edge and lo[2] < 1e-6
        on_lifted = any(
            abs(lo[2] - (s_hi[2] - height)) < 1e-6 and np.all(lo[:2] < s_hi[:2]) and np.all(hi[:2] > s_lo[:2])
            for s_lo, s_hi in (s.bounds for s in lifted)
        )
        mounted = obj.furniture.mode == "mounted" and hi[1] > edge
        if on_platform or on_lifted or mounted:
            obj.position = np.asarray(obj.position, dtype=np.float64) + np.array([0.0, 0.0, height])
            lifted.append(obj)
    return objects
