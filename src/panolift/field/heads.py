"""Semantic and instance heads: MLPs on (scene-normalised) positions only, as in Panoptic Lifting.

They see neither the view direction nor the density features, so the semantic/instance losses cannot
shape the geometry through them (the other half of gradient blocking is in the renderer's detached weights).
"""

from __future__ import annotations

import torch
from torch import nn

from .precision import run_mlp
from .tensorf import encode_positions


def build_mlp(in_dim: int, width: int, num_layers: int, out_dim: int) -> nn.Sequential:
    """``num_layers`` hidden ReLU layers of ``width`` then a linear output layer."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers):
        layers += [nn.Linear(dim, width), nn.ReLU(inplace=True)]
        dim = width
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class PositionHead(nn.Module):
    """A distribution over ``num_outputs`` labels at each point: softmax(MLP([x, PE(x), g(x)])), with
    g optional grid features.

    ``bounded=False`` returns the logits instead (the paper's "unbounded field" ablation).
    """

    def __init__(
        self,
        num_outputs: int,
        width: int,
        num_layers: int,
        pe_freqs: int = 0,
        bounded: bool = True,
        num_extra: int = 0,
    ):
        super().__init__()
        self.pe_freqs = pe_freqs
        self.bounded = bounded
        self.mlp = build_mlp(3 + 6 * pe_freqs + num_extra, width, num_layers, num_outputs)

    @property
    def num_outputs(self) -> int:
        return self.mlp[-1].out_features

    def forward(self, points: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """(num_points, 3) positions in the unit sphere (and (num_points, num_extra) features, e.g. from a
        head grid) -> (num_points, num_outputs) probabilities (logits when unbounded)."""
        inputs = [points, encode_positions(points, self.pe_freqs)] + ([extra] if extra is not None else [])
        logits = run_mlp(self.mlp, torch.cat(inputs, dim=-1))
        return torch.softmax(logits, dim=-1) if self.bounded else logits
