"""An analytic panoptic field (boxes with one-hot heads) and a small ray marcher, for edit/export tests.

Not a test module: tests/edit/conftest.py and tests/export/conftest.py load it by path."""

from __future__ import annotations

import torch
from torch import nn

from panolift.field.outputs import FieldOutputs
from panolift.scene.classes import SCANNET21

# (min corner, max corner, class, slot or -1 for stuff, rgb); field coordinates, z up.
BOXES = [
    ((-0.9, -0.9, -0.6), (0.9, 0.9, -0.5), 2, -1, (0.5, 0.5, 0.5)),  # floor
    ((-0.9, 0.8, -0.5), (0.9, 0.9, 0.6), 1, -1, (0.8, 0.8, 0.7)),  # wall
    ((-0.5, -0.2, -0.5), (-0.2, 0.1, -0.1), 5, 0, (0.9, 0.1, 0.1)),  # chair: id 1
    ((0.2, 0.0, -0.5), (0.7, 0.3, -0.2), 6, 3, (0.1, 0.2, 0.9)),  # sofa: id 4
]
NUM_SLOTS = 5
SIGMA = 200.0


class BoxField(nn.Module):
    """Density SIGMA inside axis-aligned boxes, 0 elsewhere; one-hot class and slot per box (empty space:
    void, uniform slots); colour per box, slightly view dependent (so that direction handling matters)."""

    def __init__(self, boxes=BOXES, num_classes: int = SCANNET21.num_classes, num_slots: int = NUM_SLOTS):
        super().__init__()
        self.boxes = boxes
        self.num_classes, self.num_slots = num_classes, num_slots
        self.register_buffer("aabb", torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))

    def forward(self, points: torch.Tensor, dirs: torch.Tensor) -> FieldOutputs:
        n = points.shape[0]
        density = points.new_zeros(n)
        rgb = points.new_zeros(n, 3)
        semantics = points.new_zeros(n, self.num_classes)
        semantics[:, 0] = 1.0
        instance = points.new_full((n, self.num_slots), 1.0 / self.num_slots)
        for lo, hi, cls, slot, colour in self.boxes:
            inside = ((points >= points.new_tensor(lo)) & (points < points.new_tensor(hi))).all(dim=-1)
            density[inside] = SIGMA
            rgb[inside] = points.new_tensor(colour)
            semantics[inside] = 0.02 / (self.num_classes - 1)
            semantics[inside, cls] = 0.98
            if slot >= 0:
                instance[inside] = 0.0
                instance[inside, slot] = 1.0
        rgb = (rgb + 0.05 * dirs[:, :1]).clamp(0, 1)
        return FieldOutputs(density=density, rgb=rgb, semantics=semantics, instance=instance)


def look_at(position, target, up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """A 4x4 camera-to-world pose (OpenCV: x right, y down, z forward) at ``position`` facing ``target``."""
    position, target, up = (torch.tensor(v, dtype=torch.float32) for v in (position, target, up))
    forward = target - position
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


@torch.no_grad()
def march(field, K, c2w, width, height, near=0.5, far=5.0, num_samples=256, thing_ids=SCANNET21.thing_ids):
    """Volume rendering with uniform samples: w_i = T_i (1 - exp(-sigma_i delta)), f = sum_i w_i f_i.

    Returns rgb (H,W,3), depth (H,W), opacity (H,W), semantics (H,W) class, instance (H,W) panoptic id.
    """
    from panolift.scene import generate_rays

    origins, dirs = generate_rays(K, c2w, width, height)
    t = torch.linspace(near, far, num_samples)
    delta = (far - near) / (num_samples - 1)
    pts = origins[:, None, :] + dirs[:, None, :] * t[None, :, None]  # (num_rays, num_samples, 3)
    out = field(pts.reshape(-1, 3), dirs[:, None, :].expand_as(pts).reshape(-1, 3))
    num_rays = origins.shape[0]
    alpha = 1.0 - torch.exp(-out.density.reshape(num_rays, num_samples) * delta)
    trans = torch.cumprod(torch.cat([torch.ones(num_rays, 1), 1.0 - alpha + 1e-10], dim=1), dim=1)[:, :-1]
    w = alpha * trans  # (num_rays, num_samples)

    def composite(x):
        return (w[..., None] * x.reshape(num_rays, num_samples, -1)).sum(dim=1)

    sem = composite(out.semantics).argmax(-1)
    slots = composite(out.instance).argmax(-1) + 1
    thing = torch.zeros(out.semantics.shape[-1], dtype=torch.bool)
    thing[list(thing_ids)] = True
    ids = torch.where(thing[sem], slots, torch.zeros_like(slots))
    opacity = w.sum(-1)
    depth = (w * t).sum(-1) + (1 - opacity) * far
    return {
        "rgb": composite(out.rgb).reshape(height, width, 3),
        "depth": depth.reshape(height, width),
        "opacity": opacity.reshape(height, width),
        "semantics": sem.reshape(height, width),
        "instance": ids.reshape(height, width),
    }
