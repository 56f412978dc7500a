"""The interactive 3D viewer (`panolift view RUN`, `panolift train ... --viewer`): camera conversion
between the browser and panolift, progressive rendering, picking, the 3D layer, the session (edits through
:mod:`panolift.edit`, saved as edited runs) and the viser server with its panels. viser itself is an
optional dependency, imported when a server starts (``pip install 'panolift[viewer]'``)."""

from .cameras import (
    fov_from_intrinsics,
    intrinsics_from_fov,
    matrix_to_quaternion,
    pose_from_viser,
    quaternion_to_matrix,
    viser_from_pose,
    world_ray_to_field,
)
from .images import MODES, RenderedView, draw_view, render_view
from .layer import LAYER_COLORINGS, LAYER_MODES, compute_layer, layer_colors
from .live import LiveViewer, live_viewer_config, snapshot_field
from .picking import Pick, pick_along_ray, pick_pixel, pick_shown
from .progressive import ProgressiveConfig, Throughput, plan_bands, plan_passes
from .render_loop import Frame, ProgressiveRenderer, ViewRequest
from .server import Viewer, ViewerConfig, import_viser
from .session import InstanceRow, TrainingCamera, ViewerSession

__all__ = [
    "LAYER_COLORINGS",
    "LAYER_MODES",
    "MODES",
    "Frame",
    "InstanceRow",
    "LiveViewer",
    "Pick",
    "ProgressiveConfig",
    "ProgressiveRenderer",
    "RenderedView",
    "Throughput",
    "TrainingCamera",
    "ViewRequest",
    "Viewer",
    "ViewerConfig",
    "ViewerSession",
    "compute_layer",
    "draw_view",
    "fov_from_intrinsics",
    "import_viser",
    "intrinsics_from_fov",
    "layer_colors",
    "live_viewer_config",
    "matrix_to_quaternion",
    "pick_along_ray",
    "pick_pixel",
    "pick_shown",
    "plan_bands",
    "plan_passes",
    "pose_from_viser",
    "quaternion_to_matrix",
    "render_view",
    "snapshot_field",
    "viser_from_pose",
    "world_ray_to_field",
]
