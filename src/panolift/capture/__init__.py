"""Bringing your own capture into the scene layout: photos or a video (structure from motion with
pycolmap), an existing COLMAP model, or a nerfstudio / instant-ngp transforms.json; and the writers that
export a scene's cameras to COLMAP and to transforms.json."""

from .colmap_import import frames_from_colmap, import_colmap
from .colmap_io import (
    ColmapCamera,
    ColmapImage,
    ColmapModel,
    camera_model_from_colmap,
    export_scene_to_colmap,
    read_colmap_model,
    write_colmap_model,
)
from .colmap_sfm import SfmConfig, check_registration, import_images, run_structure_from_motion
from .images import extract_frames, list_images
from .nerfstudio import export_scene_to_transforms, frames_from_transforms, import_nerfstudio
from .poses import (
    align_similarity,
    c2w_from_colmap,
    colmap_from_c2w,
    compare_trajectories,
    opencv_from_opengl,
    opengl_from_opencv,
    qvec_from_rotation,
    rotation_from_qvec,
)
from .undistort import CameraModel, distort_points, undistort_image
from .world_scale import ROOM_DEPTH, compute_world_scale, read_points3d, rescale_frames
from .write_scene import CaptureFrame, write_capture_scene

__all__ = [
    "ROOM_DEPTH",
    "CameraModel",
    "CaptureFrame",
    "ColmapCamera",
    "ColmapImage",
    "ColmapModel",
    "SfmConfig",
    "align_similarity",
    "c2w_from_colmap",
    "camera_model_from_colmap",
    "check_registration",
    "colmap_from_c2w",
    "compare_trajectories",
    "compute_world_scale",
    "distort_points",
    "export_scene_to_colmap",
    "export_scene_to_transforms",
    "extract_frames",
    "frames_from_colmap",
    "frames_from_transforms",
    "import_colmap",
    "import_images",
    "import_nerfstudio",
    "list_images",
    "opencv_from_opengl",
    "opengl_from_opencv",
    "qvec_from_rotation",
    "read_colmap_model",
    "read_points3d",
    "rescale_frames",
    "rotation_from_qvec",
    "run_structure_from_motion",
    "undistort_image",
    "write_capture_scene",
    "write_colmap_model",
]
