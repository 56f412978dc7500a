"""Fitting the panoptic radiance field to a scene's images and machine labels.

The :class:`Trainer` holds the optimisation in memory (field, optimizers, batch generator, step, history)
and can export and import its whole state (:meth:`Trainer.state`, :meth:`Trainer.load_state`); writing
that state to a run folder, and resuming from one, is :mod:`panolift.runs.training`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from panolift.capture.world_frame import (
    heights_turn_degrees,
    nearest_axes,
    orientation_offsets,
    turn_degrees,
    world_rotation,
)
from panolift.config import LiftConfig
from panolift.field import PanopticField, compute_occupancy, occupied_aabb, resolution_from_voxels
from panolift.render import reach_ends, render_rays, sampling_domain, thing_mask_of
from panolift.scene import Scene, SceneNormalization

from .batching import (
    frame_targets,
    load_training_data,
    rays_for_pixels,
    sample_image_batch,
    sample_scene_batch,
)
from .cameras import FrameCameras
from .clusters import cluster_instances
from .exposure import FrameExposure
from .floor import MAX_OTHERS_UNDER, floor_levels, refined_height
from .head_cache import HeadSampleCache, head_cache_bytes, head_samples_per_ray
from .losses import (
    EmbeddingBank,
    assign_instances,
    compute_consistency_loss,
    compute_distortion_loss,
    compute_embedding_loss,
    compute_instance_loss,
    compute_matched_depth_loss,
    compute_psnr,
    compute_rgb_loss,
    compute_semantic_loss,
    instance_classes,
    instance_means,
    instance_places,
)
from .planarity import compute_planarity_loss, flatness_weights, sample_triplets
from .schedules import events_at, grid_resolution_at, learning_rate_factor_at, loss_weights_at, phase_at
from .sharpness import frame_sharpness, sharpness_weights
from .state import field_from_tensors, field_to_tensors, load_optimizer, optimizer_to_tensors
from .stereo import MatchConfig, MatchedDepths, grayscale, match_depths
from .threads import ThreadTuner
from .view_smoothing import FEW_VIEWS, SPARSE_CAPTURE_SHARE, SparseViewSmoothing, sparsely_seen_share
from .votes import fuse_label_votes

TURNED_DEGREES = 5.0
"""Degrees off upright, or walls off the axes, above which a training turns the field's axes onto the room
(:meth:`Trainer.orient_world`: by both estimates of up) or, without ``train.orient_world``, warns
(:meth:`Trainer.report_orientation`). Aligned rooms are found up to 4.3 degrees off by the cameras' up
(fresh room 158, a hand-held walk whose roll leans the cameras' x axes) and up to 4.8 by the points'
heights (tuning room 1), at most 2.5 by the smaller of the two (24 suite rooms; SUITE.md, forty-eighth
round)."""

log = logging.getLogger(__name__)

HEAD_CACHE_MAX_BYTES = 2 << 30
"""Largest :class:`HeadSampleCache` a head phase makes (larger scenes march every head step)."""

ProgressFn = Callable[[int, int, dict], None]
"""progress(step, total_steps, metrics): called every ``log_every`` steps (and at the first step)."""
CheckpointFn = Callable[["Trainer"], None]
"""checkpoint(trainer): called every ``checkpoint_every`` steps and at the end of :meth:`Trainer.run`."""


def contrast_factor(rgb: torch.Tensor, reference: float, max_factor: float = 10.0) -> float:
    """reference / v clipped to [1, max_factor], v = mean per-channel variance of ``rgb`` (..., 3) uint8
    pixels (a strided subset); 1 when ``reference`` is 0."""
    if reference <= 0:
        return 1.0
    pixels = rgb.reshape(-1, 3)
    pixels = pixels[:: max(1, pixels.shape[0] // 200_000)].float() / 255.0
    variance = float(pixels.var(dim=0).mean())
    factor = min(max(reference / max(variance, 1e-6), 1.0), max_factor)
    log.info("colour variance %.4f: colour loss weight x%.2f", variance, factor)
    return factor


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with TensoRF's betas (0.9, 0.99); the fused kernel where this torch has one for the device
    (CPU from torch 2.4): one pass over each tensor instead of a dozen (2.5x faster on the fast preset's
    grids), else the default implementation."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))


def voxel_edge(aabb: torch.Tensor, voxels_per_side: int) -> float:
    """Mean edge of a voxel of grids of about ``voxels_per_side``^3 voxels over box ``aabb`` (as
    :attr:`PanopticField.voxel_size` would have it there)."""
    res = torch.tensor(resolution_from_voxels(aabb, voxels_per_side), dtype=aabb.dtype, device=aabb.device)
    return float(((aabb[1] - aabb[0]) / (res - 1)).mean())


class Trainer:
    """Owns the field, optimizers, batch generator and schedule position of one lifting.

    ``scene`` is read at its working size (``Scene(path, size=...)``); only its colour images and machine
    labels are read, never its ground truth. ``normalization`` maps world to field coordinates.
    """

    def __init__(
        self,
        scene: Scene,
        normalization: SceneNormalization,
        config: LiftConfig,
        device: torch.device | str | None = None,
    ):
        self.scene, self.normalization, self.config = scene, normalization, config
        self.device = torch.device(device or "cpu")
        self.data = load_training_data(
            scene, normalization, config.field.max_2d_instances, config.loss.use_tta,
            max_memory=config.train.max_memory, seed=config.train.seed,
        ).to(self.device)  # fmt: skip
        left_out = self.data.keep_classes_seen_in(config.loss.min_class_views)
        if left_out:
            names, views = scene.class_set.names, self.data.class_views.tolist()
            log.info(
                "not lifted (the 2D labels show them in fewer than %d training frames; their pixels carry no "
                "target but colour): %s", config.loss.min_class_views,
                ", ".join(f"{names[c]} ({views[c]} frame{'s' if views[c] != 1 else ''})" for c in left_out),
            )  # fmt: skip
        if config.train.edge_rays > 0 and self.data.streaming:
            log.warning(
                "--train.edge-rays %g: the frames are streamed from disk (too large to hold), so the scene "
                "rays are drawn uniformly over their pixels instead", config.train.edge_rays,
            )  # fmt: skip
        self.rgb_weight = config.loss.weight_rgb * contrast_factor(
            self.data.targets.rgb, config.loss.contrast_reference
        )
        self.generator = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.history: list[dict] = []
        self.step, self.elapsed = 0, 0.0
        self.shrink_pending = False
        # with train.box_from_matches, until the shrink: the box whose voxels set the march's step
        self.march_box: torch.Tensor | None = None
        self.matched: MatchedDepths | None = None  # found at the first step that needs them
        self.head_cache: HeadSampleCache | None = None  # a head phase's samples (train.head_cache)
        self.view_smoothing = SparseViewSmoothing(
            self.data.c2w, self.data.K, self.data.width, self.data.height, config.render.near
        )
        self.embedding_bank = EmbeddingBank(
            config.loss.embedding_bank, max(config.field.instance_embedding, 1), self.device
        )
        # per-frame gains and offsets (train.frame_exposure); None: every frame as recorded
        self.exposure = (
            FrameExposure(self.data.num_frames).to(self.device) if config.train.frame_exposure else None
        )
        # per-frame colour weights of blurred frames (loss.sharp_frames); None: every frame alike
        self.colour_weights = self._sharp_frame_weights()
        # per-frame camera corrections (train.refine_cameras); None: the poses as given
        self.cameras = (
            FrameCameras(self.data.num_frames).to(self.device) if config.train.refine_cameras else None
        )
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the global RNG
            torch.manual_seed(config.train.seed)
            field = PanopticField(config.field, scene.class_set.num_classes, bounded=config.loss.bounded)
        self._attach(field)

    def _attach(self, field: PanopticField) -> None:
        self.field = field.to(self.device)
        self.field.normalization = self.normalization
        self.field.render_config = self.config.render
        self._build_optimizers()

    # ----------------------------------------------------------------- state
    def state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """(metadata, tensors) of everything needed to continue exactly (see :mod:`panolift.lift.state`)."""
        tensors = field_to_tensors(self.field)
        tensors["rng.torch"] = self.generator.get_state().cpu()
        if self.config.field.instance_embedding:
            tensors.update(self.embedding_bank.tensors())
        if self.matched is not None:
            tensors.update(self.matched.tensors())
        if self.exposure is not None:
            tensors.update(self.exposure.tensors())
        if self.cameras is not None:
            tensors.update(self.cameras.tensors())
        optimizers = {}
        for name, optimizer in self.optimizers.items():
            opt_tensors, optimizers[name] = optimizer_to_tensors(name, optimizer)
            tensors.update(opt_tensors)
        meta = {
            "step": self.step,
            "config": self.config.to_dict(),
            "grid_shape": list(self.field.resolution),
            "aabb": self.field.aabb.cpu().tolist(),
            "occupancy_shape": list(self.field.occupancy_mask.shape),
            "optimizers": optimizers,
            "rng_device": str(self.generator.device),
            "history": self.history,
            "elapsed": self.elapsed,
            "shrink_pending": self.shrink_pending,
            "march_box": None if self.march_box is None else self.march_box.cpu().tolist(),
            "march_voxel_floor": self.field.march_voxel_floor,
        }
        return meta, tensors

    def load_state(self, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        """Field, optimizers, batch generator, step and history exactly as in a :meth:`state`."""
        if self.exposure is not None:
            self.exposure.load(tensors)
        if self.cameras is not None:
            self.cameras.load(tensors)
        self._attach(field_from_tensors(meta, tensors, self.scene.class_set.num_classes))
        for name, optimizer in self.optimizers.items():
            load_optimizer(name, optimizer, meta, tensors)
        self.generator.set_state(tensors["rng.torch"])
        self.embedding_bank.load(tensors)
        matched = MatchedDepths.from_tensors(tensors)
        self.matched = None if matched is None else matched.to(self.device)
        self.step, self.history = int(meta["step"]), list(meta["history"])
        self.shrink_pending = bool(meta.get("shrink_pending", False))
        box = meta.get("march_box")
        self.march_box = (
            None if box is None else torch.tensor(box, device=self.device, dtype=self.field.aabb.dtype)
        )
        self.field.march_voxel_floor = float(meta.get("march_voxel_floor", 0.0))
        self.elapsed = float(meta.get("elapsed", self.history[-1]["time"] if self.history else 0.0))

    # ----------------------------------------------------------------- optimisation
    def _build_optimizers(self) -> None:
        train = self.config.train
        self.optimizers = {
            "grid": make_adam(self._grid_groups(), train.lr_grid),
            "mlp": make_adam(self._mlp_groups(), train.lr_mlp),
            "instance": make_adam(self.field.instance_parameters(), train.lr_instance),
        }
        self._base_lr = {"grid": train.lr_grid, "mlp": train.lr_mlp, "instance": train.lr_instance}
        if self.exposure is not None:  # the cameras' corrections follow the colour's schedule
            decay = train.lr_decay_geometry or train.lr_decay
            self.optimizers["exposure"] = make_adam(
                [{"params": list(self.exposure.parameters()), "decay": decay}], train.lr_exposure
            )
            self._base_lr["exposure"] = train.lr_exposure
        if self.cameras is not None:  # so do the cameras' (they wait for the walls: train_step)
            decay = train.lr_decay_geometry or train.lr_decay
            self.optimizers["cameras"] = make_adam(
                [{"params": [self.cameras.rotation], "decay": decay}], train.lr_cameras
            )
            self.optimizers["camera_shift"] = make_adam(
                [{"params": [self.cameras.shift], "decay": decay}], train.lr_camera_shift
            )
            self._base_lr["cameras"], self._base_lr["camera_shift"] = train.lr_cameras, train.lr_camera_shift

    def _split_groups(self, geometry: list, heads: list) -> list[dict]:
        """Parameter groups, each with the ``decay`` of its learning rate: one group, or two (density and
        colour; the labels' heads) when ``train.lr_decay_geometry`` sets the geometry's own decay."""
        train = self.config.train
        geometry_decay = train.lr_decay_geometry or train.lr_decay
        if geometry_decay == train.lr_decay or not heads:
            return [{"params": geometry + heads, "decay": geometry_decay if not heads else train.lr_decay}]
        return [{"params": geometry, "decay": geometry_decay}, {"params": heads, "decay": train.lr_decay}]

    def _grid_groups(self) -> list[dict]:
        """The grid optimizer's groups: density and appearance grids; the heads' feature grids."""
        return self._split_groups(self.field.geometry_grid_parameters(), self.field.head_grid_parameters())

    def _mlp_groups(self) -> list[dict]:
        """The MLP optimizer's groups: appearance basis and colour MLP; the semantic head."""
        return self._split_groups(self.field.color_parameters(), list(self.field.semantic_head.parameters()))

    def _rebuild_grid_optimizer(self) -> None:
        """Grid parameters are replaced by resampling: a fresh Adam over them (as TensoRF does; the rates
        are set again before the next step)."""
        self.optimizers["grid"] = make_adam(self._grid_groups(), self.config.train.lr_grid)

    def matched_depths(self) -> MatchedDepths:
        """The training pixels whose depth was matched between views (:mod:`panolift.lift.stereo`),
        found once (in the box of the first step) and kept in checkpoints."""
        if self.matched is None:
            scene, names = self.scene, list(self.data.frame_names)
            images = torch.stack([grayscale(scene.rgb(name)) for name in names])  # grey: a third of colour
            usable = torch.from_numpy(np.stack([~scene.invalid_mask(name).reshape(-1) for name in names]))
            matched = match_depths(
                images, self.data.K, self.data.c2w, self.field.aabb, self.config.render.near, MatchConfig(),
                usable,
            )  # fmt: skip
            if len(matched) == 0:
                log.warning(
                    "no training pixel's depth could be matched between views: the matched-depth loss is "
                    "off (textureless images, or no two views look the same way)"
                )
            self.matched = matched.to(self.device)
            self.report_capture_sparsity()
            if not self.config.train.orient_world:
                self.report_orientation()
        return self.matched

    def matched_points(self) -> torch.Tensor:
        """The surface points (num_matched, 3) that the matched depths place along their pixels' rays."""
        matched = self.matched_depths()
        origins, dirs = rays_for_pixels(self.data, matched.frames, matched.pixels)
        return origins + dirs * matched.depth[:, None]

    def matched_box(self, margin: float, quantile: float = 0.005) -> torch.Tensor:
        """The box of the matched surface points (their ``quantile`` and 1 - ``quantile`` per axis) and the
        cameras, grown by ``margin`` x its largest side on every side and clipped to the field's box (the
        field's box itself with fewer than 50 matches)."""
        aabb = self.field.aabb
        points = self.matched_points()
        if points.shape[0] < 50:
            return aabb
        q = torch.tensor([quantile, 1.0 - quantile], device=points.device, dtype=points.dtype)
        low, high = torch.quantile(points, q, dim=0)
        cameras = self.data.c2w[:, :3, 3].to(points)
        low, high = torch.minimum(low, cameras.min(0).values), torch.maximum(high, cameras.max(0).values)
        grow = margin * float((high - low).max())
        return torch.stack([torch.maximum(low - grow, aabb[0]), torch.minimum(high + grow, aabb[1])])

    def floor_matches(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The matched surface points' heights (normalised z) and whether the training labels call their
        pixel floor (both (num_matched,)); None without a floor class, an upright world
        (:attr:`orient_world`, whose z is up) or matches."""
        names = self.scene.class_set.names
        if "floor" not in names or not self.config.train.orient_world:
            return None
        floor = names.index("floor")
        matched = self.matched_depths()
        if len(matched) == 0:
            return None
        points = self.matched_points()
        is_floor = torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
        frames = matched.frames.to(points.device)
        for frame in torch.unique(frames).tolist():
            rows = torch.nonzero(frames == frame)[:, 0]
            pixels = matched.pixels.to(points.device).index_select(0, rows)
            probability = frame_targets(self.data, frame, pixels)["probability"].to(points.device)
            is_floor[rows] = probability.argmax(dim=1) == floor
        return points[:, 2], is_floor

    def floor_height(
        self, min_points: int = 200, matches: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> float | None:
        """The floor's height (normalised z) from the matched points labelled floor (``matches``, default
        :meth:`floor_matches`): its lowest level (:func:`~panolift.lift.floor.floor_levels`: piles of
        their heights in 4 cm windows, 2 cm apart; a raised stage or a split level is a second pile, a
        glossy floor's reflections a tail under the floor's that no level rises from), refined to the
        median of the points within 2 cm. None without floor matches or with fewer than ``min_points``."""
        matches = matches if matches is not None else self.floor_matches()
        if matches is None:
            return None
        heights = matches[0][matches[1]].double()
        if heights.numel() < min_points:
            return None
        slab = 0.02 * self.normalization.scale  # 2 cm in normalised units
        levels = floor_levels(heights, slab)
        if len(levels) > 1:
            log.info(
                "the floor has %d levels in the matched depths, %s m above the lowest: the box keeps them all",
                len(levels), ", ".join(f"{(h - levels[-1]) / self.normalization.scale:.2f}" for h in levels[:-1]),
            )  # fmt: skip
        return refined_height(heights, levels[-1], slab)

    def report_capture_sparsity(self) -> float:
        """Log the share of the matched surface points that at most :data:`FEW_VIEWS` training cameras
        image, with a warning above :data:`SPARSE_CAPTURE_SHARE`: a sparse capture, whose novel views may
        show parts of the room too few training views see to lift. Returns the share."""
        points = self.matched_points()
        d = self.data
        share = sparsely_seen_share(points, d.c2w, d.K, d.width, d.height, self.config.render.near)
        if share > SPARSE_CAPTURE_SHARE:
            log.warning(
                "a sparse capture: %.1f%% of the surface points matched between training views are imaged by "
                "at most %d training cameras (above %.0f%%); what a novel view shows of those parts of the "
                "room has too few views to lift, and may render worse than a 2D model's labels of that view",
                100 * share, FEW_VIEWS, 100 * SPARSE_CAPTURE_SHARE,
            )  # fmt: skip
        elif points.shape[0]:
            log.info(
                "capture: %.1f%% of the matched surface points are imaged by at most %d training cameras",
                100 * share, FEW_VIEWS,
            )  # fmt: skip
        return share

    def orient_world(self) -> float:
        """Turn the field's axes onto the room (``train.orient_world``; before the first step of a new
        training): when the room stands more than :data:`TURNED_DEGREES` off them, the normalisation gets
        the rotation that stands it upright with its walls along the axes (cameras' up and the matched
        surface points' walls, :func:`~panolift.capture.world_frame.world_rotation`; the least such turn
        whichever axis is up, :func:`~panolift.capture.world_frame.nearest_axes`), and the training
        cameras and matched depths follow. Renders, exports and edits stay in the scene's world
        (:class:`~panolift.scene.SceneNormalization`). Returns the degrees turned (0: not turned)."""
        if self.step > 0 or self.normalization.turned:
            raise RuntimeError("orient_world turns a new training's world, before its first step")
        points = self.matched_points().detach().cpu().double().numpy()
        points = points if len(points) >= 100 else None
        c2w = self.data.c2w.cpu().double().numpy()  # normalised, but not turned: the world's axes
        turn = nearest_axes(world_rotation(c2w, points))
        degrees = turn_degrees(turn)
        decisive = degrees
        if points is not None and degrees > TURNED_DEGREES:  # the points' heights must agree
            decisive = min(degrees, heights_turn_degrees(c2w, points))
        if decisive <= TURNED_DEGREES:
            log.info(
                "the room stands within %.1f degrees of the field's axes%s: not turned", decisive,
                "" if decisive == degrees else f" by its points' heights ({degrees:.1f} by the cameras' up)",
            )  # fmt: skip
            return 0.0
        old = self.normalization
        new = self.scene.normalization(self.config.train.max_depth, rotation=turn)
        poses = np.stack([self.scene.pose(name) for name in self.data.frame_names])
        self.data.c2w = torch.as_tensor(new.apply_to_poses(poses), dtype=torch.float32, device=self.device)
        self.normalization = self.field.normalization = new
        matched = self.matched
        self.matched = MatchedDepths(
            matched.frames, matched.pixels, matched.depth * (new.scale / old.scale), matched.score
        )
        d = self.data
        self.view_smoothing = SparseViewSmoothing(d.c2w, d.K, d.width, d.height, self.config.render.near)
        log.info(
            "the room stood %.0f degrees off the field's axes: turned upright with its walls along them "
            "(renders, exports and edits stay in the scene's world)", degrees,
        )  # fmt: skip
        return degrees

    def report_orientation(self) -> tuple[float, float | None]:
        """Warn when the room stands tilted or turned in its world by more than :data:`TURNED_DEGREES`
        (cameras' up against z; the matched surface points' walls against x and y,
        :func:`~panolift.capture.world_frame.orientation_offsets`): the field's grids are axis-aligned, and
        a room turned 37 degrees lost 1.3 dB of colour (trainings with ``train.orient_world`` turn it
        instead, :meth:`orient_world`). Returns (tilt, turn) in degrees."""
        points = self.matched_points().detach().cpu().double().numpy()
        tilt, turn = orientation_offsets(self.data.c2w.cpu().double().numpy(), points)
        if tilt > TURNED_DEGREES or (turn is not None and turn > TURNED_DEGREES):
            log.warning(
                "the room stands %.0f degrees off upright%s in its world; the field's grids are axis-aligned "
                "and fit an upright room with its walls along x and y best (a room turned 37 degrees lost "
                "1.3 dB): train with --train.orient-world (as `fast` and `quick` do), or import the capture "
                "again with `panolift import images|colmap` (which orients it)",
                tilt, "" if turn is None else f" and its walls {turn:.0f} degrees off the axes",
            )  # fmt: skip
        return tilt, turn

    def sample_matched_batch(self, num_rays: int) -> dict[str, torch.Tensor] | None:
        """``num_rays`` rays through matched pixels, drawn uniformly: origins, dirs, depth; None when
        nothing was matched."""
        matched = self.matched_depths()
        if len(matched) == 0:
            return None
        pick = torch.randint(len(matched), (num_rays,), generator=self.generator, device=self.device)
        frames = matched.frames[pick]
        origins, dirs = rays_for_pixels(self.data, frames, matched.pixels[pick])
        return {"origins": origins, "dirs": dirs, "depth": matched.depth[pick], "frame": frames}

    def refine_rays(self, batch: dict[str, torch.Tensor] | None, frames: torch.Tensor | None = None) -> None:
        """Replace ``batch``'s origins and dirs by those of its frames' refined cameras
        (``train.refine_cameras``; nothing without it). ``frames``: each ray's frame (default
        ``batch["frame"]``)."""
        if self.cameras is None or batch is None:
            return
        frames = batch["frame"] if frames is None else frames
        batch["origins"], batch["dirs"] = self.cameras(batch["origins"], batch["dirs"], frames)

    @contextlib.contextmanager
    def refined_poses(self):
        """Within: the training data's poses are the refined cameras' (the label votes and the instance
        clusters made at the end of a training see the frames where the colour put them)."""
        if self.cameras is None:
            yield
            return
        given = self.data.c2w
        self.data.c2w = self.cameras.refine_poses(given)
        try:
            yield
        finally:
            self.data.c2w = given

    def heads_cache(self) -> HeadSampleCache | None:
        """The head phase's :class:`HeadSampleCache` (made on first use), or None where it cannot be used:
        ``train.head_cache`` off, frames streamed from disk, or more than ``HEAD_CACHE_MAX_BYTES``."""
        if self.head_cache is None and self.config.train.head_cache and self.data.stream is None:
            k = head_samples_per_ray(self.config.render)
            num_pixels = self.data.num_frames * self.data.width * self.data.height
            if k > 0 and head_cache_bytes(num_pixels, k) <= HEAD_CACHE_MAX_BYTES:
                self.head_cache = HeadSampleCache(num_pixels, k, self.device)
                log.info("step %d: the heads' samples are cached per training pixel (%d a ray)", self.step, k)
        return self.head_cache

    def _render_heads(
        self, batch: dict[str, torch.Tensor], heads: tuple[str, ...], weight_threshold: float | None
    ) -> dict[str, torch.Tensor] | None:
        """In a head phase (the geometry frozen): the heads on ``batch``'s rays from the cache; None when no
        cache can be used (the caller marches)."""
        if self.heads_cache() is None:
            return None
        keys = batch["frame"].to(batch["pixel"]) * (self.data.width * self.data.height) + batch["pixel"]
        return self.head_cache.render(
            self.field, self.config.render, batch["origins"], batch["dirs"], keys.to(self.head_cache.t.device),
            heads, weight_threshold,
        )  # fmt: skip

    def _sharp_frame_weights(self) -> torch.Tensor | None:
        """(num_frames,) colour weights from the training images' sharpness (``loss.sharp_frames``)."""
        power = self.config.loss.sharp_frames
        if power <= 0.0:
            return None
        sharpness = np.array([frame_sharpness(self.scene.rgb(name)) for name in self.data.frame_names])
        c2w = np.stack([self.scene.pose(name) for name in self.data.frame_names])  # metres, as recorded
        weights = sharpness_weights(sharpness, c2w, power)
        log.info(
            "sharp frames: colour weights %.2f-%.2f (median %.2f); %d of %d frames under 0.5",
            weights.min(), weights.max(), np.median(weights), int((weights < 0.5).sum()), len(weights),
        )  # fmt: skip
        return torch.as_tensor(weights, dtype=torch.float32, device=self.device)

    def compute_losses(self, step: int) -> dict[str, torch.Tensor]:
        """Sample R_S (and R_I once instance/consistency losses are on), render, and return every loss.
        With a head phase (``train.head_steps``) a step of the geometry renders only colour on R_S, a step
        of the heads only the labels (:func:`~panolift.lift.schedules.loss_weights_at`)."""
        cfg, weights = self.config, loss_weights_at(step, self.config)
        phase = phase_at(step, cfg)[0]
        colour, labels = phase != "heads", phase != "geometry"
        scene_batch = sample_scene_batch(self.data, cfg.train.rays_scene, self.generator, cfg.train.edge_rays)
        use_image = weights["instance"] > 0 or weights["consistency"] > 0
        balanced = bool(cfg.field.instance_embedding) and cfg.loss.embedding_balanced
        touching = bool(cfg.field.instance_embedding) and cfg.loss.embedding_touching > 0
        image_batch = (
            sample_image_batch(self.data, cfg.train.rays_image, self.generator, balanced, touching)
            if use_image
            else None
        )
        # R_D: rays through pixels of matched depth, rendered with R_S (only their depth loss counts)
        matched = (
            self.sample_matched_batch(cfg.train.rays_matched)
            if weights["matched_depth"] > 0 and colour and cfg.train.rays_matched > 0
            else None
        )
        # R_P: lines of three pixels for the planarity prior, rendered with R_S (weights only)
        planar = (
            sample_triplets(self.data, cfg.train.rays_planar, self.generator, cfg.train.planar_step)
            if weights["planarity"] > 0 and colour and cfg.train.rays_planar > 0 and not self.data.streaming
            else None
        )
        self.refine_rays(scene_batch)
        self.refine_rays(matched)
        if planar is not None:
            self.refine_rays(planar, planar["frames"].repeat_interleave(3))
        if image_batch is not None:
            with torch.no_grad():  # the labels' rays: nothing of them moves a camera
                self.refine_rays(image_batch)
        origins, dirs = scene_batch["origins"], scene_batch["dirs"]
        num_scene = scene_batch["origins"].shape[0]
        num_matched = 0 if matched is None else matched["origins"].shape[0]
        for extra in (matched, planar):
            if extra is not None:
                origins, dirs = torch.cat([origins, extra["origins"]]), torch.cat([dirs, extra["dirs"]])
        # R_S: colour and semantics. R_I: semantics and instances only; the rendering weights of its heads
        # are detached (gradient blocking), so nothing of R_I reaches the density or the colour.
        background = None
        if cfg.train.random_background and colour:
            background = torch.rand(origins.shape[0], 3, generator=self.generator, device=self.device)
        # before the first occupancy update the density is a faint fog that no sample's weight passes
        weight_threshold = None if self.field.occupancy is not None else 0.0
        outputs = ("rgb",) * colour + ("semantics",) * labels
        out = None if colour else self._render_heads(scene_batch, ("semantics",), weight_threshold)
        if out is None:
            out = render_rays(
                self.field, origins, dirs, cfg.render, generator=self.generator,
                background=background, gradient_blocking=cfg.loss.gradient_blocking,
                weight_threshold=weight_threshold,
                return_samples=weights["distortion"] > 0 or matched is not None or planar is not None,
                outputs=outputs, shaded_rays=num_scene,  # R_D and R_P: weights only
            )  # fmt: skip
        bounded = cfg.loss.bounded
        losses = {}
        if colour:
            rgb = out["rgb"][:num_scene]
            if self.exposure is not None:  # as each frame's camera recorded it
                rgb = self.exposure(rgb, scene_batch["frame"])
                losses["exposure_prior"] = self.exposure.prior()
            frame_weight = None if self.colour_weights is None else self.colour_weights[scene_batch["frame"]]
            losses["rgb"] = compute_rgb_loss(rgb, scene_batch["rgb"], frame_weight)
        if labels:
            losses["semantic"] = compute_semantic_loss(
                out["semantics"][:num_scene], scene_batch["probability"], scene_batch["confidence"], bounded
            )
        if weights["distortion"] > 0:
            losses["distortion"] = compute_distortion_loss(
                out["weights"][:num_scene], out["t"][:num_scene], out["deltas"][:num_scene],
                log_depth=cfg.loss.distortion_log,
            )  # fmt: skip
        if matched is not None:
            step_size = float(out["deltas"][0, 0]) if out["deltas"].numel() else 0.0
            rows = slice(num_scene, num_scene + num_matched)
            losses["matched_depth"] = compute_matched_depth_loss(
                out["weights"][rows], out["t"][rows], matched["depth"], cfg.loss.matched_band, 2.0 * step_size
            )
        if planar is not None:
            rows = slice(num_scene + num_matched, None)
            flatness = flatness_weights(
                planar["rgb"], planar["segments"], planar["usable"], cfg.loss.planarity_flat
            )
            losses["planarity"] = compute_planarity_loss(
                out["weights"][rows], out["t"][rows], planar["cos"], flatness
            )
        if image_batch is not None:
            heads = ("semantics", "instance") if weights["instance"] > 0 else ("semantics",)
            with self.field.embedding_mode():  # an embedding field's loss is on the embedding itself
                out_i = None if colour else self._render_heads(image_batch, heads, weight_threshold)
                if out_i is None:
                    out_i = render_rays(
                        self.field, image_batch["origins"], image_batch["dirs"], cfg.render,
                        generator=self.generator, gradient_blocking=cfg.loss.gradient_blocking,
                        weight_threshold=weight_threshold, outputs=heads,
                    )  # fmt: skip
            sem_i = out_i["semantics"]
            thing = image_batch["instance"] > 0
            if weights["instance"] > 0 and thing.any() and cfg.field.instance_embedding:
                embedding, ids = out_i["instance"][thing], image_batch["instance"][thing]
                probs = sem_i[thing] if bounded else torch.softmax(sem_i[thing], dim=-1)
                classes = instance_classes(probs, ids)
                places = None  # where each 2D instance's object lies: only for the options that use it
                if cfg.loss.embedding_apart > 0 or cfg.loss.embedding_together > 0:
                    opacity = out_i["opacity"][thing].detach()
                    depth = out_i["depth"][thing].detach() / opacity.clamp_min(1e-6)
                    ends = image_batch["origins"][thing] + image_batch["dirs"][thing] * depth[:, None]
                    places = instance_places(ends, opacity > 0.5, ids)
                losses["instance"] = compute_embedding_loss(
                    embedding, ids, cfg.loss.embedding_pull, cfg.loss.embedding_push, classes, self.embedding_bank,
                    places, cfg.loss.embedding_apart, cfg.loss.embedding_push_active,
                    image_batch.get("touching"), cfg.loss.embedding_touching, cfg.loss.embedding_together,
                )  # fmt: skip
                self.embedding_bank.add(instance_means(embedding, ids)[2], classes, places)
            elif weights["instance"] > 0 and thing.any():  # a frame without things has no instance loss
                ins_i = out_i["instance"]
                slots = assign_instances(ins_i[thing], image_batch["instance"][thing], bounded)
                losses["instance"] = compute_instance_loss(
                    ins_i[thing], slots, image_batch["confidence"][thing], bounded
                )
            if weights["consistency"] > 0:
                confidence = image_batch["confidence"] * image_batch["pixel_weight"]  # without balanced rays
                losses["consistency"] = compute_consistency_loss(
                    sem_i, image_batch["segments"], confidence, bounded, image_batch["probability"],
                    cfg.loss.consistency_agreeing, cfg.loss.consistency_margin,
                )  # fmt: skip
        if weights["tv_density"] > 0 or weights["tv_appearance"] > 0:
            losses["tv_density"], losses["tv_appearance"] = self.field.total_variation()
        if weights["tv_density_sparse"] > 0:
            losses["tv_density_sparse"] = self.view_smoothing.loss(
                list(self.field.density_grid.planes), self.field.occupancy
            )
        if weights["l1_density"] > 0:
            losses["l1_density"] = self.field.density_l1()
        weights["rgb"] = self.rgb_weight if colour else 0.0
        losses["total"] = sum(weights[k] * v for k, v in losses.items())
        return losses

    def train_step(self) -> dict[str, float]:
        """One iteration: losses, backward, Adam steps, then grid events (occupancy, shrink, upsample)."""
        self.step += 1
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                factor = learning_rate_factor_at(self.step, self.config, group.get("decay"))
                group["lr"] = self._base_lr[name] * factor
        if (
            self.cameras is not None
            and self.step <= self.config.train.cameras_start * self.config.train.iterations
        ):
            for name in ("cameras", "camera_shift"):  # the walls form first
                for group in self.optimizers[name].param_groups:
                    group["lr"] = 0.0
        phase, within, length = phase_at(self.step, self.config)
        if phase == "heads" and within == 1:
            log.info("step %d: geometry fixed; the labels' heads alone for %d steps", self.step, length)
        losses = self.compute_losses(self.step)
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        for optimizer in self.optimizers.values():
            optimizer.step()
        self.apply_events(self.step)
        metrics = {k: float(v.detach()) for k, v in losses.items()}
        if "rgb" in metrics:  # not in the heads' steps of a head phase
            metrics["psnr"] = compute_psnr(metrics["rgb"] / 3.0)
        return metrics

    @torch.no_grad()
    def apply_events(self, step: int) -> None:
        """Occupancy updates, shrinking and upsampling due at ``step``. Occupancy and shrinking wait until
        the geometry has formed (:meth:`opaque_fraction` >= ``min_opaque_fraction``): an occupancy grid
        computed from a faint early fog marks the far walls empty, and skipped voxels never receive the
        gradient that would let their density grow. A postponed shrink happens at the next occupancy update
        that finds the geometry formed."""
        events = events_at(step, self.config)
        if self.shrink_pending and "occupancy" in events and "shrink" not in events:
            events.append("shrink")
        needed = self.config.train.min_opaque_fraction
        if needed > 0 and ("occupancy" in events or "shrink" in events):
            fraction = self.opaque_fraction()
            if fraction < needed:
                log.info("step %d: %.0f%% of rays opaque, occupancy and shrinking wait", step, 100 * fraction)
                self.shrink_pending = self.shrink_pending or "shrink" in events
                events = [e for e in events if e == "upsample"]
        if events:
            self.head_cache = None  # the grids change: the cached samples would be stale
            self.view_smoothing.reset()
        for event in events:
            if event == "occupancy":
                self.update_occupancy()
            elif event == "shrink":
                new_aabb = occupied_aabb(self.field.occupancy)
                if self.config.train.shrink_to_reached:
                    new_aabb = self.reached_aabb(within=new_aabb)
                if self.config.train.floor_from_matches:
                    new_aabb = self.box_above_floor(new_aabb)
                self.field.resample(new_aabb, grid_resolution_at(step, self.config))
                self._rebuild_grid_optimizer()
                self.shrink_pending = False
                self.march_box, self.field.march_voxel_floor = None, 0.0
                log.info(
                    "step %d: box shrunk to %s", step, [[round(v, 3) for v in r] for r in new_aabb.tolist()]
                )
            elif event == "upsample":
                box = self.field.aabb
                train = self.config.train
                voxels = grid_resolution_at(step, self.config)
                if train.box_from_matches > 0 and step == min(train.upsample_steps):
                    self.march_box = box.clone()  # until the shrink the march keeps this box's step
                    box = self.matched_box(train.box_from_matches)
                    log.info(
                        "step %d: box fitted to the matched depths: %s",
                        step,
                        [[round(v, 3) for v in r] for r in box.tolist()],
                    )
                self.field.resample(box, voxels)
                if self.march_box is not None:
                    self.field.march_voxel_floor = voxel_edge(self.march_box, voxels)
                self._rebuild_grid_optimizer()
                log.info("step %d: grid upsampled to %s", step, self.field.resolution)

    def box_above_floor(self, box: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
        """``box`` (2, 3) with its bottom raised to ``margin`` metres under the floor
        (:meth:`floor_height`), where it lies lower: nothing stands under a room's floor, and a glossy
        floor's reflections, which a radiance field explains as a mirrored room beneath it, have nowhere
        to go. Unchanged without a floor height, and where more than
        :data:`~panolift.lift.floor.MAX_OTHERS_UNDER` of the other classes' matched points would lie under
        the cut (a lower level that the floor's own matches did not show)."""
        matches = self.floor_matches()
        height = self.floor_height(matches=matches)
        if matches is None or height is None:
            log.info("no floor height from the matched depths: the box keeps its bottom")
            return box
        bottom = height - margin * self.normalization.scale
        if bottom <= float(box[0, 2]) or bottom >= float(box[1, 2]):
            return box
        z, is_floor = matches
        under = z < bottom
        others = float(under[~is_floor].float().mean()) if bool((~is_floor).any()) else 0.0
        if others > MAX_OTHERS_UNDER:
            log.warning(
                "no cut under the floor: %.1f%% of the matched points of other classes lie under the floor "
                "found at z = %.3f (normalised), above %.0f%% (a lower level of the room?); the box keeps its "
                "bottom", 100 * others, height, 100 * MAX_OTHERS_UNDER,
            )  # fmt: skip
            return box
        log.info(
            "floor at z = %.3f (normalised) from the matched depths: the box's bottom %.3f -> %.3f; under "
            "it %.1f%% of the matched points labelled floor, %.1f%% of the others",
            height, float(box[0, 2]), bottom, 100 * float(under[is_floor].float().mean()), 100 * others,
        )  # fmt: skip
        box = box.clone()
        box[0, 2] = bottom
        return box

    @torch.no_grad()
    def opaque_fraction(self, num_rays: int = 2048) -> float:
        """Fraction of random training rays whose opacity exceeds 1/2 (every ray of a room should)."""
        batch = sample_scene_batch(self.data, num_rays, self.generator)
        out = render_rays(self.field, batch["origins"], batch["dirs"], self.config.render)
        return float((out["opacity"] > 0.5).float().mean())

    @torch.no_grad()
    def reached_aabb(
        self, within: torch.Tensor, num_rays: int = 8192, quantile: float = 0.002, margin_voxels: int = 3
    ) -> torch.Tensor:
        """The box (2, 3) that light from the training cameras reaches: the ``quantile`` and 1 - ``quantile``
        of each coordinate of :func:`~panolift.render.reach_ends` of random training rays (transmittance
        still >= 0.1), grown by ``margin_voxels`` and clipped to ``within``. What lies outside, behind the
        room's surfaces, no view can confirm or clear."""
        batch = sample_scene_batch(self.data, num_rays, self.generator)
        samples = 2 * int(self.config.render.occupancy_resolution * 3**0.5)  # ~2 per occupancy voxel
        ends = reach_ends(
            self.field, batch["origins"], batch["dirs"], within, samples,
            chunk_rays=self.config.render.chunk_rays,
        )  # fmt: skip
        if ends.shape[0] < num_rays // 2:
            return within
        q = torch.tensor([quantile, 1.0 - quantile], device=ends.device, dtype=ends.dtype)
        low, high = torch.quantile(ends, q, dim=0)
        margin = margin_voxels * self.field.voxel_size
        return torch.stack([torch.maximum(low - margin, within[0]), torch.minimum(high + margin, within[1])])

    def find_instance_clusters(self, generator: torch.Generator | None = None) -> None:
        """An embedding field's 3D instances, found in its rendered training rays and kept in the field
        (:mod:`panolift.lift.clusters`). The rays are drawn with ``generator`` (default: the training's
        own, as at the last step; another one leaves the training's random stream untouched, for a look
        at a field mid-training)."""
        thing_mask = thing_mask_of(self.scene.class_set)
        start = time.perf_counter()
        generator = self.generator if generator is None else generator
        clusters = cluster_instances(self.field, self.data, self.config, thing_mask, generator)
        self.field.set_instance_clusters(*clusters)
        log.info(
            "step %d: %d 3D instances (%.1f s)", self.step, clusters[2].shape[0], time.perf_counter() - start
        )

    def fuse_label_votes(self) -> None:
        """Fuse the training labels on the trained surfaces and keep them in the field (:mod:`panolift.lift.votes`;
        ``field.label_votes`` > 0). Its own random stream (seeded by the training's seed) picks the rays
        when not all fit in ``field.label_vote_rays``."""
        start = time.perf_counter()
        field_config = self.config.field
        log.info("step %d: fusing the training labels on the surfaces (label votes)", self.step)
        generator = torch.Generator().manual_seed(self.config.train.seed)
        votes = fuse_label_votes(
            self.field, self.data, self.config.render, field_config.vote_voxels,
            field_config.label_vote_rays, generator,
        )  # fmt: skip
        self.field.set_label_votes(votes.shape, votes.nodes, votes.mass, votes.classes, votes.open_share)
        log.info(
            "step %d: label votes fused on %d of %d lattice nodes, %.1f%% of the rays on no surface (%.1f s)",
            self.step, votes.nodes.shape[0], math.prod(votes.shape), 100.0 * votes.open_share,
            time.perf_counter() - start,
        )  # fmt: skip

    @torch.no_grad()
    def update_occupancy(self) -> None:
        """Recompute the occupancy grid over the current box from the current density."""
        aabb = self.field.aabb
        resolution = resolution_from_voxels(aabb, self.config.render.occupancy_resolution)
        step_size = sampling_domain(self.field, self.config.render, aabb.device).step_size
        grid = compute_occupancy(
            self.field.density, aabb, resolution, step_size, self.config.render.occupancy_threshold
        )
        self.field.set_occupancy(grid.aabb, grid.mask)
        log.debug("occupancy: %.1f%% of %s voxels", 100 * float(grid.mask.float().mean()), resolution)

    def finish(self) -> None:
        """The last step's work: log the per-frame corrections, then fuse the label votes and find the
        instance clusters (from the refined cameras, ``train.refine_cameras``)."""
        if self.exposure is not None:
            log.info("per-frame exposure: %s", self.exposure.summary())
        if self.cameras is not None:
            log.info("camera refinement: %s", self.cameras.summary(self.normalization.scale))
        with self.refined_poses():
            if self.config.field.label_votes > 0:
                self.fuse_label_votes()  # before the clusters: their thing rays are chosen by class
            if self.config.field.instance_embedding:
                self.find_instance_clusters()

    def run(
        self,
        progress: ProgressFn | None = None,
        stop_at: int | None = None,
        checkpoint: CheckpointFn | None = None,
        tuner: ThreadTuner | None = None,
    ) -> None:
        """Train until the configured iterations (or ``stop_at``); ``checkpoint(self)`` every
        ``checkpoint_every`` steps and at the end; ``tuner`` is told every step's duration and picks the
        CPU thread count (:mod:`panolift.lift.threads`)."""
        train = self.config.train
        end = min(train.iterations, stop_at) if stop_at is not None else train.iterations
        self.field.train()
        if self.step < end and self.field.has_instance_clusters:
            self.field.clear_instance_clusters()  # more steps (a longer run resumed): found again at the end
        if self.step < end and self.field.has_label_votes:
            self.field.clear_label_votes()  # the surfaces change: fused again at the end
        start = time.perf_counter() - self.elapsed
        if self.step < end and self.config.loss.matched_depth > 0 and self.matched is None:
            log.info("matching depths between the %d training views", self.data.num_frames)
            self.matched_depths()  # once, counted in the training's time
        while self.step < end:
            step_start = time.perf_counter()
            metrics = self.train_step()
            if tuner is not None:
                tuner.step_done(time.perf_counter() - step_start)
            if self.step % train.log_every == 0 or self.step == 1 or self.step == end:
                metrics.update(step=self.step, time=time.perf_counter() - start)
                self.history.append(metrics)
                if progress is not None:
                    progress(self.step, train.iterations, metrics)
            if self.step == train.iterations:
                self.finish()
            self.elapsed = time.perf_counter() - start
            if checkpoint is not None and (self.step % train.checkpoint_every == 0 or self.step == end):
                checkpoint(self)
        self.field.eval()


__all__ = ["CheckpointFn", "ProgressFn", "Trainer"]
