"""`panolift info RUN`: a trained or edited run, and its 3D instances."""

from __future__ import annotations

from pathlib import Path


def instance_table(rows: list[dict], unit: str = "slot") -> list[str]:
    """Lines of the 3D instance table: id, class, slot (``unit``: "cluster" for an embedding field, the
    index of its instance), voxel count, world bounding box (ids from 32768 up are further pieces of a
    slot: objects apart from each other that the field gave the same slot)."""
    lines = [
        f"{'id':>5}  {'class':<14} {unit:>7} {'voxels':>7}  bbox min (world)            bbox max (world)"
    ]
    for r in rows:
        lo = " ".join(f"{v:7.3f}" for v in r["bbox_min"])
        hi = " ".join(f"{v:7.3f}" for v in r["bbox_max"])
        slot = r.get("slot", r["id"] - 1)
        lines.append(f"{r['id']:>5}  {r['class']:<14} {slot:>7} {r['voxels']:>7}  {lo}     {hi}")
    return lines


def class_counts(rows: list[dict]) -> str:
    """'bag 87, chair 30, ...': instances per class, most first (a summary above a long table)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda t: (-t[1], t[0])))


def run_info(path: Path, device: str = "auto") -> None:
    """Print a run's scene, step and edits, then its 3D instances (id, class, voxel count, bounding box
    in world units), found on a voxel grid over the field's box."""
    from panolift.capture.world_frame import turn_degrees
    from panolift.commands.common import pick_device
    from panolift.runs import (
        describe_instances,
        is_edited_run,
        load_run,
        read_edit_list,
        resolve_region_settings,
    )

    device = pick_device(device)
    loaded = load_run(path, device)
    print(f"run          {Path(path)}")
    print(f"scene        {loaded.scene_path}")
    print(f"step         {loaded.step}")
    print(f"classes      {loaded.class_set.num_classes} (incl. void)")
    if loaded.normalization.turned:
        degrees = turn_degrees(loaded.normalization.rotation)
        print(
            f"field axes   turned {degrees:.1f} deg from the scene's world onto the room (train.orient_world)"
        )
    if is_edited_run(path):
        edit_list = read_edit_list(path)
        print(f"edited from  {edit_list.source_run}")
        for n, e in enumerate(edit_list.edits, 1):
            extra = "" if e.op == "delete" else f" to t={e.translation} yaw={e.yaw_degrees:g} deg"
            print(f"  {n}. {e.op} {e.instance}{extra}")
    field = loaded.field
    if field.has_label_votes:
        x, y, z = (int(v) for v in field.label_vote_shape)
        open_share = field.label_vote_open_share
        print(
            f"label votes  {field.label_vote_nodes.shape[0]} voted nodes of a {x}x{y}x{z} lattice, "
            f"{field.config.label_votes:g} of the semantics"
            + ("" if open_share is None else f"; {100 * open_share:.1f}% of the training rays on no surface")
        )
    elif field.config.label_votes > 0:
        print("label votes  none yet (fused at the end of training)")
    if loaded.frame_exposure is not None:
        exposure = loaded.frame_exposure
        print(f"exposure     {exposure.summary()} over {exposure.num_frames} training frames")
    if loaded.frame_cameras is not None:
        cameras = loaded.frame_cameras
        print(f"cameras      refined: {cameras.summary(loaded.normalization.scale)}")
    settings = resolve_region_settings(loaded, device=device)
    rows = describe_instances(loaded, settings, device=device)
    print(
        f"3D instances {len(rows)} (grid {settings.resolution}^3 over the field's box, occupied where "
        f"density >= {settings.density_threshold:.3g}; unseen insides filled from the seen surface, "
        f"floaters dropped; bbox of the kept voxels)"
    )
    if rows:
        print(f"  per class: {class_counts(rows)}")
    unit = "cluster" if loaded.field.config.instance_embedding else "slot"
    for line in instance_table(rows, unit):
        print("  " + line)
