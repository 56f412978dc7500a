"""Scene editing on 3D instances (delete, duplicate, move) as wrappers around a panoptic field."""

from .edits import (
    EDITS_FILE,
    Edit,
    EditList,
    RegionSettings,
    apply_edits,
    load_edits,
    parse_transform,
    save_edits,
)
from .regions import InstanceRegion, compute_panoptic_ids, find_instance_regions, sample_field_grid
from .runs import create_edited_run, describe_instances, is_edited_run, load_edited_run, load_run_with_edits
from .wrappers import DeleteInstance, DuplicateInstance, RigidTransform

__all__ = [
    "EDITS_FILE",
    "DeleteInstance",
    "DuplicateInstance",
    "Edit",
    "EditList",
    "InstanceRegion",
    "RegionSettings",
    "RigidTransform",
    "apply_edits",
    "compute_panoptic_ids",
    "describe_instances",
    "find_instance_regions",
    "is_edited_run",
    "load_edited_run",
    "load_edits",
    "load_run_with_edits",
    "parse_transform",
    "sample_field_grid",
    "save_edits",
    "create_edited_run",
]
