"""`panolift export RUN --format ply|glb [--what points|mesh] [--resolution N] [--split-instances]`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


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

    from panolift.commands.common import pick_device
    from panolift.runs import export_run

    start = time.perf_counter()
    result = export_run(run, format, what, resolution, split_instances, level, out, pick_device(device))
    surface, ids = result.surface, np.unique(result.surface.instances)
    print(
        f"exported {what} of {run}: {surface.num_vertices} vertices, {surface.faces.shape[0]} faces, "
        f"{int((ids > 0).sum())} instances, surface density {result.level:.3g}, "
        f"in {time.perf_counter() - start:.1f} s"
    )
    for path in result.written:
        print(f"  {path}")
