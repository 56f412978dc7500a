"""The panoptic radiance field Phi(x, d) -> (sigma, c, kappa, pi) in scene-normalised coordinates.

Besides the call contract ``field(points, dirs) -> FieldOutputs`` it offers the renderer two optional
speed-ups, found by attribute (a wrapping module that lacks them is rendered correctly, only slower):

- ``density(points) -> (num_points,)``: the density alone, so the renderer can compute weights first and
  evaluate colour and heads only on samples of significant weight.
- ``aabb`` (2, 3) and ``occupancy`` (an :class:`~panolift.field.occupancy.OccupancyGrid` or None): where to
  sample and which voxels to skip.

Instances come in two kinds (``FieldConfig.instance_embedding``). Slots (the paper): the instance head
outputs a distribution over ``num_slots`` surrogate ids. Embedding: the head outputs a point in an
embedding space, trained to gather each 2D instance and keep different ones apart; after training,
:mod:`panolift.lift.clusters` finds the 3D instances (cluster centres, the instance of each centre, and
each instance's class prior) and stores them in the field. From then on
:meth:`PanopticField.instance` gives a distribution over the instances, so that renders, edits, exports
and the viewer treat an instance exactly like a slot, however many there are; ``slot_class_prior`` is each
instance's class prior, the sharpened vote of its rays' 2D labels (used by :func:`panolift.render.compute_panoptic_ids`). The
trainer reads the embedding itself inside :meth:`PanopticField.embedding_mode`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from panolift.config import FieldConfig

from .heads import PositionHead
from .occupancy import OccupancyGrid
from .outputs import FieldOutputs
from .tensorf import (
    ColorMLP,
    TensorVM,
    lattice_corners,
    normalize_to_box,
    resolution_from_voxels,
    trilinear_lookup,
)

BAKED_DENSITY_MAX_NODES = 1 << 26
"""The largest density lattice (nodes) baked for rendering (256 MiB of float32); larger grids are read
factorised, as in training."""


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
        instance_resolution: tuple[int, int, int] | None = None,
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
            config.appearance_features,
            config.color_mlp_width,
            config.color_pe_features,
            config.color_pe_view,
            config.color_view,
            config.color_logit_bound,
        )
        head_resolution = head_resolution or resolution_from_voxels(aabb, config.head_grid_resolution)
        comps = config.head_grid_components
        self.semantic_grid = TensorVM(head_resolution, comps, config.init_scale) if comps > 0 else None
        instance_resolution = instance_resolution or resolution_from_voxels(aabb, config.instance_grid_voxels)
        self.instance_grid = TensorVM(instance_resolution, comps, config.init_scale) if comps > 0 else None
        self.semantic_head = PositionHead(
            num_classes,
            config.semantic_width,
            config.semantic_layers,
            config.head_pe_freqs,
            bounded,
            3 * comps,
        )
        self.instance_head = PositionHead(
            config.instance_embedding or config.num_slots,
            config.instance_width,
            config.instance_layers,
            config.head_pe_freqs,
            bounded and not config.instance_embedding,  # an embedding is not a distribution
            3 * comps,
        )
        # embedding fields: the instance clusters found after training (none before)
        self.register_buffer("instance_centres", torch.zeros(0, max(config.instance_embedding, 1)))
        self.register_buffer("instance_of_centre", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("instance_class_prior", torch.zeros(0, num_classes))
        # the fused label votes (panolift.lift.votes), none before the end of training: the voted nodes of a
        # lattice of label_vote_shape (X, Y, Z) nodes over the box, each node's vote mass and its
        # normalised class distribution; label_vote_open (1,): the share of the voting rays that ended on no
        # surface ((0,): not counted, runs from before stop 73)
        self.register_buffer("label_vote_shape", torch.zeros(3, dtype=torch.int64))
        self.register_buffer("label_vote_nodes", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("label_vote_mass", torch.zeros(0))
        self.register_buffer("label_vote_classes", torch.zeros(0, num_classes, dtype=torch.float16))
        self.register_buffer("label_vote_open", torch.zeros(0))
        self._vote_rows: tuple | None = None  # (key, (Z*Y*X,) row of each node in the votes, -1: none)
        self._raw_embedding = False
        self._occupancy_grid: tuple | None = None  # (key, OccupancyGrid): occupancy
        self._baked_density: tuple | None = None  # (parameters, their state, node sums): baked_density()
        self.normalization = None  # SceneNormalization, set by the trainer / loader (not a tensor)
        self.render_config = None  # RenderConfig of the run, set by the trainer / loader
        # the march's step follows voxels at least this long (set by the trainer until its shrink)
        self.march_voxel_floor = 0.0

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
        # the same grid object while mask and box are (its clearance is computed once per grid)
        key = tuple((id(x), x._version, x.device) for x in (self.occupancy_mask, self.occupancy_aabb))
        cached = self._occupancy_grid
        if cached is None or cached[0] != key:
            grid = OccupancyGrid(self.occupancy_aabb, self.occupancy_mask)
            self._occupancy_grid = cached = (key, grid)
        return cached[1]

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
            instance_resolution = resolution_from_voxels(aabb, self.config.instance_grid_voxels)
            self.instance_grid.resample(self.aabb, aabb, instance_resolution)
        self.aabb = aabb.clone()

    # ----------------------------------------------------------------- evaluation
    def _inside(self, points: torch.Tensor) -> torch.Tensor:
        return ((points >= self.aabb[0]) & (points <= self.aabb[1])).all(dim=-1)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """sigma = softplus(sum of density VM features + shift) * distance_scale; 0 outside the box.
        Outside training the sum is read from :meth:`baked_density` (the same values, faster).

        (num_points, 3) -> (num_points,)
        """
        unit = normalize_to_box(points, self.aabb)
        baked = self.baked_density() if not (self.training or torch.is_grad_enabled()) else None
        features = self.density_grid(unit).sum(dim=-1) if baked is None else trilinear_lookup(baked, unit)[0]
        density = F.softplus(features + self.config.density_shift) * self.config.distance_scale
        return torch.where(self._inside(points), density, torch.zeros_like(density))

    def baked_density(self) -> torch.Tensor | None:
        """The density grid's node sums (:meth:`TensorVM.node_sums`), kept while its planes and lines are
        unchanged (same storage, no in-place update since), for :meth:`density` outside training: the same
        densities to float rounding, about 2.5x faster to read (a rendered frame 6-15% faster). None when the
        lattice has more than :data:`BAKED_DENSITY_MAX_NODES` nodes. Training (train mode or gradients)
        reads the planes and lines: they change every step."""
        x, y, z = self.density_grid.resolution
        if x * y * z > BAKED_DENSITY_MAX_NODES:
            return None
        # the parameters themselves are kept with the bake: a replaced one (resampled) is another object,
        # an updated one has another version or storage (``.to(device)``)
        params = tuple(self.density_grid.parameters())
        state = tuple((p.data_ptr(), p._version) for p in params)
        cached = self._baked_density
        if cached is not None and len(cached[0]) == len(params) and cached[1] == state:
            if all(a is b for a, b in zip(cached[0], params, strict=True)):
                return cached[2]
        volume = self.density_grid.node_sums()
        self._baked_density = (params, state, volume)
        return volume

    def color(self, points: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) positions and unit directions -> (num_points, 3) rgb."""
        features = self.appearance_basis(self.appearance_grid(normalize_to_box(points, self.aabb)))
        return self.color_mlp(features, dirs)

    def semantics(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, num_classes) class distribution (logits when unbounded). With
        label votes (:meth:`set_label_votes`, ``config.label_votes`` > 0) a voted point's distribution is
        (1 - share) x the head's + share x the votes' (:meth:`label_votes_at`)."""
        grid = self.semantic_grid
        head = self.semantic_head(points, None if grid is None else grid(normalize_to_box(points, self.aabb)))
        share = self.config.label_votes
        if share <= 0 or not self.has_label_votes or not self.semantic_head.bounded:
            return head
        votes, voted = self.label_votes_at(points)
        blend = (1.0 - share) * head + share * votes.to(head.dtype)
        return torch.where(voted[:, None], blend, head)

    # ----------------------------------------------------------------- label votes
    @property
    def has_label_votes(self) -> bool:
        return self.label_vote_nodes.shape[0] > 0

    def set_label_votes(
        self,
        shape: tuple[int, int, int],
        nodes: torch.Tensor,
        mass: torch.Tensor,
        classes: torch.Tensor,
        open_share: float | None = None,
    ) -> None:
        """Keep the fused label votes: ``shape`` (X, Y, Z) nodes of a lattice over the box (corners
        included, as the grids'), the flat index (z Y + y) X + x of each voted node (n,), its vote mass
        (n,) and its normalised class distribution (n, num_classes); ``open_share``: the share of the
        voting rays that ended on no surface (None: not counted)."""
        x, y, z = (int(v) for v in shape)
        num_classes = self.label_vote_classes.shape[1]
        if min(x, y, z) < 2 or nodes.ndim != 1 or mass.shape != nodes.shape:
            raise ValueError(
                f"label votes: a lattice of {(x, y, z)} nodes with {tuple(nodes.shape)} voted nodes and {tuple(mass.shape)} masses"
            )
        if classes.shape != (nodes.shape[0], num_classes):
            raise ValueError(
                f"label votes: classes {tuple(classes.shape)}, need ({nodes.shape[0]}, {num_classes})"
            )
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= x * y * z):
            raise ValueError(f"label votes: node indices outside the {x}x{y}x{z} lattice")
        if open_share is not None and not 0.0 <= open_share <= 1.0:
            raise ValueError(f"label votes: a share of open rays of {open_share}, not in [0, 1]")
        self.label_vote_shape = torch.tensor([x, y, z], dtype=torch.int64, device=self.aabb.device)
        self.label_vote_nodes = nodes.detach().to(device=self.aabb.device, dtype=torch.int64)
        self.label_vote_mass = mass.detach().to(self.aabb)
        self.label_vote_classes = classes.detach().to(device=self.aabb.device, dtype=torch.float16)
        self.label_vote_open = (
            self.aabb.new_zeros(0) if open_share is None else self.aabb.new_tensor([float(open_share)])
        )

    @property
    def label_vote_open_share(self) -> float | None:
        """The share of the voting training rays that ended on no surface (None: no votes, or votes fused
        before it was counted)."""
        if not self.has_label_votes or self.label_vote_open.numel() != 1:
            return None
        return float(self.label_vote_open[0])

    def clear_label_votes(self) -> None:
        """Forget the votes (training goes on: the surfaces change and they are fused again)."""
        self.label_vote_shape = torch.zeros_like(self.label_vote_shape)
        self.label_vote_nodes = self.label_vote_nodes[:0]
        self.label_vote_mass = self.label_vote_mass[:0]
        self.label_vote_classes = self.label_vote_classes[:0]
        self.label_vote_open = self.label_vote_open[:0]

    def _vote_row_index(self) -> torch.Tensor:
        """(Z*Y*X,) the row of each lattice node in the votes, -1 where none voted (made once per votes)."""
        key = tuple((id(t), t._version, t.device) for t in (self.label_vote_nodes, self.label_vote_shape))
        if self._vote_rows is None or self._vote_rows[0] != key:
            count = int(self.label_vote_shape.prod())
            rows = torch.full((count,), -1, dtype=torch.int64, device=self.label_vote_nodes.device)
            rows[self.label_vote_nodes] = torch.arange(self.label_vote_nodes.shape[0], device=rows.device)
            self._vote_rows = (key, rows)
        return self._vote_rows[1]

    def label_votes_at(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The votes' class distribution at (num_points, 3) points, (num_points, num_classes), and whether
        any voted node is among each point's 8 lattice corners (num_points,) bool. The trilinear mean of
        the corners' distributions weighted by their vote mass: the trilinear interpolation of the vote
        sums, normalised."""
        shape = tuple(int(v) for v in self.label_vote_shape)
        rows = self._vote_row_index().to(points.device)
        mass, classes = self.label_vote_mass.to(points), self.label_vote_classes.to(points.device)
        sums = points.new_zeros(points.shape[0], classes.shape[1])
        total = points.new_zeros(points.shape[0])
        for corner, weight in lattice_corners(points, self.aabb.to(points), shape):
            row = rows.index_select(0, corner)
            voted = row >= 0
            row = row.clamp_min(0)
            weight = torch.where(voted, weight * mass.index_select(0, row), 0.0)
            sums += weight[:, None] * classes.index_select(0, row).to(points.dtype)
            total += weight
        voted = total > 0
        return sums / total.clamp_min(1e-30)[:, None], voted

    def instance_embedding(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, D) the instance head's raw output (slot logits or probabilities
        for a slot field, the embedding for an embedding field)."""
        grid = self.instance_grid
        return self.instance_head(points, None if grid is None else grid(normalize_to_box(points, self.aabb)))

    def instance(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, num_slots) slot distribution (logits when unbounded). An
        embedding field gives the distribution over its instance clusters (:meth:`cluster_distribution`;
        one column of ones before they are found), or the raw embedding inside :meth:`embedding_mode`."""
        raw = self.instance_embedding(points)
        if not self.config.instance_embedding or self._raw_embedding:
            return raw
        if self.instance_centres.shape[0] == 0:
            return raw.new_ones(raw.shape[0], 1)
        return self.cluster_distribution(raw)

    def cluster_distribution(self, embedding: torch.Tensor) -> torch.Tensor:
        """(n, D) embeddings -> (n, G) distribution over the G instances: softmax(-|e - c_k|^2 / (2 tau^2))
        over the K cluster centres (tau = cluster_radius / 2: one-hot in effect near a centre, shared
        only halfway between two), summed over the centres of each instance (an instance may hold
        several, ``instance_of_centre``)."""
        tau = 0.5 * self.config.cluster_radius
        # exact differences, not |e|^2 + |c|^2 - 2 e.c: the same point gets the same distribution in any
        # batch (an identity move re-evaluates a region's points on their own)
        centres = self.instance_centres.to(embedding)
        d2 = torch.cdist(embedding, centres, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        per_centre = torch.softmax(-d2 / (2 * tau * tau), dim=-1)
        groups = self.instance_class_prior.shape[0]
        return per_centre.new_zeros(embedding.shape[0], groups).index_add(
            1, self.instance_of_centre, per_centre
        )

    @contextmanager
    def embedding_mode(self):
        """Inside: :meth:`instance` returns the raw embedding (the trainer's loss needs it)."""
        previous, self._raw_embedding = self._raw_embedding, True
        try:
            yield self
        finally:
            self._raw_embedding = previous

    @property
    def has_instance_clusters(self) -> bool:
        return self.instance_centres.shape[0] > 0

    @property
    def slot_class_prior(self) -> torch.Tensor | None:
        """(G, num_classes) class prior of each 3D instance (embedding fields with clusters; see
        :func:`panolift.lift.clusters.label_class_prior`),
        else None: a slot has no class of its own."""
        if not self.config.instance_embedding or not self.has_instance_clusters:
            return None
        return self.instance_class_prior

    def set_instance_clusters(
        self, centres: torch.Tensor, instance_of_centre: torch.Tensor, classes: torch.Tensor
    ) -> None:
        """Store what clustering found after training: centres (K, D), the instance of each (K,) in
        0..G-1, and each instance's class prior (G, num_classes)."""
        if centres.ndim != 2 or centres.shape[1] != self.config.instance_embedding:
            raise ValueError(
                f"cluster centres {tuple(centres.shape)}: need (K, {self.config.instance_embedding})"
            )
        if instance_of_centre.shape != centres.shape[:1] or (
            centres.shape[0] and int(instance_of_centre.max()) >= classes.shape[0]
        ):
            raise ValueError(
                f"instance_of_centre {tuple(instance_of_centre.shape)}: one of {classes.shape[0]} instances per centre"
            )
        self.instance_centres = centres.detach().to(self.aabb)
        self.instance_of_centre = instance_of_centre.detach().to(device=self.aabb.device, dtype=torch.int64)
        self.instance_class_prior = classes.detach().to(self.aabb)

    def clear_instance_clusters(self) -> None:
        """Forget the clusters (training goes on: the embedding changes and they are found again)."""
        self.set_instance_clusters(
            self.instance_centres[:0], self.instance_of_centre[:0], self.instance_class_prior[:0]
        )

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
            head_resolution=shape_of("semantic_grid"), instance_resolution=shape_of("instance_grid"),
        )  # fmt: skip
        field.occupancy_mask = torch.zeros(state["occupancy_mask"].shape, dtype=torch.bool)
        for name in (
            "instance_centres",
            "instance_of_centre",
            "instance_class_prior",
            "label_vote_shape",
            "label_vote_nodes",
            "label_vote_mass",
            "label_vote_classes",
            "label_vote_open",
        ):  # a checkpoint from before clusters (or label votes) has none
            if name in state:
                setattr(field, name, torch.zeros_like(state[name]))
            else:
                state = {**state, name: getattr(field, name)}
        field.load_state_dict(state)
        return field
