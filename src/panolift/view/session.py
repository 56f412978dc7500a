"""A run in the viewer: its field with the viewer's edits, its 3D instances, selection, and saving.

The viewer edits through the machinery of `panolift edit`: its actions become :class:`~panolift.edit.Edit`
s, applied with :func:`~panolift.edit.apply_edits` on top of the run's own edits (an edited run's list),
and "save" writes the same edited-run folder with :func:`~panolift.runs.create_edited_run`, which
`load_run` reads like any run. Hiding an instance is a delete that is never saved.

    trained field --(run's edits)--> --(pending edits, one wrapper each)--> edited --(hidden)--> shown

A session is shared by the browser's threads: state changes hold a lock, and ``field`` is swapped in one
assignment (renderers read it once per band). ``version`` grows with every change of the shown field.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from panolift.edit import Edit, EditList, apply_edits, estimate_up_axis
from panolift.runs import (
    LoadedRun,
    create_edited_run,
    find_run_regions,
    is_edited_run,
    latest_checkpoint,
    load_trained_run,
    read_edit_list,
    resolve_region_settings,
    source_run_dir,
    training_rays,
)
from panolift.runs.regions import instance_rows
from panolift.scene import Scene, SceneError, scale_intrinsics

from .images import instance_color

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingCamera:
    """A training view: name, (4, 4) camera-to-world (OpenCV, world units), K for width x height."""

    name: str
    c2w: np.ndarray
    K: np.ndarray
    width: int
    height: int


@dataclass(frozen=True)
class InstanceRow:
    """A 3D instance as the panel lists it (:func:`panolift.runs.describe_instances`)."""

    id: int
    class_id: int
    class_name: str
    voxels: int
    bbox_min: tuple[float, float, float]  # world units
    bbox_max: tuple[float, float, float]
    color: tuple[int, int, int]

    @property
    def extent(self) -> np.ndarray:
        """(3,) size of the bounding box, world units."""
        return np.asarray(self.bbox_max) - np.asarray(self.bbox_min)

    def label(self) -> str:
        size = " x ".join(f"{v:.2f}" for v in self.extent)
        return f"#{self.id} {self.class_name} ({size} m, {self.voxels} vox)"


def training_cameras(loaded: LoadedRun) -> list[TrainingCamera]:
    """The training views of a run's scene at the run's image size."""
    width, height = loaded.image_size
    scene = Scene(loaded.scene_path)
    K = scale_intrinsics(scene.intrinsics, scene.size, (width, height))
    names = scene.train_frames or scene.frame_names
    return [TrainingCamera(n, np.asarray(scene.pose(n), dtype=np.float64), K, width, height) for n in names]


class ViewerSession:
    """A run open in the viewer. ``base`` is the trained run (field unwrapped), ``edit_list`` the run's own
    edits (empty for a trained run) with its up axis and region settings resolved."""

    def __init__(
        self, run_dir: Path, base: LoadedRun, edit_list: EditList, editable: bool = True, device=None
    ):
        self.run_dir, self.base, self.edit_list = Path(run_dir), base, edit_list
        self.editable, self.device = editable, device
        self.pending: list[Edit] = []
        self.hidden: set[int] = set()
        self.selected: int | None = None
        self.version = 0
        self.lock = threading.RLock()
        self._rays = self._visibility_rays()
        self._fields = [self._wrap(base.field, edit_list.edits)]  # [i]: after i pending edits
        self.field = self._fields[0]
        self._instances: list[InstanceRow] | None = None
        self._table = None  # computed with _instances

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, run_dir: str | Path, device=None) -> ViewerSession:
        """A trained or edited run folder (its latest checkpoint)."""
        run_dir = Path(run_dir)
        if is_edited_run(run_dir):
            edit_list = read_edit_list(run_dir)
            base = load_trained_run(source_run_dir(run_dir, edit_list), device)
        else:
            base = load_trained_run(run_dir, device)
            up = estimate_up_axis(np.asarray(Scene(base.scene_path).poses))
            edit_list = EditList(source_run="", up=tuple(float(v) for v in up))
        edit_list.region = resolve_region_settings(base, edit_list.region, device)
        return cls(run_dir, base, edit_list, device=device)

    @property
    def class_set(self):
        return self.base.class_set

    @property
    def normalization(self):
        return self.base.normalization

    @property
    def thing_mask(self) -> torch.Tensor:
        return self.base.thing_mask

    @property
    def up(self) -> np.ndarray:
        return np.asarray(self.edit_list.up, dtype=np.float64)

    @property
    def step(self) -> int:
        return self.base.step

    @property
    def edited_field(self):
        """The field with the run's and the pending edits, before hiding."""
        return self._fields[-1]

    def loaded(self) -> LoadedRun:
        """The run as :mod:`panolift.runs` sees it, with the shown field."""
        return self.base.with_field(self.field, run_dir=self.run_dir)

    def cameras(self) -> list[TrainingCamera]:
        return training_cameras(self.base)

    # ------------------------------------------------------------------ fields
    def _visibility_rays(self):
        if self.edit_list.region.visibility_rays <= 0:
            return None
        origins, dirs = training_rays(self.base, max_rays=self.edit_list.region.visibility_rays)
        return origins.to(self.device), dirs.to(self.device)

    def _wrap(self, field, edits: list[Edit]):
        if not edits:
            return field
        edit_list = dataclasses.replace(self.edit_list, edits=list(edits))
        return apply_edits(
            field, edit_list, self.thing_mask, self.normalization.scale, device=self.device, rays=self._rays,
            world_rotation=self.normalization.rotation,
        ).eval()  # fmt: skip

    def _show(self) -> None:
        """Recompute the shown field (hidden instances deleted on top of the edited one)."""
        hidden = [Edit("delete", k) for k in sorted(self.hidden)]
        self.field = self._wrap(self.edited_field, hidden)
        self.version += 1

    # ------------------------------------------------------------------ instances and selection
    def instances(self) -> list[InstanceRow]:
        """The 3D instances of the edited field (hidden ones included), computed once per change."""
        with self.lock:
            if self._instances is None:
                loaded = self.base.with_field(self.edited_field, run_dir=self.run_dir)
                regions, self._table = find_run_regions(loaded, self.edit_list.region, device=self.device)
                rows = instance_rows(loaded, regions)
                self._instances = [
                    InstanceRow(
                        r["id"],
                        r["class_id"],
                        r["class"],
                        r["voxels"],
                        tuple(r["bbox_min"]),
                        tuple(r["bbox_max"]),
                        instance_color(r["class_id"], r["id"]),
                    )  # fmt: skip
                    for r in rows
                ]
            return self._instances

    def instance_table(self):
        """The :class:`~panolift.edit.InstanceTable` of the edited field (the ids :meth:`instances` lists),
        for the renders, the picking and the 3D layer."""
        with self.lock:
            self.instances()
            return self._table

    def instance(self, instance_id: int | None) -> InstanceRow | None:
        return next((r for r in self.instances() if r.id == instance_id), None)

    def select(self, instance_id: int | None) -> InstanceRow | None:
        """Select an instance (None or an unknown id: nothing)."""
        row = self.instance(instance_id) if instance_id else None
        self.selected = row.id if row is not None else None
        return row

    # ------------------------------------------------------------------ editing
    def _require_editable(self) -> None:
        if not self.editable:
            raise SceneError(
                "this view is read-only (a run being trained): edit it once training has finished"
            )

    def apply(self, edit: Edit) -> None:
        """Add ``edit`` to the pending edits (an unknown instance is a SceneError and changes nothing)."""
        self._require_editable()
        with self.lock:
            field = self._wrap(self.edited_field, [edit])
            self.pending.append(edit)
            self._fields.append(field)
            if edit.op == "delete":
                self.hidden.discard(edit.instance)
                self.selected = None if self.selected == edit.instance else self.selected
            self._instances = None
            self._show()
        log.info("viewer edit: %s", edit.to_dict())

    def undo(self) -> Edit | None:
        """Drop the last pending edit; returns it (None when there is none)."""
        with self.lock:
            if not self.pending:
                return None
            self._fields.pop()
            edit = self.pending.pop()
            self._instances = None
            self.hidden = {k for k in self.hidden if k in {r.id for r in self.instances()}}
            self._show()
            return edit

    def set_hidden(self, instance_id: int, hidden: bool) -> None:
        """Hide (delete in view only, never saved) or show an instance."""
        with self.lock:
            changed = (instance_id in self.hidden) != hidden
            (self.hidden.add if hidden else self.hidden.discard)(instance_id)
            if changed:
                self._show()

    def save(self, out: str | Path) -> Path:
        """Write the pending edits as an edited run ``out`` (:func:`panolift.runs.create_edited_run`; on an
        edited run they are appended to its list); the session then continues on ``out``."""
        self._require_editable()
        out = Path(out)
        with self.lock:
            if not self.pending:
                raise SceneError("nothing to save: no edit since the run was opened")
            region = dataclasses.asdict(self.edit_list.region)
            create_edited_run(
                self.run_dir, out, list(self.pending), up=tuple(self.up), device=self.device, **region
            )
            self.run_dir, self.edit_list = out, read_edit_list(out)
            self.edit_list.region = resolve_region_settings(self.base, self.edit_list.region, self.device)
            self._fields = [self._fields[-1]]
            self.pending = []
        log.info("viewer saved edited run %s", out)
        return out

    # ------------------------------------------------------------------ runs still training
    def newer_checkpoint(self) -> bool:
        """Whether the trained run has a checkpoint past the one shown (it is still training)."""
        path = latest_checkpoint(self.base.run_dir)
        return path is not None and path.name != f"step_{self.base.step:06d}.safetensors"

    def reload(self, base: LoadedRun | None = None, remeasure: bool = True) -> None:
        """Show a newer state of the trained run (``base``, else its latest checkpoint), with the run's and
        the pending edits reapplied (an edit whose instance is gone is dropped, with a warning). With
        ``remeasure``, a trained run's region threshold is measured again on the new field."""
        base = base if base is not None else load_trained_run(self.base.run_dir, self.device)
        with self.lock:
            self.base = base
            if remeasure and not self.edit_list.edits and not is_edited_run(self.run_dir):
                region = dataclasses.replace(self.edit_list.region, density_threshold=0.0)
                self.edit_list.region = resolve_region_settings(base, region, self.device)
            self._fields = [self._wrap(base.field, self.edit_list.edits)]
            kept = []
            for edit in self.pending:
                try:
                    self._fields.append(self._wrap(self._fields[-1], [edit]))
                    kept.append(edit)
                except SceneError as exc:
                    log.warning("viewer: edit %s dropped on reload (%s)", edit.to_dict(), exc)
            self.pending, self._instances = kept, None
            self._show()
