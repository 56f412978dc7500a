"""Pinhole cameras: intrinsics scaling, ray generation (OpenCV convention) and scene normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale a 3x3 pinhole K from image size (W,H) ``from_size`` to ``to_size`` (any aspect ratio).

    fx' = fx * W'/W, cx' = cx * W'/W (and the same for y), which keeps pixel-corner conventions intact.
    """
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    out = np.array(K, dtype=np.float64, copy=True)[:3, :3]
    out[0, :] *= sx
    out[1, :] *= sy
    out[2, :] = (0.0, 0.0, 1.0)
    return out


def rays_through_pixels(
    K: torch.Tensor,  # (3, 3)
    c2w: torch.Tensor,  # (4, 4) or (num_rays, 4, 4) camera-to-world, OpenCV (x right, y down, z forward)
    x: torch.Tensor,  # (num_rays,) pixel x coordinates (x + 0.5 is a pixel centre)
    y: torch.Tensor,  # (num_rays,) pixel y coordinates
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through image points (x, y): d = R K^-1 [x, y, 1]^T / norm, o = t (the camera centre).

    Returns origins (num_rays, 3) and unit directions (num_rays, 3), in ``c2w``'s dtype.
    """
    dtype = c2w.dtype
    K = K.to(dtype)
    x, y = x.to(dtype), y.to(dtype)
    dirs_cam = torch.stack([(x - K[0, 2]) / K[0, 0], (y - K[1, 2]) / K[1, 1], torch.ones_like(x)], dim=-1)
    if c2w.ndim == 2:
        dirs = dirs_cam @ c2w[:3, :3].T
        origins = c2w[:3, 3].expand_as(dirs)
    else:
        dirs = torch.einsum("nij,nj->ni", c2w[:, :3, :3], dirs_cam)
        origins = c2w[:, :3, 3]
    return origins, dirs / dirs.norm(dim=-1, keepdim=True)


def generate_rays(
    K: torch.Tensor,  # (3, 3)
    c2w: torch.Tensor,  # (4, 4) camera-to-world, OpenCV (x right, y down, z forward)
    width: int,
    height: int,
    pixels: torch.Tensor | None = None,  # (num_rays, 2) integer (x, y); all pixels row-major when None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixel centres (x + 1/2, y + 1/2) (:func:`rays_through_pixels`), of every pixel
    row-major or of ``pixels``. Returns origins (num_rays, 3) and unit directions (num_rays, 3).
    """
    if pixels is None:
        ys, xs = torch.meshgrid(
            torch.arange(height, device=c2w.device), torch.arange(width, device=c2w.device), indexing="ij"
        )
        pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
    return rays_through_pixels(K, c2w, pixels[:, 0] + 0.5, pixels[:, 1] + 0.5)


def fit_size(native: tuple[int, int], width: int = 0, max_side: int = 0) -> tuple[int, int]:
    """A working (W, H) with the native aspect ratio: ``width`` wide, else at most ``max_side`` on the
    longer side (never upscaled), else the native size. H = round(W * H_native / W_native), at least 1."""
    w, h = native
    if width > 0:
        return width, max(1, round(width * h / w))
    if max_side > 0 and max(w, h) > max_side:
        s = max_side / max(w, h)
        return max(1, round(w * s)), max(1, round(h * s))
    return w, h


@dataclass(frozen=True)
class SceneNormalization:
    """World -> normalised (field) coordinates: x_n = R (x_w - center) * scale, with R = ``rotation``
    (identity unless the trainer turned a room that stood off the field's axes, see
    :meth:`panolift.lift.trainer.Trainer.orient_world`). Cameras' frusta fit the unit sphere."""

    center: np.ndarray  # (3,) world
    scale: float  # normalised units per world unit
    rotation: np.ndarray | None = None  # (3, 3) world -> normalised axes; None: the identity

    @property
    def turned(self) -> bool:
        return self.rotation is not None

    def _r(self) -> np.ndarray:
        return np.eye(3) if self.rotation is None else np.asarray(self.rotation, dtype=np.float64)

    def apply_to_poses(self, c2w: np.ndarray) -> np.ndarray:
        """Map (..., 4, 4) camera-to-world poses into normalised coordinates."""
        out = np.array(c2w, dtype=np.float64, copy=True)
        r = self._r()
        out[..., :3, :3] = np.einsum("ij,...jk->...ik", r, out[..., :3, :3])
        out[..., :3, 3] = (out[..., :3, 3] - self.center) @ r.T * self.scale
        return out

    def poses_to_world(self, c2w: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`apply_to_poses`."""
        out = np.array(c2w, dtype=np.float64, copy=True)
        r = self._r()
        out[..., :3, :3] = np.einsum("ji,...jk->...ik", r, out[..., :3, :3])
        out[..., :3, 3] = self.points_to_world(out[..., :3, 3])
        return out

    def points_to_field(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in normalised coordinates."""
        return (np.asarray(points, dtype=np.float64) - self.center) @ self._r().T * self.scale

    def points_to_world(self, points: np.ndarray) -> np.ndarray:
        """Normalised points (..., 3) in world coordinates."""
        return np.asarray(points, dtype=np.float64) / self.scale @ self._r() + self.center

    def directions_to_field(self, vectors: np.ndarray) -> np.ndarray:
        """World directions (..., 3) turned into the normalised axes (lengths kept: not scaled)."""
        return np.asarray(vectors, dtype=np.float64) @ self._r().T

    def directions_to_world(self, vectors: np.ndarray) -> np.ndarray:
        """Normalised directions (..., 3) turned into the world's axes (lengths kept)."""
        return np.asarray(vectors, dtype=np.float64) @ self._r()

    def box_to_world(self, box: np.ndarray) -> np.ndarray:
        """A normalised axis-aligned box (2, 3) as the world box (2, 3) that holds it (its eight corners'
        bounds: the box itself when the world is not turned)."""
        box = np.asarray(box, dtype=np.float64)
        corners = np.array(
            [[box[i, 0], box[j, 1], box[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
        )
        world = self.points_to_world(corners)
        return np.stack([world.min(axis=0), world.max(axis=0)])

    def to_dict(self) -> dict:
        out = {"center": [float(v) for v in self.center], "scale": float(self.scale)}
        if self.rotation is not None:
            out["rotation"] = [[float(v) for v in row] for row in np.asarray(self.rotation)]
        return out

    @staticmethod
    def from_dict(d: dict) -> SceneNormalization:
        rotation = d.get("rotation")
        return SceneNormalization(
            center=np.asarray(d["center"], dtype=np.float64),
            scale=float(d["scale"]),
            rotation=None if rotation is None else np.asarray(rotation, dtype=np.float64),
        )


def frustum_corners(K: np.ndarray, c2w: np.ndarray, width: int, height: int, depth: float) -> np.ndarray:
    """The camera centre and the four image corners at ``depth`` along z, in world space: (5, 3)."""
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)
    x = (corners[:, 0] - K[0, 2]) / K[0, 0] * depth
    y = (corners[:, 1] - K[1, 2]) / K[1, 1] * depth
    pts_cam = np.stack([x, y, np.full_like(x, depth)], axis=-1)
    pts = pts_cam @ c2w[:3, :3].T + c2w[:3, 3]
    return np.concatenate([c2w[None, :3, 3], pts], axis=0)


def compute_scene_normalization(
    K: np.ndarray,
    c2w: np.ndarray,
    width: int,
    height: int,
    max_depth: float = 5.0,
    margin: float = 1.0,
    rotation: np.ndarray | None = None,
) -> SceneNormalization:
    """Fit all camera frusta (to ``max_depth``) into the unit sphere, as the authors' code does.

    center = centre of the frusta's bounding box (in the axes turned by ``rotation``, when given);
    scale = margin / max_i ||p_i - center||.
    """
    pts = np.concatenate([frustum_corners(K, c, width, height, max_depth) for c in c2w], axis=0)
    r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    turned = pts @ r.T
    center = 0.5 * (turned.min(axis=0) + turned.max(axis=0)) @ r  # back in world axes
    radius = float(np.linalg.norm(pts - center, axis=-1).max())
    return SceneNormalization(
        center=center,
        scale=margin / max(radius, 1e-9),
        rotation=None if rotation is None else r,
    )
