"""`panolift edit RUN --delete ID | --duplicate ID --to "tx ty tz yaw" | --move ID --to ... --out EDITED`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tyro

from panolift.config import RegionConfig


def edit(
    run: Path,
    /,
    out: Path,
    delete: int | None = None,
    duplicate: int | None = None,
    move: int | None = None,
    to: str | None = None,
    up: tuple[float, float, float] | None = None,
    device: str = "auto",
    region: Annotated[RegionConfig, tyro.conf.arg(name="")] = RegionConfig(),  # noqa: B008 (read-only)
) -> None:
    """Delete, duplicate or move a 3D instance of a trained (or already edited) run.

    Writes a small edited run (edits.json + run.json, no checkpoint copy) that `panolift render`,
    `panolift export` and `panolift info` treat like any run. Editing an edited run adds to its edits.
    Instance ids are those `panolift info RUN` lists; a duplicate gets a new id (printed).

    Args:
        run: a run folder written by `panolift train` (or by `panolift edit`).
        out: the edited run's folder.
        delete: id of the instance to delete.
        duplicate: id of the instance to copy (needs --to).
        move: id of the instance to move (needs --to); it keeps its id.
        to: "tx ty tz [yaw]": translation in world units, then yaw in degrees about the up axis through
            the instance's centre (applied before the translation).
        up: world up axis for yaw (default: from the scene's cameras).
        device: auto (cuda if available, else cpu), cpu, cuda, ...
    """
    import dataclasses

    from panolift.commands.common import pick_device
    from panolift.edit import Edit, parse_transform
    from panolift.runs import create_edited_run, describe_instances, read_edit_list
    from panolift.scene import SceneError

    chosen = [
        (op, k) for op, k in (("delete", delete), ("duplicate", duplicate), ("move", move)) if k is not None
    ]
    if len(chosen) != 1:
        raise SceneError("give exactly one of --delete ID, --duplicate ID --to ..., --move ID --to ...")
    op, instance = chosen[0]
    if op == "delete" and to is not None:
        raise SceneError("--to goes with --duplicate or --move, not --delete")
    if op != "delete" and to is None:
        raise SceneError(f'--{op} needs --to "tx ty tz [yaw_degrees]"')
    translation, yaw = parse_transform(to) if to is not None else ((0.0, 0.0, 0.0), 0.0)
    device = pick_device(device)
    overrides = {k: v for k, v in dataclasses.asdict(region).items() if k != "density_threshold" or v > 0}
    loaded = create_edited_run(
        run, out, [Edit(op, instance, translation, yaw)], up=up, device=device, **overrides
    )
    edit_list = read_edit_list(out)
    rows = describe_instances(loaded, edit_list.region, device=device)
    print(f"edited run   {out}  ({len(edit_list.edits)} edit(s) on {edit_list.source_run})")
    print(f"up axis      {tuple(round(v, 3) for v in edit_list.up)}")
    region_line = f"grid {edit_list.region.resolution}^3, density >= {edit_list.region.density_threshold:.3g}"
    print(f"regions      {region_line}")
    for n, e in enumerate(edit_list.edits, 1):
        extra = "" if e.op == "delete" else f" to t={e.translation} yaw={e.yaw_degrees:g} deg"
        print(f"  {n}. {e.op} {e.instance}{extra}")
    listing = ", ".join(f"{r['id']} ({r['class']})" for r in rows) or "none"
    print(f"3D instances now: {listing}")
