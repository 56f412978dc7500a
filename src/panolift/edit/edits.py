"""The edit list of an edited run (``edits.json``): its format, and its composition into a field wrapper.

Edits are stored in WORLD units (the scene's metres), so they stay meaningful for the user; they are
converted to field (normalised) coordinates when applied: x_n = R (x_w - center) * scale, so a world
translation t becomes R t * scale and the ``up`` axis R up (R: the normalisation's rotation, the identity
unless the trainer turned the room onto the field's axes). A copy is rotated by ``yaw`` degrees about
the ``up`` axis through the centre of the instance's bounding box, then translated by ``t``:
T(x) = R_up(yaw) (x - c) + c + t. Edits apply in order; each one sees the scene as edited so far (its
regions are found on that scene), so e.g. a copy made by an earlier edit can be deleted or moved.

``edits.json``::

    {"version": 1, "source_run": "../demo", "up": [0, 0, 1], "region": {"resolution": 64,
     "density_threshold": 0.45, "dilation": 1, "visibility_rays": 8192, "min_component_fraction": 0.5},
     "edits": [{"op": "delete", "instance": 3},
               {"op": "duplicate", "instance": 5, "translation": [0.5, 0, 0], "yaw_degrees": 90}]}
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from panolift.capture.world_frame import up_direction
from panolift.config import RegionConfig
from panolift.field import voxel_centers
from panolift.render import box_of, compute_visibility, evaluate_density, field_device, unwrap_field
from panolift.scene import SceneError

from .regions import FieldGrid, InstanceRegion, find_instance_regions, sample_field_grid, transform_region
from .wrappers import DeleteInstance, DuplicateInstance, RigidTransform

log = logging.getLogger(__name__)

EDITS_FILE = "edits.json"
EDITS_VERSION = 1
OPS = ("delete", "duplicate", "move")


@dataclass
class Edit:
    """One edit: ``op`` in delete / duplicate / move; a transform (world units) for duplicate and move."""

    op: str
    instance: int
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw_degrees: float = 0.0

    def to_dict(self) -> dict:
        d: dict = {"op": self.op, "instance": self.instance}
        if self.op != "delete":
            d["translation"] = [float(v) for v in self.translation]
            d["yaw_degrees"] = float(self.yaw_degrees)
        return d


@dataclass
class EditList:
    """The contents of ``edits.json``."""

    source_run: str
    edits: list[Edit] = field(default_factory=list)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    region: RegionConfig = field(default_factory=RegionConfig)

    def to_dict(self) -> dict:
        return {
            "version": EDITS_VERSION,
            "source_run": self.source_run,
            "up": [float(v) for v in self.up],
            "region": vars(self.region),
            "edits": [e.to_dict() for e in self.edits],
        }


def parse_transform(text: str) -> tuple[tuple[float, float, float], float]:
    """ "tx ty tz yaw" (world units, degrees; commas allowed; yaw optional) -> (translation, yaw)."""
    parts = text.replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (3, 4) or not all(math.isfinite(v) for v in values):
        raise SceneError(f'--to "{text}": expected "tx ty tz [yaw_degrees]" (finite numbers)')
    yaw = values[3] if len(values) == 4 else 0.0
    return (values[0], values[1], values[2]), yaw


MAX_EDITS = 1000
MAX_INSTANCE_ID = 65535  # ids are slot + 1, stored as 16-bit
# RegionConfig field -> (check, what it accepts); the grid and the rays are bounded so that a
# hand-written list cannot ask for hours of work or all the memory.
REGION_RANGES = {
    "resolution": (lambda v: 4 <= v <= 512, "in 4..512"),
    "density_threshold": (lambda v: v >= 0, "at least 0 (0: measured on the run)"),
    "dilation": (lambda v: 0 <= v <= 16, "in 0..16"),
    "visibility_rays": (lambda v: 0 <= v <= 1 << 22, "in 0..4194304"),
    "min_component_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "split_pieces": (lambda v: v is None or isinstance(v, bool), "true, false or null (by the field)"),
    "min_piece_voxels": (lambda v: 0 <= v <= 1 << 24, "in 0..16777216"),
    "min_piece_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "piece_bridge": (lambda v: 0 <= v <= 16, "in 0..16"),
}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_vector3(value) -> bool:
    return isinstance(value, list | tuple) and len(value) == 3 and all(_is_number(v) for v in value)


def _parse_edit(n: int, d, path: Path) -> Edit:
    where = f"{path}: edit {n}"
    if not isinstance(d, dict):
        raise SceneError(f"{where} is {type(d).__name__}, not an object with 'op' and 'instance'")
    if d.get("op") not in OPS:
        raise SceneError(f"{where}: 'op' {d.get('op')!r} is not one of {', '.join(OPS)}")
    instance = d.get("instance")
    if not isinstance(instance, int) or isinstance(instance, bool) or not 1 <= instance <= MAX_INSTANCE_ID:
        raise SceneError(
            f"{where}: 'instance' {instance!r} is not an instance id (an integer in 1..{MAX_INSTANCE_ID})"
        )
    translation = d.get("translation", [0.0, 0.0, 0.0])
    if not _is_vector3(translation):
        raise SceneError(f"{where}: 'translation' {translation!r} is not 3 finite numbers (world units)")
    yaw = d.get("yaw_degrees", 0.0)
    if not _is_number(yaw):
        raise SceneError(f"{where}: 'yaw_degrees' {yaw!r} is not a finite number")
    return Edit(
        op=d["op"],
        instance=instance,
        translation=tuple(float(v) for v in translation),  # type: ignore[arg-type]
        yaw_degrees=float(yaw),
    )


def _parse_region(value, path: Path) -> RegionConfig:
    if not isinstance(value, dict):
        raise SceneError(f"{path}: 'region' is {type(value).__name__}, not an object")
    defaults = RegionConfig()
    unknown = sorted(set(value) - set(vars(defaults)))
    if unknown:
        raise SceneError(
            f"{path}: unknown 'region' setting {unknown[0]!r} (known: {', '.join(vars(defaults))})"
        )
    for key, v in value.items():
        default = getattr(defaults, key)
        if key == "split_pieces":
            kind_ok = v is None or isinstance(v, bool)
        elif isinstance(default, bool):
            kind_ok = isinstance(v, bool)
        elif isinstance(default, int):
            kind_ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            kind_ok = _is_number(v)
        ok, accepts = REGION_RANGES[key]
        if not kind_ok or not ok(v):
            raise SceneError(f"{path}: region setting {key} {v!r} must be {type(default).__name__} {accepts}")
    settings = {k: v if k == "split_pieces" else type(getattr(defaults, k))(v) for k, v in value.items()}
    settings.setdefault("split_pieces", False)  # a list written before pieces existed keeps its ids
    return RegionConfig(**settings)


def edit_list_from_dict(data, path: str | Path) -> EditList:
    """Check and read the contents of an ``edits.json`` (errors name ``path`` and the problem): the ops
    and ids of the edits, finite transforms, a non-zero up axis, region settings of the right types and
    ranges, a source run path."""
    path = Path(path)
    if not isinstance(data, dict) or "source_run" not in data:
        raise SceneError(f"{path}: not an edit list (no 'source_run')")
    version = data.get("version", EDITS_VERSION)
    if version != EDITS_VERSION or isinstance(version, bool):
        raise SceneError(f"{path}: edit list version {version!r} is not {EDITS_VERSION}")
    source = data["source_run"]
    if not isinstance(source, str) or not source or "\0" in source:
        raise SceneError(f"{path}: 'source_run' {source!r} is not the path of a run folder")
    up = data.get("up", [0.0, 0.0, 1.0])
    if not _is_vector3(up) or float(np.linalg.norm(np.asarray(up, dtype=np.float64))) == 0.0:
        raise SceneError(f"{path}: 'up' must be a non-zero 3-vector of finite numbers, got {up!r}")
    region = _parse_region(data.get("region", {}), path)
    edits = data.get("edits", [])
    if not isinstance(edits, list) or len(edits) > MAX_EDITS:
        what = f"{len(edits)} edits" if isinstance(edits, list) else type(edits).__name__
        raise SceneError(f"{path}: 'edits' must be a list of at most {MAX_EDITS} edits, got {what}")
    parsed = [_parse_edit(n, d, path) for n, d in enumerate(edits, 1)]
    return EditList(source_run=source, edits=parsed, up=tuple(float(v) for v in up), region=region)  # type: ignore[arg-type]


def estimate_up_axis(poses: np.ndarray, snap_degrees: float = 30.0) -> np.ndarray:
    """World up from camera-to-world poses (N, 4, 4; OpenCV, y down): the direction most nearly
    perpendicular to every camera's x axis (:func:`panolift.capture.world_frame.up_direction`; not their
    mean up, which leans with their mean pitch), snapped to the nearest signed world axis when within
    ``snap_degrees`` of it."""
    up = up_direction(np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4))
    axis = int(np.abs(up).argmax())
    if abs(up[axis]) >= math.cos(math.radians(snap_degrees)):
        snapped = np.zeros(3)
        snapped[axis] = np.sign(up[axis])
        return snapped
    return up


Rays = tuple[torch.Tensor, torch.Tensor]  # (num_rays, 3) origins and unit directions, field coordinates


def split_pieces_of(field: nn.Module, settings: RegionConfig) -> bool:
    """Whether the instances of ``field`` are cut into pieces: ``settings.split_pieces``, or when that is
    None, True for a slot field and False for an instance-embedding field (see RegionConfig)."""
    if settings.split_pieces is not None:
        return settings.split_pieces
    config = getattr(unwrap_field(field), "config", None)
    return not getattr(config, "instance_embedding", 0)


def find_regions(
    field: nn.Module,
    thing_mask: torch.Tensor,
    settings: RegionConfig,
    device=None,
    rays: Rays | None = None,
) -> tuple[FieldGrid, dict[int, InstanceRegion]]:
    """Sample ``field`` over its box and return the grid and its 3D instances.

    ``rays``: rays of the training views; with them (and ``settings.visibility_rays`` > 0) the voxels they
    never saw take the labels of the nearest seen ones (:mod:`panolift.edit.regions`). In an edited field,
    occupied voxels that are empty in the trained field under the wrappers (a copy) count as seen: their
    labels come from the edit, not from an untrained part of the field."""
    if settings.density_threshold <= 0:
        raise ValueError("RegionConfig.density_threshold is not set (see region_threshold_of_run)")
    device = device if device is not None else field_device(field)
    aabb = box_of(field).detach().to("cpu", torch.float32)
    grid = sample_field_grid(field, aabb, settings.resolution, thing_mask, device=device)
    if rays is not None and settings.visibility_rays > 0:
        origins, dirs = (r[: settings.visibility_rays].to(device) for r in rays)
        occupied = grid.occupied(settings.density_threshold)
        visible = compute_visibility(field, aabb, occupied, origins, dirs)
        base = unwrap_field(field)
        if base is not field:
            points = voxel_centers(aabb, grid.resolution).reshape(-1, 3).to(device)
            base_density = evaluate_density(base, points).reshape(grid.resolution).float().cpu()
            visible |= occupied & (base_density < settings.density_threshold)
        grid.visible = visible
    split = split_pieces_of(field, settings)
    regions = find_instance_regions(
        grid,
        settings.density_threshold,
        settings.dilation,
        min_component_fraction=settings.min_piece_fraction if split else settings.min_component_fraction,
        split=split,
        min_piece_voxels=settings.min_piece_voxels,
        piece_bridge=settings.piece_bridge,
    )
    return grid, regions


def count_slots(field: nn.Module, device=None) -> int:
    """Number of instance slots a field outputs (one evaluation at the origin)."""
    pts = torch.zeros(1, 3, device=device if device is not None else field_device(field))
    with torch.no_grad():
        return int(field(pts, pts + pts.new_tensor([0.0, 0.0, 1.0])).instance.shape[-1])


def edited_regions(field: nn.Module) -> dict[int, InstanceRegion] | None:
    """The 3D instances that :func:`apply_edits` left on the field it returned (None for any other)."""
    return vars(field).get("instance_regions")


def _with_slot_sharing(regions: dict[int, InstanceRegion]) -> dict[int, InstanceRegion]:
    """``regions`` with ``shares_slot`` true exactly where another region has the same slot."""
    slots = [r.slot_id for r in regions.values()]
    return {
        i: dataclasses.replace(r, shares_slot=slots.count(r.slot_id) > 1, _on_device={})
        for i, r in regions.items()
    }


def apply_edits(
    field: nn.Module,
    edit_list: EditList,
    thing_mask: torch.Tensor,  # (num_classes,) bool
    world_scale: float,
    device=None,
    rays: Rays | None = None,
    world_rotation: np.ndarray | None = None,
) -> nn.Module:
    """Wrap ``field`` with every edit of ``edit_list`` in order (see the module docstring).

    ``world_scale`` is the normalisation's scale (field units per world unit), ``world_rotation`` its
    rotation (world -> field axes; None: the identity); ``rays`` the training
    views' rays for the regions' visibility (see :func:`find_regions`).

    The 3D instances are found once, on ``field`` (or taken from it when an earlier call edited it), and
    edited along with the field: a deleted instance leaves the dict, a moved one's voxels move, a copy
    is added under its new id. The result carries them (:func:`edited_regions`), so an instance keeps
    its id through every edit, and renders of the edited scene use them (its instance table).
    """
    turn = np.eye(3) if world_rotation is None else np.asarray(world_rotation, dtype=np.float64)
    up = torch.tensor(turn @ np.asarray(edit_list.up, dtype=np.float64), dtype=torch.float32)
    regions = edited_regions(field)
    if regions is None:
        _, regions = find_regions(field, thing_mask, edit_list.region, device=device, rays=rays)
    regions = dict(regions)
    for n, edit in enumerate(edit_list.edits):
        if edit.instance not in regions:
            raise SceneError(
                f"edit {n + 1} ({edit.op} {edit.instance}): no 3D instance {edit.instance} in the scene "
                f"(instances: {sorted(regions)})"
            )
        region = regions[edit.instance]
        if edit.op == "delete":
            field = DeleteInstance(field, region, thing_mask)
            del regions[edit.instance]
            regions = _with_slot_sharing(regions)
            continue
        translation = torch.tensor(turn @ np.asarray(edit.translation, dtype=np.float64), dtype=torch.float32)
        translation = translation * world_scale
        transform = RigidTransform.from_yaw(translation, math.radians(edit.yaw_degrees), up, region.center())
        scene = DeleteInstance(field, region, thing_mask, for_move=True) if edit.op == "move" else field
        # A move keeps the instance's id; a duplicate's copy gets the next free slot.
        new_slot = None if edit.op == "move" else count_slots(field, device)
        field = DuplicateInstance(scene, field, region, transform, new_slot, thing_mask)
        instance_id = edit.instance if new_slot is None else new_slot + 1
        moved = transform_region(region, transform, None if new_slot is None else instance_id)
        regions.pop(edit.instance if new_slot is None else instance_id, None)
        if bool(moved.core.any()):
            regions[instance_id] = moved
        else:
            log.warning(
                "edit %d: instance %d left the region grid; it renders but cannot be edited",
                n + 1,
                instance_id,
            )
        if new_slot is not None:
            log.info("duplicate of instance %d has id %d", edit.instance, instance_id)
        regions = _with_slot_sharing(regions)
    if edit_list.edits:
        field.instance_regions = regions  # on the outermost wrapper (an instance attribute)
    return field
