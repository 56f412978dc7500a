"""`panolift edit RUN --delete ID | --duplicate ID --to "tx ty tz yaw" | --move ID --to ... --out EDITED`."""

from __future__ import annotations

from pathlib import Path


def edit(
    run: Path,
    /,
    out: Path,
    delete: int | None = None,
    duplicate: int | None = None,
    move: int | None = None,
    to: str | None = None,
    up: tuple[float, float, float] | None = None,
    resolution: int = 64,
    density_threshold: float = 0.0,
    dilation: int = 1,
    visibility_rays: int = 8192,
    min_component_fraction: float = 0.5,
    device: str = "auto",
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
        resolution: voxels per axis of the grid that finds instance regions (over the field's box).
        density_threshold: a voxel is occupied when its density (field units) reaches this; 0 = half the
            density at which the training views' rays reach transmittance 1/2 (kept from an edited run).
        dilation: voxels added around an instance's region (covers samples on its surface).
        visibility_rays: training-view rays that find the voxels the views saw; an unseen occupied voxel
            (an object's inside) takes the id of the nearest seen one. 0 = the field's ids everywhere.
        min_component_fraction: with visibility, an instance keeps the connected pieces with at least
            this share of the visible voxels of its largest piece (the rest: floaters). 0 = keep all.
        device: auto (cuda if available, else cpu), cpu, cuda, ...
    """
    from panolift.commands.train import pick_device
    from panolift.edit import Edit, describe_instances, load_edits, parse_transform
    from panolift.edit.edits import EDITS_FILE
    from panolift.edit.runs import create_edited_run
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
    region = {
        "resolution": resolution,
        "dilation": dilation,
        "visibility_rays": visibility_rays,
        "min_component_fraction": min_component_fraction,
    }
    if density_threshold > 0:
        region["density_threshold"] = density_threshold
    loaded = create_edited_run(
        run, out, [Edit(op, instance, translation, yaw)], up=up, device=device, **region
    )
    edit_list = load_edits(Path(out) / EDITS_FILE)
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
