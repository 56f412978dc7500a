"""A room-sized world scale for structure-from-motion models, from their sparse 3D points.

SfM recovers the scene only up to scale, but training fits camera frusta of a fixed depth (``max_depth``,
5 world units as the authors, who work in metres) into the unit sphere. An SfM world in arbitrary units
would leave the room outside that sphere, or shrink it to a few voxels. So an imported model is rescaled so
that a high percentile of the depths at which its cameras see their 3D points matches an indoor room.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from panolift.scene.io import SceneError

from .colmap_io import ColmapModel
from .poses import rotation_from_qvec

log = logging.getLogger(__name__)

# 95 % of the depths of the SfM points lie within this many units (metres) of the cameras that see them.
# Measured on the synthetic rooms' depth maps: 95th percentile 3.2-3.3 m in a 5 m x 4 m room.
ROOM_DEPTH = 3.5
DEPTH_PERCENTILE = 95.0


def read_points3d(sparse_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3D points of a COLMAP model and their observations.

    Returns xyz (num_points, 3), and per observation the point's row in xyz (num_obs,) and the observing
    image id (num_obs,). Empty arrays when the model has no points3D file.
    """
    sparse_dir = Path(sparse_dir)
    rows: list[int] = []
    image_ids: list[int] = []
    xyz: list[tuple[float, float, float]] = []
    if (sparse_dir / "points3D.bin").exists():
        data = (sparse_dir / "points3D.bin").read_bytes()
        try:
            (num,), offset = struct.unpack_from("<Q", data, 0), 8
            for row in range(num):
                _, x, y, z, _, _, _, _, track_length = struct.unpack_from("<Q3d3BdQ", data, offset)
                offset += 51
                track = struct.unpack_from(f"<{2 * track_length}I", data, offset)
                offset += 8 * track_length
                xyz.append((x, y, z))
                image_ids.extend(track[0::2])
                rows.extend([row] * track_length)
        except struct.error as exc:
            raise SceneError(f"{sparse_dir / 'points3D.bin'}: truncated file ({exc})") from exc
    elif (sparse_dir / "points3D.txt").exists():
        path = sparse_dir / "points3D.txt"
        for line in path.read_text().splitlines():
            tok = line.split()
            if not tok or tok[0].startswith("#"):
                continue
            try:
                xyz.append((float(tok[1]), float(tok[2]), float(tok[3])))
                track = [int(t) for t in tok[8::2]]
            except (IndexError, ValueError) as exc:
                raise SceneError(f"{path}: malformed point line {line[:80]!r} ({exc})") from exc
            image_ids.extend(track)
            rows.extend([len(xyz) - 1] * len(track))
    return (
        np.array(xyz, dtype=np.float64).reshape(-1, 3),
        np.array(rows, np.int64),
        np.array(image_ids, np.int64),
    )


def observed_depths(
    model: ColmapModel, xyz: np.ndarray, rows: np.ndarray, image_ids: np.ndarray
) -> np.ndarray:
    """Depth of every observation: z_ij = (R_j p_i + t_j)_z for point i seen by image j (num_obs,)."""
    known = sorted(model.images)
    if not known or len(rows) == 0:
        return np.zeros(0)
    # third row of R and t_z per image: all that the depth needs
    table = np.array([[*rotation_from_qvec(model.images[k].qvec)[2], model.images[k].tvec[2]] for k in known])
    index = np.searchsorted(known, image_ids)
    keep = (index < len(known)) & (np.asarray(known)[np.minimum(index, len(known) - 1)] == image_ids)
    z = np.einsum("nd,nd->n", table[index[keep], :3], xyz[rows[keep]]) + table[index[keep], 3]
    return z[z > 0]


def compute_world_scale(
    sparse_dir: str | Path, model: ColmapModel, scene_depth: float = ROOM_DEPTH
) -> float | None:
    """s = scene_depth / percentile_95(z_ij): multiply the world (camera centres) by s.

    None when the model has too few points to say (fewer than 20 observations).
    """
    depths = observed_depths(model, *read_points3d(sparse_dir))
    if len(depths) < 20:
        log.warning("%s: too few 3D points to set a room scale; keeping the model's scale", sparse_dir)
        return None
    scale = float(scene_depth / np.percentile(depths, DEPTH_PERCENTILE))
    log.info("%s: world scale x%.4g (95%% of point depths within %.3g units)", sparse_dir, scale, scene_depth)
    return scale


def rescale_frames(frames: list, scale: float) -> None:
    """Scale the world of CaptureFrames in place: c' = s c for every camera centre (rotations unchanged)."""
    for frame in frames:
        frame.c2w = np.array(frame.c2w, dtype=np.float64, copy=True)
        frame.c2w[:3, 3] *= scale
