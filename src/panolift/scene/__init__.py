"""The scene folder format: reading (lazy), validation, writing, cameras and rays."""

from .cameras import (
    SceneNormalization,
    compute_scene_normalization,
    fit_size,
    generate_rays,
    rays_through_pixels,
    scale_intrinsics,
)
from .classes import SCANNET21, ClassSet
from .io import SceneError
from .safe_pickle import UnsafePickleError, load_restricted_pickle
from .scene import GroundTruth, MachineLabels, Scene, resize_bilinear, resize_nearest, segments_from_labels
from .validate import SceneProblems, validate_scene
from .write import SceneWriter

__all__ = [
    "SCANNET21",
    "ClassSet",
    "GroundTruth",
    "MachineLabels",
    "Scene",
    "SceneError",
    "SceneNormalization",
    "SceneProblems",
    "SceneWriter",
    "UnsafePickleError",
    "compute_scene_normalization",
    "fit_size",
    "generate_rays",
    "rays_through_pixels",
    "load_restricted_pickle",
    "resize_bilinear",
    "resize_nearest",
    "scale_intrinsics",
    "segments_from_labels",
    "validate_scene",
]
