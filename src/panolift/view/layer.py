"""The viewer's 3D layer: the run's labelled surface (what `panolift export` writes), drawn by the browser
itself so that the scene turns instantly however slow the field is.

It is extracted once at a modest resolution (:func:`panolift.export.extract_labelled_surface` at the run's
surface density) and cached in ``RUN/view/`` (one ``.npz`` per checkpoint, edit list and resolution,
written atomically); a run that cannot hold the cache (read-only folder) simply recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from panolift.export import LabelledSurface
from panolift.render import class_palette
from panolift.render.colors import instance_colors, instance_key
from panolift.runs import LoadedRun, surface_density_of_run
from panolift.runs.exporting import labelled_surface_of_run
from panolift.scene import ClassSet, SceneError
from panolift.scene.io import atomic_path

log = logging.getLogger(__name__)

CACHE_DIR = "view"
LAYER_COLORINGS = ("class", "instance", "rgb")
LAYER_MODES = ("while moving", "always", "off")
"""When the browser draws the layer: while the camera moves (until the field's image for the new camera
arrives), always (over the image, hidden behind its surfaces by the image's depth), or never."""


def layer_cache_path(run_dir: Path, checkpoint_step: int, edits: list[dict], resolution: int) -> Path:
    """RUN/view/surface_<hash>.npz, the hash of the checkpoint's step, the edit list and the resolution."""
    # "ids": vertex ids are the instance table's (pieces of slots); caches of slot ids are not reused
    key = json.dumps(
        {"step": checkpoint_step, "edits": edits, "resolution": resolution, "ids": "pieces"}, sort_keys=True
    )
    return Path(run_dir) / CACHE_DIR / f"surface_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"


def read_cached_surface(path: Path) -> LabelledSurface | None:
    """The surface cached at ``path``, None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return LabelledSurface(**{name: data[name] for name in LabelledSurface.__dataclass_fields__})
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the cached 3D layer %s (%s)", path, exc)
        return None


def write_cached_surface(path: Path, surface: LabelledSurface) -> None:
    """Write ``surface`` to ``path`` atomically; a folder that cannot be written is only logged."""
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f, **{n: getattr(surface, n) for n in LabelledSurface.__dataclass_fields__}
                )
    except OSError as exc:
        log.info("3D layer not cached (%s)", exc)


def compute_layer(
    loaded: LoadedRun, resolution: int = 96, cache: Path | None = None, device=None, instances=None
) -> LabelledSurface | None:
    """The labelled surface of ``loaded``'s field at ``resolution`` voxels along the box's longest side
    (world units), from ``cache`` when it holds it (and written there otherwise); None when the field
    has no surface yet (a run at its first steps). Vertex ids follow ``instances`` (default: the run's
    instance table), as the renders do."""
    if cache is not None and (surface := read_cached_surface(cache)) is not None:
        return surface
    try:
        level = surface_density_of_run(loaded, device=device)
        surface = labelled_surface_of_run(loaded, resolution, level, device, instances)
    except SceneError as exc:
        log.info("no 3D layer yet: %s", exc)
        return None
    if cache is not None:
        write_cached_surface(cache, surface)
    return surface


def layer_colors(
    surface: LabelledSurface,
    coloring: str,
    class_set: ClassSet,
    selected: int | None = None,
) -> np.ndarray:
    """(num_vertices, 3) uint8 colours of the layer: by ``coloring`` (class, instance or rgb; instances
    colour things by their 3D instance and stuff by its class, dimmed), with a ``selected`` instance shown
    as it is and everything else dimmed to 35%."""
    if coloring == "class":
        colors = class_palette(class_set.num_classes)[np.clip(surface.classes, 0, class_set.num_classes - 1)]
    elif coloring == "instance":
        colors = class_palette(class_set.num_classes)[np.clip(surface.classes, 0, class_set.num_classes - 1)]
        colors = (colors.astype(np.float32) * 0.45).astype(np.uint8)
        things = surface.instances > 0
        colors[things] = instance_colors(instance_key(surface.classes[things], surface.instances[things]))
    elif coloring == "rgb":
        colors = surface.colors.copy()
    else:
        raise ValueError(f"unknown layer colouring {coloring!r} (one of {', '.join(LAYER_COLORINGS)})")
    if selected is not None and selected > 0:
        others = surface.instances != selected
        colors[others] = (colors[others].astype(np.float32) * 0.35).astype(np.uint8)
    return colors
