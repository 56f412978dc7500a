"""The panoptic radiance field: TensoRF VM grids, colour MLP, semantic and instance heads, occupancy."""

from .heads import PositionHead
from .occupancy import OccupancyGrid, compute_occupancy, occupied_aabb, voxel_centers
from .outputs import FieldOutputs
from .panoptic import PanopticField
from .tensorf import ColorMLP, TensorVM, compute_tv_loss, encode_positions, resolution_from_voxels

__all__ = [
    "ColorMLP",
    "FieldOutputs",
    "OccupancyGrid",
    "PanopticField",
    "PositionHead",
    "TensorVM",
    "compute_occupancy",
    "compute_tv_loss",
    "encode_positions",
    "occupied_aabb",
    "resolution_from_voxels",
    "voxel_centers",
]
