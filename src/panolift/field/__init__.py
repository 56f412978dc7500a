"""The panoptic radiance field: TensoRF VM grids, colour MLP, semantic and instance heads."""

from .heads import PositionHead
from .outputs import FieldOutputs
from .panoptic import PanopticField
from .tensorf import ColorMLP, TensorVM, compute_tv_loss, encode_positions, resolution_from_voxels

__all__ = [
    "ColorMLP",
    "FieldOutputs",
    "PanopticField",
    "PositionHead",
    "TensorVM",
    "compute_tv_loss",
    "encode_positions",
    "resolution_from_voxels",
]
