"""The panoptic radiance field Phi(x, d) -> (sigma, c, kappa, pi) in scene-normalised coordinates.

Besides the call contract ``field(points, dirs) -> FieldOutputs`` it offers the renderer two optional
speed-ups, found by attribute (a wrapping module that lacks them is rendered correctly, only slower):

- ``density(points) -> (num_points,)``: the density alone, so the renderer can compute weights first and
  evaluate colour and heads only on samples of significant weight.
- ``aabb`` (2, 3) and ``occupancy`` (an :class:`~panolift.field.occupancy.OccupancyGrid` or None): where to
  sample and which voxels to skip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from panolift.config import FieldConfig

from .heads import PositionHead
from .occupancy import OccupancyGrid
from .outputs import FieldOutputs
from .tensorf import ColorMLP, TensorVM, normalize_to_box, resolution_from_voxels


class PanopticField(nn.Module):
    """TensoRF density/appearance + colour MLP + semantic head (num_classes) + instance head (num_slots).

    ``aabb`` is the box of the grids (initially [-1, 1]^3); ``occupancy_mask`` a boolean grid over
    ``occupancy_aabb`` (empty until the trainer first computes it).
    """

    def __init__(
        self,
        config: FieldConfig,
        num_classes: int,
        aabb: torch.Tensor | None = None,
        resolution: tuple[int, int, int] | None = None,
        bounded: bool = True,
        head_resolution: tuple[int, int, int] | None = None,
    ):
        super().__init__()
        self.config = config
        aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]) if aabb is None else aabb.float()
        self.register_buffer("aabb", aabb.clone())
        self.register_buffer("occupancy_aabb", aabb.clone())
        self.register_buffer("occupancy_mask", torch.zeros(0, 0, 0, dtype=torch.bool))
        resolution = resolution or resolution_from_voxels(aabb, config.grid_resolution_init)
        self.density_grid = TensorVM(resolution, config.density_components, config.init_scale)
        self.appearance_grid = TensorVM(resolution, config.appearance_components, config.init_scale)
        self.appearance_basis = nn.Linear(
            self.appearance_grid.num_features, config.appearance_features, bias=False
        )
        self.color_mlp = ColorMLP(
            config.appearance_features, config.color_mlp_width, config.color_pe_features, config.color_pe_view
        )
        head_resolution = head_resolution or resolution_from_voxels(aabb, config.head_grid_resolution)
        comps = config.head_grid_components
        self.semantic_grid = TensorVM(head_resolution, comps, config.init_scale) if comps > 0 else None
        self.instance_grid = TensorVM(head_resolution, comps, config.init_scale) if comps > 0 else None
        self.semantic_head = PositionHead(
            num_classes,
            config.semantic_width,
            config.semantic_layers,
            config.head_pe_freqs,
            bounded,
            3 * comps,
        )
        self.instance_head = PositionHead(
            config.num_slots,
            config.instance_width,
            config.instance_layers,
            config.head_pe_freqs,
            bounded,
            3 * comps,
        )
        self.normalization = None  # SceneNormalization, set by the trainer / loader (not a tensor)
        self.render_config = None  # RenderConfig of the run, set by the trainer / loader

    # ----------------------------------------------------------------- geometry
    @property
    def resolution(self) -> tuple[int, int, int]:
        return self.density_grid.resolution

    @property
    def voxel_size(self) -> torch.Tensor:
        """(3,) edge lengths of a voxel (align_corners: size / (resolution - 1))."""
        res = torch.tensor(self.resolution, device=self.aabb.device, dtype=self.aabb.dtype)
        return (self.aabb[1] - self.aabb[0]) / (res - 1)

    @property
    def occupancy(self) -> OccupancyGrid | None:
        """The occupancy grid for empty-space skipping, or None before it has been computed."""
        if self.occupancy_mask.numel() == 0:
            return None
        return OccupancyGrid(self.occupancy_aabb, self.occupancy_mask)

    def set_occupancy(self, aabb: torch.Tensor, mask: torch.Tensor) -> None:
        self.occupancy_aabb = aabb.to(self.aabb)
        self.occupancy_mask = mask.to(device=self.aabb.device, dtype=torch.bool)

    def resample(self, aabb: torch.Tensor, voxels_per_side: int) -> None:
        """Move the grids to box ``aabb`` with about ``voxels_per_side``^3 voxels (upsampling / shrinking)."""
        aabb = aabb.to(self.aabb)
        resolution = resolution_from_voxels(aabb, voxels_per_side)
        self.density_grid.resample(self.aabb, aabb, resolution)
        self.appearance_grid.resample(self.aabb, aabb, resolution)
        if self.semantic_grid is not None:
            head_resolution = resolution_from_voxels(aabb, self.config.head_grid_resolution)
            self.semantic_grid.resample(self.aabb, aabb, head_resolution)
            self.instance_grid.resample(self.aabb, aabb, head_resolution)
        self.aabb = aabb.clone()

    # ----------------------------------------------------------------- evaluation
    def _inside(self, points: torch.Tensor) -> torch.Tensor:
        return ((points >= self.aabb[0]) & (points <= self.aabb[1])).all(dim=-1)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """sigma = softplus(sum of density VM features + shift) * distance_scale; 0 outside the box.

        (num_points, 3) -> (num_points,)
        """
        features = self.density_grid(normalize_to_box(points, self.aabb)).sum(dim=-1)
        density = F.softplus(features + self.config.density_shift) * self.config.distance_scale
        return torch.where(self._inside(points), density, torch.zeros_like(density))

    def color(self, points: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) positions and unit directions -> (num_points, 3) rgb."""
        features = self.appearance_basis(self.appearance_grid(normalize_to_box(points, self.aabb)))
        return self.color_mlp(features, dirs)

    def semantics(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, num_classes) class distribution (logits when unbounded)."""
        grid = self.semantic_grid
        return self.semantic_head(points, None if grid is None else grid(normalize_to_box(points, self.aabb)))

    def instance(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, num_slots) slot distribution (logits when unbounded)."""
        grid = self.instance_grid
        return self.instance_head(points, None if grid is None else grid(normalize_to_box(points, self.aabb)))

    def forward(self, points: torch.Tensor, dirs: torch.Tensor) -> FieldOutputs:
        """Every output at (num_points, 3) points with (num_points, 3) unit view directions."""
        return FieldOutputs(
            density=self.density(points),
            rgb=self.color(points, dirs),
            semantics=self.semantics(points),
            instance=self.instance(points),
        )

    # ----------------------------------------------------------------- parameters
    def grid_parameters(self) -> list[nn.Parameter]:
        """Every plane and line (replaced when the grids are resampled)."""
        return self.geometry_grid_parameters() + self.head_grid_parameters()

    def geometry_grid_parameters(self) -> list[nn.Parameter]:
        """The planes and lines of density and appearance."""
        return [*self.density_grid.parameters(), *self.appearance_grid.parameters()]

    def head_grid_parameters(self) -> list[nn.Parameter]:
        """The planes and lines of the semantic and instance heads' feature grids (none without them)."""
        grids = [self.semantic_grid, self.instance_grid]
        return [p for grid in grids if grid is not None for p in grid.parameters()]

    def mlp_parameters(self) -> list[nn.Parameter]:
        return self.color_parameters() + list(self.semantic_head.parameters())

    def color_parameters(self) -> list[nn.Parameter]:
        """The appearance basis and the colour MLP (what turns appearance features into colour)."""
        return [*self.appearance_basis.parameters(), *self.color_mlp.parameters()]

    def instance_parameters(self) -> list[nn.Parameter]:
        return list(self.instance_head.parameters())

    def total_variation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(TV of the density grid, TV of the appearance grid)."""
        return self.density_grid.total_variation(), self.appearance_grid.total_variation()

    def density_l1(self) -> torch.Tensor:
        """sum_m mean|P_m| + mean|L_m| over the density planes and lines (sparsity prior)."""
        grid = self.density_grid
        return sum(p.abs().mean() for p in grid.planes) + sum(line.abs().mean() for line in grid.lines)

    @staticmethod
    def from_state_dict(
        config: FieldConfig, num_classes: int, state: dict[str, torch.Tensor], bounded: bool = True
    ) -> PanopticField:
        """Build a field whose grid shapes match ``state`` (after upsampling/shrinking), then load it."""

        def shape_of(prefix: str) -> tuple[int, int, int] | None:
            if f"{prefix}.planes.0" not in state:
                return None
            p0, p1 = state[f"{prefix}.planes.0"], state[f"{prefix}.planes.1"]
            return (int(p0.shape[3]), int(p0.shape[2]), int(p1.shape[2]))

        field = PanopticField(
            config, num_classes, aabb=state["aabb"], resolution=shape_of("density_grid"), bounded=bounded,
            head_resolution=shape_of("semantic_grid"),
        )  # fmt: skip
        field.occupancy_mask = torch.zeros(state["occupancy_mask"].shape, dtype=torch.bool)
        field.load_state_dict(state)
        return field
