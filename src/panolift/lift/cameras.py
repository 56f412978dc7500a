"""Per-frame camera refinement: a small rotation and shift of each training camera, learnt with the field.

Poses from structure from motion are good to a fraction of a degree and a centimetre or two, not exactly:
each training frame then paints its pixels a pixel or so away from where the other frames put them, and
the field averages them into a blur (stop 64: lifting from SfM poses cost a median 1.2 dB of colour
against the exact cameras). As NeRF-- and BARF do, and nerfstudio's camera optimizer, each training
frame f gets a correction learnt from the colour loss: its rays are

    d' = exp(w_f) d,     o' = o + t_f          w_f, t_f in R^3

a rotation about the camera's own centre (``exp``: Rodrigues' formula) and a shift of the centre, in the
field's normalised coordinates. The corrections are centred over the frames (the mean w and t subtracted
before use): a rotation or shift shared by every frame is the same scene in other coordinates, and would
leave the test views' cameras (not refined) looking at a moved field. Only the colour moves the cameras:
the labels' heads are evaluated at detached points under gradient blocking
(:func:`panolift.render.render_rays`), as they are stopped before the density.

The refined cameras (:meth:`FrameCameras.refine_poses`) are what the label votes and the instance
clusters fuse at the end of a training; renders of test views use the scene's own poses.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from panolift.scene import SceneNormalization


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (axis times angle in radians)."""
    theta2 = (w * w).sum(dim=-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = theta2.clamp_min(1e-12).sqrt()
    small = theta2 < 1e-8
    # sin(x)/x and (1 - cos(x))/x^2, by their series near 0
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    x, y, z = w.unbind(dim=-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*w.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(k)
    return eye + a * k + b * (k @ k)


class FrameCameras(nn.Module):
    """Rotation vectors and shifts of ``num_frames`` training cameras, zero (the poses as given) at the
    start."""

    def __init__(self, num_frames: int):
        super().__init__()
        self.rotation = nn.Parameter(torch.zeros(num_frames, 3))
        self.shift = nn.Parameter(torch.zeros(num_frames, 3))

    @property
    def num_frames(self) -> int:
        return self.rotation.shape[0]

    def centred(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rotation vectors, shifts), each (num_frames, 3), with their means over the frames subtracted."""
        return self.rotation - self.rotation.mean(dim=0), self.shift - self.shift.mean(dim=0)

    def forward(
        self, origins: torch.Tensor, dirs: torch.Tensor, frames: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rays (origins, dirs), each (num_rays, 3), of training frames ``frames`` (num_rays,) from
        their refined cameras."""
        rotation, shift = (v.to(origins) for v in self.centred())
        frames = frames.to(device=origins.device, dtype=torch.long)
        matrices = so3_exp(rotation)  # (num_frames, 3, 3): once per frame, then gathered per ray
        turned = torch.einsum("nij,nj->ni", matrices.index_select(0, frames), dirs)
        return origins + shift.index_select(0, frames), turned

    @torch.no_grad()
    def refine_poses(self, c2w: torch.Tensor) -> torch.Tensor:
        """The refined camera-to-world matrices (num_frames, 4, 4) of ``c2w`` (the poses as given, in the
        same normalised coordinates): rotation exp(w_f) R_f, centre c_f + t_f."""
        rotation, shift = (v.to(c2w) for v in self.centred())
        refined = c2w.clone()
        refined[:, :3, :3] = so3_exp(rotation) @ c2w[:, :3, :3]
        refined[:, :3, 3] = c2w[:, :3, 3] + shift
        return refined

    @torch.no_grad()
    def refine_world_pose(self, c2w: np.ndarray, frame: int, normalization: SceneNormalization) -> np.ndarray:
        """The refined camera-to-world matrix (4, 4), in the scene's world coordinates, of training frame
        ``frame`` whose pose as given is ``c2w`` (world coordinates; ``normalization``: the run's)."""
        rotation, shift = (v[frame].double().cpu().numpy() for v in self.centred())
        refined = normalization.apply_to_poses(c2w)  # corrected in the field's axes, as in training
        refined[:3, :3] = so3_exp(torch.as_tensor(rotation)).numpy() @ refined[:3, :3]
        refined[:3, 3] = refined[:3, 3] + shift
        return normalization.poses_to_world(refined)

    @torch.no_grad()
    def summary(self, scale: float = 1.0) -> str:
        """The corrections' size, e.g. "rotation median 0.21 deg, largest 0.84 deg (frame 17); shift median
        0.006, largest 0.023 (frame 40) scene units" (``scale``: normalised units per scene unit, the
        scene normalisation's)."""
        rotation, shift = self.centred()
        degrees = rotation.norm(dim=1) * (180.0 / math.pi)
        length = shift.norm(dim=1) / scale
        return (
            f"rotation median {float(degrees.median()):.2f} deg, largest {float(degrees.max()):.2f} deg "
            f"(training frame {int(degrees.argmax())}); shift median {float(length.median()):.4f}, largest "
            f"{float(length.max()):.4f} (training frame {int(length.argmax())}) scene units"
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """The state for a checkpoint."""
        return {"cameras.rotation": self.rotation.detach().cpu(), "cameras.shift": self.shift.detach().cpu()}

    @torch.no_grad()
    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`tensors` (a checkpoint without them leaves the corrections at zero)."""
        if "cameras.rotation" not in tensors:
            return
        rotation, shift = tensors["cameras.rotation"], tensors["cameras.shift"]
        if rotation.shape != self.rotation.shape or shift.shape != self.shift.shape:
            raise ValueError(
                f"camera refinement of {tuple(rotation.shape)} in the checkpoint, the scene has "
                f"{self.num_frames} training frames"
            )
        self.rotation.copy_(rotation)
        self.shift.copy_(shift)
