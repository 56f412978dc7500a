"""`panolift export RUN --format ply|glb [--what points|mesh] [--resolution N] [--split-instances]`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def part_name(instance_id: int, surface, class_names) -> str:
    """File / node name of one part: "stuff" or "instance_007_chair" (majority class of its vertices)."""
    import numpy as np

    if instance_id == 0:
        return "stuff"
    cls = int(np.bincount(surface.classes).argmax())
    return f"instance_{instance_id:03d}_{class_names[cls]}"


def export(
    run: Path,
    /,
    format: Literal["ply", "glb"] = "ply",
    what: Literal["points", "mesh"] = "mesh",
    resolution: int = 128,
    split_instances: bool = False,
    level: float = 0.0,
    out: Path | None = None,
    device: str = "auto",
) -> None:
    """Export the occupied surface of a run's field (edits included) as a labelled point cloud or mesh.

    The mesh is marching cubes on the density (voxel centres over the field's box); the point cloud is
    its vertices. Per vertex: colour, class and 3D instance id (PLY properties `class`, `instance`;
    GLB: colours only, ids in node names). Coordinates are in world units.

    Args:
        run: a run folder (trained or edited).
        format: ply (binary, labelled vertices) or glb (for viewers).
        what: points or mesh.
        resolution: voxels along the longest side of the field's box.
        split_instances: one part per 3D instance plus "stuff": PLY files in a folder, or GLB nodes.
        level: density of the surface (field units); 0 = the density where rays of the training views
            reach transmittance 1/2 (their median), which suits sharp and blurry fields alike.
        out: output file (folder with --split-instances and ply); default RUN/export/scene_<what>.<format>.
        device: auto (cuda if available, else cpu), cpu, cuda, ...
    """
    import time

    import numpy as np

    from panolift.commands.train import pick_device
    from panolift.edit import load_run_with_edits
    from panolift.edit.runs import thing_mask_of
    from panolift.export import extract_labelled_surface, split_by_instance, write_glb, write_ply
    from panolift.export.level import estimate_surface_density, training_rays
    from panolift.scene import SceneError

    start = time.perf_counter()
    device = pick_device(device)
    loaded = load_run_with_edits(run, device)
    if level <= 0:
        origins, dirs = training_rays(loaded, max_rays=4096)
        level = estimate_surface_density(loaded.field, origins.to(device), dirs.to(device))
        if level is None:
            raise SceneError(f"{run}: no training ray becomes opaque; nothing to export (pass --level)")
    thing_mask = thing_mask_of(loaded.class_set)
    surface = extract_labelled_surface(
        loaded.field, thing_mask, loaded.normalization, resolution, level, device
    )
    if what == "points":
        surface = surface.as_points()
    parts = {"scene": surface}
    if split_instances:
        parts = {part_name(k, s, loaded.class_set.names): s for k, s in split_by_instance(surface).items()}
    suffix = "" if (split_instances and format == "ply") else f".{format}"
    out = Path(out) if out is not None else Path(run) / "export" / f"scene_{what}{suffix}"
    comments = [
        f"panolift export of {Path(run).resolve()}",
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
    ids = np.unique(surface.instances)
    print(
        f"exported {what} of {run}: {surface.num_vertices} vertices, {surface.faces.shape[0]} faces, "
        f"{int((ids > 0).sum())} instances, surface density {level:.3g}, in {time.perf_counter() - start:.1f} s"
    )
    for path in written:
        print(f"  {path}")
