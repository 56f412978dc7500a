"""Scene editing on 3D instances (delete, duplicate, move) as wrappers around a panoptic field."""

from .edits import (
    EDITS_FILE,
    Edit,
    EditList,
    apply_edits,
    edit_list_from_dict,
    estimate_up_axis,
    find_regions,
    parse_transform,
)
from .regions import (
    EXTRA_ID_BASE,
    InstanceRegion,
    InstanceTable,
    find_instance_regions,
    sample_field_grid,
)
from .wrappers import DeleteInstance, DuplicateInstance, RigidTransform

__all__ = [
    "EDITS_FILE",
    "EXTRA_ID_BASE",
    "DeleteInstance",
    "DuplicateInstance",
    "Edit",
    "EditList",
    "InstanceRegion",
    "InstanceTable",
    "RigidTransform",
    "apply_edits",
    "edit_list_from_dict",
    "estimate_up_axis",
    "find_instance_regions",
    "find_regions",
    "parse_transform",
    "sample_field_grid",
]
