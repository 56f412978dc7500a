"""Export: the occupied surface of a panoptic field as a labelled point cloud or mesh (PLY, GLB)."""

from .glb import write_glb
from .ply import read_ply_labels, write_ply
from .surface import LabelledSurface, extract_labelled_surface, split_by_instance

__all__ = [
    "LabelledSurface",
    "extract_labelled_surface",
    "read_ply_labels",
    "split_by_instance",
    "write_glb",
    "write_ply",
]
