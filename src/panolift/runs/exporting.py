"""Export of a run (trained or edited): its labelled surface as PLY or GLB files, in world units.

RUN/export/scene_<what>.<format>            the whole scene (default output)
RUN/export/scene_<what>/<part>.ply           one file per part with ``split_instances`` and PLY
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panolift.errors import OptionError
from panolift.export import LabelledSurface, extract_labelled_surface, split_by_instance, write_glb, write_ply

from .edited import load_run
from .loaded import LoadedRun
from .regions import instance_table_of_run, surface_density_of_run

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    surface: LabelledSurface
    level: float  # the density of the surface (field units)
    written: list[Path]


def part_name(instance_id: int, surface: LabelledSurface, class_names) -> str:
    """File / node name of one part: "stuff" or "instance_007_chair" (majority class of its vertices)."""
    if instance_id == 0:
        return "stuff"
    cls = int(np.bincount(surface.classes).argmax())
    return f"instance_{instance_id:03d}_{class_names[cls]}"


MAX_EXPORT_RESOLUTION = 1024


def check_export_options(format: str, what: str, resolution: int, level: float) -> None:
    """The options of an export, before the run is read (OptionError names the option)."""
    if format not in ("ply", "glb"):
        raise OptionError(f"--format {format}: must be ply or glb")
    if what not in ("mesh", "points"):
        raise OptionError(f"--what {what}: must be mesh or points")
    if not 2 <= resolution <= MAX_EXPORT_RESOLUTION:
        raise OptionError(f"--resolution {resolution}: must be 2..{MAX_EXPORT_RESOLUTION} voxels")
    if not (math.isfinite(level) and level >= 0):
        raise OptionError(f"--level {level}: must be 0 (measured on the run) or a positive density")


def labelled_surface_of_run(
    loaded: LoadedRun, resolution: int, level: float, device=None, instances=None
) -> LabelledSurface:
    """The run's labelled surface in world units (:func:`panolift.export.extract_labelled_surface`), vertex
    ids from ``instances`` (default: the run's instance table), as its renders have them."""
    if instances is None:
        instances = instance_table_of_run(loaded, device=device)
    return extract_labelled_surface(
        loaded.field, loaded.thing_mask, loaded.normalization, resolution, level, device, instances=instances
    )


def export_run(
    run_dir: str | Path,
    format: str = "ply",
    what: str = "mesh",
    resolution: int = 128,
    split_instances: bool = False,
    level: float = 0.0,
    out: str | Path | None = None,
    device=None,
) -> ExportResult:
    """Marching cubes at ``level`` (0: the run's surface density, where its training rays reach
    transmittance 1/2) over the field's box, labelled per vertex; written as ``format`` (ply|glb), the
    mesh or (``what="points"``) its vertices, whole or one part per 3D instance plus "stuff"."""
    check_export_options(format, what, resolution, level)
    run_dir = Path(run_dir)
    loaded = load_run(run_dir, device)
    if level <= 0:
        level = surface_density_of_run(loaded, device=device)
    surface = labelled_surface_of_run(loaded, resolution, level, device)
    if what == "points":
        surface = surface.as_points()
    parts = {"scene": surface}
    if split_instances:
        parts = {part_name(k, s, loaded.class_set.names): s for k, s in split_by_instance(surface).items()}
    suffix = "" if (split_instances and format == "ply") else f".{format}"
    out = Path(out) if out is not None else run_dir / "export" / f"scene_{what}{suffix}"
    comments = [
        f"panolift export of {run_dir.resolve()}",
        "units: world",
        "class: semantic class, instance: 3D id",
    ]
    if format == "glb":
        write_glb(out, parts)
        written = [out]
    elif split_instances:
        written = [out / f"{name}.ply" for name in parts]
        for path, part in zip(written, parts.values(), strict=True):
            write_ply(path, part, comments)
    else:
        write_ply(out, surface, comments)
        written = [out]
    log.info("exported %s of %s to %s", what, run_dir, out)
    return ExportResult(surface, level, written)
