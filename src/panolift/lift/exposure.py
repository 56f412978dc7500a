"""Per-frame exposure: a colour gain and offset for each training frame, learnt with the field.

A phone or a handheld camera sets its exposure and white balance per frame: the same wall is brighter in
a frame that looks away from a window than in one that looks at it. A radiance field has one colour per
point and direction, so a capture whose frames disagree by a gain is not multi-view consistent, and the
field explains the difference with what it can vary per view: floaters before the cameras and a fog that
tints each view (what issue 11 calls the fog). The frames' own camera pipelines are modelled instead
(the per-image appearance of NeRF in the Wild and of nerfacto, reduced to what a camera does to a whole
frame): a training ray of frame f is compared with

    c'_r = c_r * exp(g_f) + b_f          g_f, b_f in R^3 (per channel: exposure and white balance)

where c_r is the rendered colour. The gains and offsets are centred over the frames (the mean g and b are
subtracted before use), so the field keeps the capture's average exposure and renders every view, test
views included, with it; an L2 prior (``loss.exposure_prior``) keeps a frame's correction small unless
its pixels ask for one. Nothing else sees the corrections: the labels' losses, the renders and the
exports use the field's colour.
"""

from __future__ import annotations

import torch
from torch import nn


class FrameExposure(nn.Module):
    """Per-channel log gains and offsets of ``num_frames`` training frames, zero (no change) at the start."""

    def __init__(self, num_frames: int):
        super().__init__()
        self.log_gain = nn.Parameter(torch.zeros(num_frames, 3))
        self.offset = nn.Parameter(torch.zeros(num_frames, 3))

    @property
    def num_frames(self) -> int:
        return self.log_gain.shape[0]

    def centred(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log gains, offsets), each (num_frames, 3), with their means over the frames subtracted."""
        return self.log_gain - self.log_gain.mean(dim=0), self.offset - self.offset.mean(dim=0)

    def forward(self, rgb: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """The colours (num_rays, 3) of rays of training frames ``frames`` (num_rays,) as those frames'
        cameras would record them: rgb * exp(g_f) + b_f."""
        log_gain, offset = (t.to(rgb.device) for t in self.centred())  # a loaded run's live on the CPU
        frames = frames.to(device=rgb.device, dtype=torch.long)
        return rgb * torch.exp(log_gain.index_select(0, frames)) + offset.index_select(0, frames)

    def prior(self) -> torch.Tensor:
        """Mean square of the centred log gains and offsets (the L2 prior towards no correction)."""
        log_gain, offset = self.centred()
        return log_gain.pow(2).mean() + offset.pow(2).mean()

    @torch.no_grad()
    def gains(self) -> torch.Tensor:
        """(num_frames,) each frame's mean gain over the channels, exp(mean_c g_f)."""
        return torch.exp(self.centred()[0].mean(dim=1))

    @torch.no_grad()
    def summary(self) -> str:
        """The spread of the frames' gains and offsets, e.g. "gains 0.74-1.35 (std 0.263), largest offset
        0.075" (the trainer's last log line and `panolift info`)."""
        gains = self.gains()
        offset = self.centred()[1].abs().max()
        return (
            f"gains {float(gains.min()):.2f}-{float(gains.max()):.2f} "
            f"(std {float(gains.std()) if gains.numel() > 1 else 0.0:.3f}), largest offset {float(offset):.3f}"
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """The state for a checkpoint."""
        return {
            "exposure.log_gain": self.log_gain.detach().cpu(),
            "exposure.offset": self.offset.detach().cpu(),
        }

    @torch.no_grad()
    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`tensors` (a checkpoint without them leaves the corrections at zero)."""
        if "exposure.log_gain" not in tensors:
            return
        log_gain, offset = tensors["exposure.log_gain"], tensors["exposure.offset"]
        if log_gain.shape != self.log_gain.shape or offset.shape != self.offset.shape:
            raise ValueError(
                f"per-frame exposure of {tuple(log_gain.shape)} in the checkpoint, the scene has "
                f"{self.num_frames} training frames"
            )
        self.log_gain.copy_(log_gain)
        self.offset.copy_(offset)
