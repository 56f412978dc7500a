"""Configuration of lifting: field, rendering, losses and training, with presets ``paper``, ``fast``, ``tiny``.

Every field carries a docstring. ``LiftConfig.to_dict`` / ``from_dict`` round-trip through JSON so that a
run folder and each checkpoint describe themselves.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from panolift.errors import OptionError


@dataclass
class FieldConfig:
    """The panoptic radiance field: TensoRF VM grids, colour MLP, semantic and instance heads."""

    grid_resolution_init: int = 128
    """Voxels per side of the initial grid (per-axis counts follow the box's aspect ratio)."""
    grid_resolution_final: int = 192
    """Voxels per side after the last upsampling step."""
    density_components: int = 16
    """VM components per plane/line for density."""
    appearance_components: int = 48
    """VM components per plane/line for appearance."""
    appearance_features: int = 27
    """Appearance features after the linear basis, input of the colour MLP."""
    color_mlp_width: int = 128
    """Hidden width of the colour MLP (two hidden layers)."""
    color_pe_features: int = 2
    """Positional-encoding frequencies on the appearance features."""
    color_pe_view: int = 2
    """Positional-encoding frequencies on the view direction."""
    color_view: bool = True
    """Colour depends on the view direction (TensoRF, the authors). Without it every point has one colour
    for all cameras, so a sheet before a plain wall cannot show each camera what lies behind it: on the
    fogged room 118 the depth error went 0.40 -> 0.33 m at -0.3 dB, on eight fresh rooms that do not fog
    mIoU +0.3, PQ^scene +1.5, PSNR -0.11 dB (medians) and the depth did not move, on the held-out scenes
    +0.1, -0.2, -0.06 dB (benchmarks/SUITE.md, thirty-sixth round), so no preset uses it. The parameters
    are the same either way."""
    color_logit_bound: float = 0.0
    """Hold the colour MLP's logits within +-this bound (0: unbounded, as TensoRF and the authors): beyond it
    the gradients that push a logit further out are dropped and those that pull it back pass at the
    bound's slope (:class:`~panolift.field.tensorf.InwardClamp`). While the density is still a faint fog
    the colour loss pushes every logit the same way (each ray's rendered colour is mostly the background)
    and Adam takes full-size steps on that tiny, consistent gradient: with `quick`'s rates every held-out
    room had its mean logit at -10 to -12.6 around step 50 (one colour everywhere) and came back only once
    the walls formed (steps 70-80); 1.5x the grid's rate or 2x the MLP's took it past -17, where the
    sigmoid's slope is under Adam's epsilon and the colour stays black for good (5 of 16 such runs).
    `fast` and `quick` use 11, about as deep as the healthy runs already go: it brought all five dead
    runs back and left the held-out rooms level; 6 brought them back too but changed the healthy runs'
    first steps and cost up to 7 mIoU on a room (benchmarks/SUITE.md, forty-second round). Any bound >= 6
    leaves the colours within 1/400 of black and white."""
    density_shift: float = -10.0
    """sigma = softplus(feature + density_shift) * distance_scale; the grids start near 0, so this is
    where the density starts. At -10 (TensoRF, the authors, every preset) no training ray is opaque until
    step ~45 (Adam has to grow the grids first) and the colour is pushed towards one colour meanwhile (see
    ``color_logit_bound``); at -5 the walls form by step ~20 and `quick` gained a median +0.1 mIoU, +0.5
    PQ^scene and +0.2 dB on the eight held-out rooms, but lost 4.4-5.9 mIoU on the independent room in
    each of three training seeds (a shift that starts at -5 and comes back to -10 over 100 steps: 1.0-8.3),
    so no preset uses it (benchmarks/SUITE.md, forty-third round)."""
    distance_scale: float = 25.0
    """Scale of density in the authors' code: alpha = 1 - exp(-sigma * delta * distance_scale)."""
    init_scale: float = 0.1
    """Grid initialisation: init_scale * randn."""
    semantic_width: int = 256
    """Hidden width of the semantic MLP."""
    semantic_layers: int = 4
    """Hidden layers of the semantic MLP (xyz -> 256 x4 -> C in the paper)."""
    instance_width: int = 256
    """Hidden width of the instance MLP."""
    instance_layers: int = 3
    """Hidden layers of the instance MLP."""
    head_pe_freqs: int = 0
    """Positional-encoding frequencies on xyz for both heads (0 = plain normalised xyz, as the authors)."""
    head_grid_components: int = 0
    """VM components of a feature grid per head, concatenated to the head's input (0: none, as the
    authors). Sharpens class and instance boundaries in few iterations; it holds no density."""
    head_grid_resolution: int = 64
    """Voxels per side of the head grids (over the same box as the density grid)."""
    instance_grid_resolution: int = 0
    """Voxels per side of the instance head's grid alone (0: ``head_grid_resolution``, both heads alike).
    Measured with `fast` (benchmarks/SUITE.md, twenty-fifth round): 192-voxel head grids for both heads
    merged a thing of tuning seed 1 (PQ^scene -5.7); the semantic grid alone at 192 (this at 128) moved
    mIoU by -3.9 to +2.6 over seven trainings of six rooms (+0.6 summed), within the spread of two
    trainings of one room, so no preset uses it."""
    num_slots: int = 32
    """Surrogate instance ids |J| of the slot head; frames with more 2D instances drop the smallest (with a
    warning). Not used with ``instance_embedding``."""
    instance_embedding: int = 0
    """> 0: the instance head outputs an embedding of this many dimensions instead of a slot distribution,
    trained with a pull/push loss on each image's 2D instances and clustered after training into any number
    of 3D instances (no slot cap; `fast`: 8). 0: slots and the per-image linear assignment (the paper, and
    the `paper` preset)."""
    cluster_radius: float = 1.0
    """Embedding distance within which rendered thing rays are one instance (the mean-shift radius; the
    loss pulls rays within ``loss.embedding_pull`` of their instance's mean and pushes means
    2 ``loss.embedding_push`` apart)."""
    cluster_min_share: float = 5e-4
    """Fewest rendered thing rays, as a share of those sampled, that make an instance cluster; smaller
    clusters join their nearest neighbour."""
    cluster_draws: int = 4
    """Times the mean shift runs (each from its own random seeds) on the rendered thing rays; the draw
    whose instances agree best with the training views' 2D masks is kept (:mod:`panolift.lift.clusters`;
    1: the one draw, as before stop 69)."""
    label_votes: float = 0.0
    """Share of the fused label votes in the semantics (:mod:`panolift.lift.votes`): at the end of
    training the training views' 2D class distributions, weighted by confidence and by each ray's
    rendering weights, are summed on a lattice over the box, and the rendered class distribution at a
    point is (1 - share) x the semantic head's + share x the votes' there (the head alone where no ray
    voted). The votes are what the semantic loss drives each point toward, reached in one pass; the head
    approaches them over the steps, smoothly. 0: the head alone (the paper). Bounded heads only. `fast`
    0.4: on 30 rooms never used for the choice mIoU median +0.4 (-1.0 to +1.7), PQ^scene +0.5; `quick`
    0.6, whose heads have had a quarter of the steps (benchmarks/SUITE.md, thirty-second round)."""
    label_vote_voxels: int = 0
    """Voxels per side of the label votes' lattice (cubic voxels over the box); 0: the head grids'
    (``head_grid_resolution``; 64 instead of `fast`'s 128 moved mIoU by -3.9 to +0.2 in 16 comparisons)."""
    label_vote_rays: int = 1 << 20
    """Most training rays marched for the label votes: all pixels of every training frame up to this
    many, else the same random share of each frame's (on four rooms of 1.4-3 M training pixels 2^20 scored
    within 0.3 points of 2^21, in half the time)."""

    @property
    def vote_voxels(self) -> int:
        """Voxels per side of the label votes' lattice: ``label_vote_voxels``, else the head grids'."""
        return self.label_vote_voxels or self.head_grid_resolution

    @property
    def instance_grid_voxels(self) -> int:
        """Voxels per side of the instance head's grid: ``instance_grid_resolution``, else the head grids'."""
        return self.instance_grid_resolution or self.head_grid_resolution

    @property
    def max_2d_instances(self) -> int:
        """2D instances of a frame the instance loss can use: the slots, or (embedding) any 16-bit id."""
        return self.num_slots if self.instance_embedding == 0 else 4096


@dataclass
class RenderConfig:
    """Ray sampling and volume rendering."""

    step_ratio: float = 0.5
    """Sample step as a fraction of the voxel size (half a voxel in the authors' code)."""
    near: float = 0.05
    """Nearest distance along a ray (normalised units)."""
    near_gradient_distance: float = 0.0
    """Training scales the gradients of a sample's density and colour by min(1, (t / this)^2) (normalised
    units; Philip & Deschaintre 2023): space next to a camera is crossed by far more of its rays than the
    surfaces are, which favours floaters and screens in front of the cameras. It did not remove the
    screen of the suite's seed 0 (benchmarks/SUITE.md), so no preset uses it. 0: no scaling (the
    authors)."""
    occupancy_resolution: int = 128
    """Voxels per side of the occupancy grid used to skip empty space."""
    occupancy_threshold: float = 1e-3
    """A voxel of the occupancy grid is occupied when its alpha (one step) exceeds this."""
    skip_empty: bool = True
    """Skip samples in empty voxels of the occupancy grid (once the trainer has computed one)."""
    leap_empty: bool = True
    """With ``skip_empty``: each ray's march starts where the occupancy grid's clearance (the distance to
    the nearest occupied voxel) first lets it come near one, instead of stepping through the empty space
    in front of the camera one occupancy lookup at a time. The same samples are evaluated (those left out
    are all in empty voxels); the march only does less work."""
    weight_threshold: float = 1e-4
    """Colour and heads are evaluated only on samples whose weight exceeds this (0: on every sample)."""
    max_evaluated_per_ray: int = 0
    """Cap on the samples per ray that colour and heads are evaluated on (the largest weights; 0: no cap).
    Bounds the cost while the density is still a fog, when nearly every sample passes ``weight_threshold``."""
    max_head_samples_per_ray: int = 0
    """Cap on the samples per ray that the semantic and instance heads are evaluated on (the largest
    weights among those evaluated for colour, renormalised like them; 0: the same samples as colour). The
    heads then learn and render the labels of the surface rather than of the fog of samples around it:
    with gradient blocking the geometry trains identically. Chosen for `fast` on the suite's tuning seeds
    (test mIoU / PQ^scene without -> with a cap of 4 of 12, same PSNR): seed 1 76.6 / 70.0 -> 85.1 /
    78.4, seed 15 74.6 / 70.3 -> 74.8 / 67.5, seed 0 19.6 / 12.5 -> 19.5 / 12.7 (benchmarks/SUITE.md). It
    also cuts the heads' share of a step and of a frame."""
    image_samples_per_ray: int = 0
    """Cap on the samples per ray that colour is evaluated on when whole images are rendered (renders,
    evaluation, the viewer; 0: ``max_evaluated_per_ray``). Training needs the wider set to pass the
    density its gradient; a trained surface holds most of its weight in a few samples. Colour on the 4 /
    6 / 8 largest weights instead of 12, 6 test views (labels unchanged in every case): suite seed 1 PSNR
    33.15 -> 33.10 / 33.14 / 33.15 dB (1.42 -> 1.09 / 1.14 / 1.21 s a frame, 1 thread, box shared); the
    demo room 28.29 -> 27.60 / 28.06 / 28.23 dB (0.74 -> 0.57 / 0.62 / 0.66 s, 2 threads). `fast`: 8."""
    image_precision: str = "auto"
    """The precision of the colour MLP and the heads' MLPs when whole images are rendered without
    gradients (renders, evaluation, the viewer; training is always float32): "float32", "bfloat16", or
    "auto": bfloat16 where the device multiplies it natively (a CPU with AMX tiles, a CUDA GPU that
    supports it), else float32. Grids, density, weights and sums stay float32. The demo room's 15
    test views (stop 49's run, `panolift render --precision`): float32 31.160 dB / 91.72 mIoU / 88.87
    PQ^scene, bfloat16 31.158 / 91.74 / 88.90; frames 7% faster on 2 threads, the semantic MLP alone 2.3x
    (SUITE.md, thirtieth round)."""
    stratified_selection: bool = False
    """With the cap, training evaluates a stratified draw along each ray's weights instead of the largest
    weights (rendering always takes the largest): in a fog the largest weights are the nearest samples."""
    termination_threshold: float = 1e-3
    """Early ray termination: stop marching once transmittance drops below this (0: never)."""
    march_segment: int = 64
    """Samples marched at a time between early-termination checks."""
    image_march_segment: int = 0
    """``march_segment`` when whole images are rendered (0: the same). Shorter segments stop rays sooner
    after a wall (suite seed 1, fast, one 192x108 frame: 1.37 M steps looked up for 0.49 M occupied;
    segments of 16: 0.92 -> 0.75 s a frame, 1 thread); in training the extra per-segment operations and
    autograd nodes cost as much as they save (demo room, 2 threads: 105-112 ms a step with 16, 101-110
    with 64, box shared), so training keeps ``march_segment``."""
    background: float = 0.0
    """Colour of rays that leave the box without full opacity."""
    chunk_rays: int = 4096
    """Rays per chunk when rendering whole images."""
    min_segment_share: float = 0.0
    """Rendered images only: a thing segment (class and instance id) of a frame that covers less than this
    share of its pixels takes the class and id of the nearest pixels around it (a speck: a fragment of an
    object, or an instance that wins a handful of pixels at a boundary; each one a false positive of
    PQ^scene). A class that all the frames of a rendered split or trajectory together show on fewer pixels
    than this share of one frame (a stray class: a few pixels of a class the scene may not have, a whole
    class of PQ^scene's mean) is merged into its surroundings the same way. 0: kept (the authors). `fast`:
    1e-3, 28 pixels of a 192x144 frame (benchmarks/SUITE.md, twenty-first and twenty-second rounds)."""
    label_snap_radius: float = 0.0
    """Rendered images only: the labels' segments snap to the edges of the rendered colour, in a joint
    bilateral vote over a window of this share of the image's width on each side (at least one pixel;
    :func:`panolift.render.snap_to_colour`). The colour is fitted to every training pixel, the labels come
    from heads on a coarser lattice and from 2D labels noisiest at the outlines, where most of the lifted
    labels' errors lie (fifty-second round). 0: off (the authors). `fast` and `quick`: 0.0125 (2 pixels at
    160 and 192): mIoU +0.6 to +2.7 on nine of ten held-out scenes (room 14 -0.3), PQ^scene alike
    (benchmarks/SUITE.md, fifty-fourth round)."""
    label_snap_color: float = 0.06
    """The colour scale (sigma, rgb in [0, 1]) of the snap's vote: neighbours this far apart in colour weigh
    exp(-1/2) of a same-coloured one."""
    label_snap_iterations: int = 2
    """Passes of the snap's vote."""
    unlabelled_class_share: float = 0.0
    """Rendered splits of a run with label votes, with ``min_segment_share`` > 0: a class that all the frames
    together show on fewer pixels than this share of one frame, at least half of them on surfaces that no
    training view labelled (no voted node at the pixel's surface point), is stray as well and merged into
    its surroundings: a class the heads guessed where the capture saw nothing (fresh room 177: a floater
    before a floor no training view sees, 72 pixels of `refrigerator` in a room without one). So is one
    with at most a tenth of its pixels on voted surfaces, the rest on unvoted ones or on no surface (the
    haze of a sparse loop's unseen parts: rooms 53 and 57 +6.0 and +3.4 mIoU; fifty-third round). 0: off.
    `fast` and `quick`: 0.05 (1382 pixels of a 192x144 frame; benchmarks/SUITE.md, fifty-first round)."""


@dataclass
class LossConfig:
    """Loss weights, warm-ups and the paper's ablation switches."""

    weight_rgb: float = 1.0
    """lambda_RGB."""
    weight_semantic: float = 1.0
    """lambda_sem."""
    weight_instance: float = 1.0
    """lambda_ins."""
    weight_consistency: float = 1.35
    """lambda_con."""
    embedding_pull: float = 0.5
    """With ``field.instance_embedding``: a thing ray is pulled to its 2D instance's mean embedding when
    farther than this (De Brabandere et al. 2017, delta_v)."""
    embedding_push: float = 1.5
    """... and the means of one image's 2D instances are pushed 2x this apart (delta_d)."""
    embedding_bank: int = 1024
    """With ``field.instance_embedding``: the means of this many recent 2D instances (of earlier batches,
    so of other views) are kept with the class the field renders for them, and each mean of a batch is
    pushed 2 ``embedding_push`` from the kept ones of another class: two objects never seen as two 2D
    instances of one view (a television above a sofa) get apart. 0: one image's push only."""
    embedding_apart: float = 0.0
    """With ``embedding_bank``: a kept mean of the same class is pushed too when its 2D instance's object
    and the batch's lie apart in 3D (rendered ray ends: centres farther than this x the sum of their RMS
    radii), so that touching objects of one class that no view labels as two still part. 0: only kept
    means of another class are pushed (every preset: at 1.0, six held-out scenes moved -2.8 to +1.2
    PQ^scene, two rooms losing to fragments; benchmarks/SUITE.md, thirteenth round)."""
    embedding_push_active: bool = False
    """With ``field.instance_embedding``: the push terms are means over the pairs of means closer than 2
    ``embedding_push`` only, not over all pairs, so that in a cluttered view one close pair is not
    outweighed by the many pairs already apart (:func:`panolift.lift.losses.compute_embedding_loss`).
    Off in every preset: touching objects part more often, but objects the labels split part too
    (tuning clutter-1: 8 things merged instead of 22, 13 split instead of 0; with cluster_radius 1.5
    106 of 132 found instead of 101, PQ^scene level; held-out clutter-2 71 of 150 instead of 75, thing
    PQ^scene 39.7 instead of 47.3: benchmarks/SUITE.md, twenty-third round)."""
    embedding_touching: float = 0.0
    """With ``field.instance_embedding``: each pair of 2D masks that touch in a training image is pushed
    apart with this weight x one mask's pull (:func:`panolift.lift.losses.compute_embedding_loss`), so that
    the majority of the views decides whether two neighbours of one class are one object or two. 0: only
    the all-pairs push (one close pair among the n (n - 1) of a cluttered view). Off in every preset: at
    1.0 touching things part in the embedding (tuning clutter-0: merged 23 -> 17, clutter-1 19 -> 10) but
    things fall in fragments (split 4 -> 10, 3 -> 5); held-out clutter-2 69 of 150 found instead of 77,
    thing PQ^scene 39.8 instead of 53.6 (benchmarks/SUITE.md, thirty-seventh round)."""
    embedding_together: float = 0.0
    """With ``embedding_bank``: a kept mean of the same class whose 2D instance's object lies where the
    batch's does (centres closer than this x the smaller RMS radius) is pulled to it, so that the sides
    of one object seen by different views keep one embedding. 0: no pull across views (every preset: at
    1.0 beside ``embedding_touching`` 1.0 the fragments stayed, tuning clutter-0 8 split, clutter-1 3;
    benchmarks/SUITE.md, thirty-seventh round)."""
    embedding_balanced: bool = True
    """With ``field.instance_embedding``: half of R_I's thing rays are drawn evenly over the frame's 2D
    instances (each instance the same share, whatever its size), so small objects are in every push; they
    serve the instance loss only. Else all are drawn evenly over thing pixels (the paper's R_I)."""
    contrast_reference: float = 0.0
    """When > 0, the colour loss of a scene whose training pixels vary less than this (mean per-channel
    variance) is scaled up by reference / variance (at most 10x): a dim, low-contrast room otherwise gives
    the colour loss a tenth of its usual pull against the regularisers, which then blur the geometry into
    a shell around the cameras. 0: no scaling (the authors)."""
    sharp_frames: float = 0.0
    """When > 0, each training frame's colour loss is weighted by min(1, s / s_ref)^sharp_frames: s its
    sharpness (mean absolute Laplacian), s_ref the median over the nine views whose cameras stand and look
    most alike (``panolift.lift.sharpness``), so that frames a moving camera blurred pull less on the
    colour than sharp views of the same place. 0: every frame alike (the paper)."""
    tv_density: float = 0.0
    """Total-variation weight on the density planes and lines."""
    tv_density_sparse: float = 0.0
    """Extra total-variation weight on the density planes where few training views see
    (:mod:`panolift.lift.view_smoothing`: weight 1 at voxels of the occupancy grid that at most 3 training
    cameras image, 0 at 9 or more), added to ``tv_density`` there. A part of the room that two or three
    views see can be fitted with mush or floaters; one that thirty see keeps its thin and small things.
    At 0.04 within the spread between trainings on eight rooms (benchmarks/SUITE.md, twenty-ninth round).
    0: off."""
    tv_appearance: float = 0.0
    """Total-variation weight on the appearance planes and lines."""
    l1_density: float = 0.0
    """L1 weight on the density planes and lines (TensoRF's sparsity prior): keeps unobserved space, e.g.
    behind the walls of a room, empty so that the box can shrink to the room."""
    distortion: float = 0.0
    """Weight of the distortion loss (mip-NeRF 360) on R_S rays: compact weights, no fog or floaters. It
    is measured in normalised scene units along the ray, so it weighs more in a large room: at 0.01 it
    held clutter-0 (10.6 x 7.9 m) at 62.7 mIoU, at 0.05 it pulled every ray's weight to the cameras
    (rendered depth 0.16 of the truth), at 0.003 or 0 the room reached 67 mIoU; 0 left floaters in three
    rooms that 0.003 keeps out (benchmarks/SUITE.md, ninth round)."""
    distortion_log: bool = False
    """Measure the distortion loss's distances in log depth along the ray (|log t_i - log t_j|, intervals
    log(t_far / t_near)) instead of scene units: a relative depth, so one weight means the same in a 3 m
    and a 10 m room, and weight piled up near the camera costs more rather than less (mip-NeRF 360 uses
    such a normalised space for the same reason). At 0.003 and 0.01 within the spread between trainings
    on four rooms (benchmarks/SUITE.md, twenty-ninth round)."""
    matched_depth: float = 0.0
    """Weight of the matched-depth loss: on ``train.rays_matched`` rays through training pixels whose
    depth was matched between views (:mod:`panolift.lift.stereo`, plane sweep with known poses), the
    share of each ray's weight outside a band around that depth. Needs only the images and poses; it keeps
    the field from explaining a dim, low-contrast room with a screen in front of each camera. 0: off (the
    authors)."""
    exposure_prior: float = 0.1
    """Weight of the L2 prior on the per-frame log gains and offsets (``train.frame_exposure``). At 0.1 a
    steady camera's frames learn gains within 0.2-0.6% of each other (six fresh rooms: PSNR median +0.05
    dB, -0.74 to +0.15), while a camera on automatic exposure (gains over 0.67-1.5x) is followed to about a
    third of its spread, enough to clear the fog (+3.0 to +3.8 dB); 1e-3 (stop 53) fits such a camera's
    colour 0.35-0.5 dB better but let the steady rooms' average exposure drift (room 5: -1.4 dB).
    benchmarks/SUITE.md, thirty-fourth and thirty-fifth rounds."""
    matched_depth_start: float = 0.0
    """The matched-depth loss starts at this fraction of the iterations (at once, no ramp; 0: from the first
    step). Its share of weight before the band is a free-space term, and on the coarse grid of the first
    steps (48 voxels across the frusta's box: 39 cm in fresh room 169) an object standing before a wall is
    a blur that reaches the wall's matched rays around it: the term then clears the object instead of
    sharpening it (169's lamp formed by step 50 and was gone by step 600; with the loss from the first
    upsampling on, 15 cm voxels, it stays). `fast` and `quick`: 0.1333, their first upsampling
    (benchmarks/SUITE.md, forty-ninth round)."""
    matched_band: float = 0.1
    """Half-width of the matched-depth band, relative to the depth (at least two steps of the march)."""
    planarity: float = 0.0
    """Weight of the planarity prior (:mod:`panolift.lift.planarity`): on ``train.rays_planar`` lines of
    three training pixels of one 2D segment with flat colour, the second difference of the rendered inverse
    depth (0 for any plane, whatever its tilt), so that a plain wall is not explained by a sheet or fog
    before it. At 0.02 and 0.1 it left the fogged room 118's depth where it was: the sheet there is itself a
    plane, its edges on image edges (benchmarks/SUITE.md, thirty-sixth round), so no preset uses it. 0: off."""
    planarity_flat: float = 0.03
    """Colour step (in [0, 1]) at which a triplet's planarity weight falls to 1/e: image edges, and the 2D
    segments' edges, switch the prior off."""
    instance_start: float = 0.3
    """The instance loss starts at this fraction of the iterations (authors: epoch 3 of 10)."""
    consistency_start: float = 0.6
    """Segment consistency starts at this fraction of the iterations (authors: epoch 6 of 10)."""
    ramp: float = 0.0
    """The instance and consistency weights rise linearly from 0 over this fraction of the iterations after
    their starts (0: switched on at full weight, as the authors). Switched on at full weight, the
    consistency loss swung the semantic head of the suite's seed 15 (room-sized box) from "toilet" (8 of
    10 training views say so) to "chair" in every view within 25 steps of its start; ramped over 300 steps,
    the toilet stays (benchmarks/SUITE.md, fifth round). Presumably Adam's moments, fitted to the other
    losses by then, let a new loss's first steps move the head by more than the usual step."""
    segment_consistency: bool = True
    """Ablation: use the segment consistency loss."""
    consistency_agreeing: bool = False
    """Segment consistency only on the segments whose majority class under the model is also their 2D
    labels' class; the others are left to the semantic loss. False: every segment (the authors), so that
    an object the field renders as something else (a thin chair half-transparent before its wall) is
    pushed to that in every segment of it, more strongly than its labels pull it back. On the suite's
    tuning seed 0 the chair (a thin chair before a wall; the 2D labels call it chair in 47% of its training
    pixels) rendered as wall on 98% of them with the authors' loss, test IoU 0; with this, test IoU 49.5
    and the room's mIoU 62.7 -> 66.9 (benchmarks/SUITE.md, sixteenth round)."""
    consistency_margin: float = 0.0
    """With ``consistency_agreeing``: a disputed segment still counts (pulled to the model's class) when the
    model's rendered votes for its class are at least this many times its votes for the labels' class, so
    an object the model has confidently right against a plurality of wrong labels (a refrigerator labelled
    cabinet in most views) is still made consistent. 0: disputed segments never count (``fast``). At 2 the
    held-out seeds 17, 23 and the independent room gain 2.9-4.6 mIoU (their flips of the sixteenth round
    undone), but seed 20's sink and seed 14's television go back to their neighbours' class and seed 14
    falls below its labels + 10 at one of two training seeds (benchmarks/SUITE.md, seventeenth round)."""
    min_class_views: int = 1
    """A class is lifted only when the 2D labels make it the most likely class of some pixel in at least
    this many training frames; the pixels of a class that fewer frames show carry no class, instance or
    consistency target (confidence 0; their colour is fitted as before). A class that one view alone
    shows has no second view to agree with: in 34 suite rooms 22 classes were shown by one training view,
    19 of them classes the room does not have; rays drawn along the outline of one (seed 41's otherprop,
    492 pixels of one frame) made it a class of the rendered test views (-10 mIoU, undone by this: +8.5
    and +9.7 at two training seeds). The price: a class that truly is in one training view only is lost
    (fresh seed 53's counter, a sparse 61-frame capture: -4.1 mIoU); elsewhere within +-1.6. 1: every
    class of the labels (the paper). `fast`: 2 (benchmarks/SUITE.md, twenty-seventh round)."""
    use_tta: bool = True
    """Ablation: TTA labels and confidences (False: labels and confidences without TTA)."""
    bounded: bool = True
    """Ablation: render probabilities (bounded field); False renders logits."""
    gradient_blocking: bool = True
    """Ablation: detach rendering weights for the semantic and instance branches."""


@dataclass
class TrainConfig:
    """Optimisation, batching and bookkeeping."""

    iterations: int = 450_000
    """Training iterations."""
    head_steps: int = 0
    """> 0: the last this many of the iterations fit the semantic and instance heads alone, on the frozen
    geometry, and the iterations before them fit density and colour alone. With gradient blocking the
    labels' losses never reach density or colour, so this is the same method as training all at every
    step, minus the work a joint step does for the other half: no heads in the geometry's steps, no density
    gradients, colour or regularisers in the heads' steps; and the heads learn the labels on the final
    surfaces rather than on a geometry still forming. The labels' warm-ups (``loss.instance_start``,
    ``consistency_start``, ``ramp``) and every learning-rate decay then count within each phase.
    0: everything at every step (the authors; every preset). Measured with `fast` (3000 steps of geometry
    + 1000 of heads against 3000 joint; benchmarks/SUITE.md, thirteenth round): a step of the geometry
    costs 0.65 of a joint step and one of the heads 0.45 (a heads' step marches its rays again, where a
    joint step's labels ride on the colour's march), so training is 13-15% shorter for two one-thread
    trainings side by side, and 246 s against 364 s on the idle demo room (two threads; labels as good or
    better there); the labels see fewer rays in all, and small objects' classes came out less stable (room
    6's bag kept in 1 of 3 variants), clutter-0's thing PQ^scene fell 37.0 -> 27.2 and three of four
    held-out rooms lost 1.9-5.3 mIoU, so no preset uses it. With ``head_cache`` (stop 35) a heads step
    costs half a marched one once its pixels are cached; the geometry's 0.65 of a joint step remains
    (benchmarks/SUITE.md, eighteenth round)."""
    head_cache: bool = True
    """In a head phase: march each training pixel's ray once, keep the samples its heads are summed over
    and their weights, and render the heads on those from then on (:mod:`panolift.lift.head_cache`; the
    geometry no longer changes, so they are the same at every step): a head step is then the heads alone.
    Only for frames held in memory and a cache of at most 2 GiB (else every head step marches). False:
    every head step marches its rays (as measured in the thirteenth round)."""
    rays_scene: int = 4096
    """|R_S|: random rays over all training frames (colour + semantics)."""
    rays_image: int = 1024
    """|R_I|: rays of one training frame, grouped by segment (instances + consistency)."""
    edge_rays: float = 0.0
    """Share of R_S drawn from the pixels on (or next to) an edge of the 2D segments instead of all pixels
    (frames held in memory; a streamed training draws all uniformly): silhouettes, thin parts and small
    objects get more rays than their area. 0: uniform, as the paper."""
    rays_matched: int = 256
    """Rays a step through pixels of matched depth (used when ``loss.matched_depth`` > 0)."""
    rays_planar: int = 128
    """Lines of three pixels a step for the planarity prior (used when ``loss.planarity`` > 0; 3 rays each,
    weights only), spaced 1 to ``planar_step`` pixels. Frames held in memory: a streamed training goes
    without the prior."""
    planar_step: int = 4
    """Largest spacing of a planarity triplet's pixels, at the working size."""
    random_background: bool = False
    """Composite each training ray over a random colour instead of the fixed background: a surface must
    then be opaque to reproduce its pixels, where over black a half-transparent wall with brighter colours
    fits as well (walls at 60% opacity, depth maps at 60% of the true depth). Every pixel of a room is
    opaque."""
    frame_exposure: bool = False
    """Learn a colour gain and offset per training frame (per channel: auto exposure and white balance) that
    the colour loss applies to the rendered colour of that frame's rays (:mod:`panolift.lift.exposure`),
    instead of leaving the field to explain frames that disagree in brightness with floaters and fog.
    Renders use the field's colour (the frames' average exposure). On held-out rooms filmed with gains of
    0.67-1.5x it undoes the fog (room 5: depth error 0.35 -> 0.13 m, colour +6 dB); with a steady camera
    and the prior at 0.1 the gains stay within a fraction of a percent (benchmarks/SUITE.md, thirty-fourth
    and thirty-fifth rounds). False here and in `paper` (every frame as recorded, as the authors); True in
    `fast` and `quick` since stop 54 (``--train.no-frame-exposure`` turns it off)."""
    lr_exposure: float = 5e-3
    """Adam learning rate of the per-frame gains and offsets (``frame_exposure``)."""
    refine_cameras: bool = False
    """Learn a small rotation and shift of each training camera from the colour loss
    (:mod:`panolift.lift.cameras`): for poses from structure from motion, whose errors of a fraction of
    a degree blur the field. The label votes and instance clusters use the refined cameras; test views
    are rendered from the scene's poses. Off in every preset: exact cameras (the synth's) gain nothing."""
    lr_cameras: float = 1e-4
    """Adam learning rate of the cameras' rotations (``refine_cameras``; radians), decaying with the
    geometry's."""
    lr_camera_shift: float = 1e-5
    """Adam learning rate of the cameras' shifts (``refine_cameras``; normalised units)."""
    cameras_start: float = 0.1
    """Fraction of the iterations before the cameras move (``refine_cameras``): the walls form first, a
    fog has no edges to align."""
    orient_world: bool = False
    """Before a new training's first step, turn the field's axes onto the room when it stands more than 5
    degrees off them (up from the cameras, the walls from the depths matched between views;
    :meth:`panolift.lift.trainer.Trainer.orient_world`): the grids are axis-aligned, and a room turned 37
    degrees lost 1.3 dB. Renders, exports and edits stay in the scene's world. Off in `paper` (the
    authors' world as given) and `tiny`; on in `fast` and `quick` (rooms already upright and wall-aligned,
    as the synth's and imported captures, are not turned)."""
    lr_grid: float = 1e-2
    """Adam learning rate of the TensoRF planes and lines."""
    lr_mlp: float = 5e-4
    """Adam learning rate of the colour and semantic MLPs and the appearance basis."""
    lr_instance: float = 5e-4
    """Adam learning rate of the instance MLP (its own optimizer, as the authors)."""
    lr_decay: float = 1.0
    """Learning rate multiplier reached at the last iteration (exponential; 1 = no decay, as the authors)."""
    lr_decay_geometry: float = 0.0
    """The same for density and colour alone (their grids, the appearance basis and the colour MLP; the
    semantic and instance heads keep ``lr_decay``; 0: ``lr_decay`` for all). The geometry of a large,
    cluttered room is still forming when a decay to 0.1 has slowed it (the fog of the clutter rooms), while
    the labels' heads fit noisy labels better at the lower final rate (benchmarks/SUITE.md, eighth round)."""
    upsample_steps: tuple[int, ...] = (2000, 3000, 4000, 5500, 7000)
    """Iterations at which the grid grows (log-spaced from init to final resolution)."""
    occupancy_steps: tuple[int, ...] = (2000, 4000, 6000, 8000, 10000)
    """Iterations at which the occupancy mask is recomputed."""
    shrink_step: int = 2000
    """Iteration at which the box shrinks to the occupied region (-1: never)."""
    box_from_matches: float = 0.0
    """At the first grid upsampling, move the grids to the box of the depths matched between views (their
    points' 0.5% and 99.5% quantiles per axis, with the cameras), grown on every side by this share of its
    largest side and clipped to the box (0: the box of the cameras' frusta until ``shrink_step``, as the
    authors). The frusta's box is about twice a room's size along the floor and three to four times its
    height, so until the shrink the grids spend most voxels on space no camera sees; the walls must form
    first (in a box fitted from the first step they formed 25-250 steps later, or not at all), which they
    have by the first upsampling. Until the shrink the march keeps the step the frusta's box would have
    had (:attr:`Trainer.march_box`): the finer voxels come at no extra samples (with finer steps too, `fast`
    took 6% more time for the same labels). `fast` and `quick` use 0.25: on the eight held-out rooms PSNR
    up in every one (median +0.30 dB), labels level, the same seconds per step (benchmarks/SUITE.md,
    thirty-ninth and fortieth rounds)."""
    min_opaque_fraction: float = 0.0
    """Occupancy updates and the shrink wait until this fraction of training rays is opaque (0: never wait,
    as the authors): a grid computed from an early fog marks unformed walls empty for good."""
    shrink_to_reached: bool = False
    """Shrink the box to the occupied voxels that light from the training cameras reaches (transmittance
    still >= 0.1; 99.6% of random training rays' farthest such points, plus three voxels), rather than to
    every occupied voxel (the authors): density left behind the walls, which no view sees and no loss
    clears, then no longer keeps the box at its initial size, and the grids' voxels stay fine. On the
    suite's rooms the authors' shrink keeps the box at 2 x 2 x ~1 normalised units around a room of
    ~0.5 x 0.6 x 0.4 (seed 1), i.e. a quarter of the voxels along each axis. `fast` shrinks so at step 1200
    of 3000, once the walls have formed (with ``loss.ramp``; benchmarks/SUITE.md, fourth and fifth rounds):
    PSNR rose on four of the five tuning rooms run (+0.6 to +2.7 dB) and on held-out seed 14 (25.6 -> 28.3
    dB). A shrink early in training, or on a room the field has explained with a screen in front of the
    cameras (seed 0: 28.9 -> 27.4 dB, the labels fail either way), fits the box to the wrong surfaces; the
    no-ground-truth guard reports the screen."""
    floor_from_matches: bool = False
    """At the shrink, raise the box's bottom to 5 cm under the floor, whose height comes from the matched
    depths of pixels the training labels call floor (the densest 4 cm window of their heights; needs ``orient_world``'s
    upright world). A floor that reflects like lacquer or polished stone otherwise gets the mirrored room
    as geometry under it: on rooms with a strong coat (F0 0.15-0.3) the share of floor pixels more than 15%
    off their depth went 30.6 -> 4.2% (216) and 36.6 -> 2.9% (held-out 219), labels level or up; on matte
    rooms mIoU +0.3, PSNR -0.01 dB at the median (benchmarks/SUITE.md, fifty-fifth round). On in `fast`
    and `quick`; off in `paper` and `tiny`, and for a capture that spans floors at different heights (a
    sunken room, stairs: only the densest floor is kept), ``--train.no-floor-from-matches``."""
    max_depth: float = 5.0
    """Frusta depth (world units) fitted into the unit sphere by the scene normalisation."""
    image_width: int = 0
    """Working image width (0: the scene's native size; the height follows the aspect ratio)."""
    max_memory: float = 0.0
    """GiB that the training frames' targets may take in memory (15 bytes a pixel; 0: a quarter of the
    machine's memory). Above it they stream from disk through a working set of frames that rotates (R_S
    from its frames, R_I from one), so that a scene of any size trains in bounded memory."""
    checkpoint_every: int = 5000
    """Write a checkpoint every this many iterations (and at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk (older ones are removed)."""
    log_every: int = 50
    """Report losses to the progress callback every this many iterations."""
    seed: int = 0
    """Random seed (parameters, batches, jitter)."""

    def rescheduled(self, iterations: int) -> TrainConfig:
        """This schedule over ``iterations`` steps: every event counted in steps (grid upsampling,
        occupancy updates, the shrink, a head phase) at the same fraction of training as before, but no
        grid event earlier than the schedule's first one (or its own step, if that comes first): the
        first steps form the geometry, and they take as many steps in a short training as in a long one
        (an occupancy grid computed at step 27 of 800 marked a room empty before any wall had formed, and
        no gradient brought it back; SUITE.md, thirty-first round). The labels' warm-ups and the
        learning-rate decays are fractions of the iterations already; the checkpoint spacing is kept.
        `panolift train --preset fast|quick --train.iterations N` trains the preset's schedule so (an
        explicit --train.upsample-steps etc. still wins)."""
        if not isinstance(iterations, int) or iterations < 1:
            raise OptionError(f"--train.iterations {iterations}: must be a whole number >= 1")
        scale = iterations / self.iterations
        events = [s for s in (*self.upsample_steps, *self.occupancy_steps, self.shrink_step) if s > 0]
        first = min(events, default=0)

        def at(step: int) -> int:
            return step if step <= 0 else max(1, round(step * scale), min(step, first))

        return dataclasses.replace(
            self,
            iterations=iterations,
            upsample_steps=tuple(sorted({at(s) for s in self.upsample_steps})),
            occupancy_steps=tuple(sorted({at(s) for s in self.occupancy_steps})),
            shrink_step=at(self.shrink_step),
            head_steps=max(1, round(self.head_steps * scale)) if self.head_steps > 0 else 0,
        )


@dataclass
class LiftConfig:
    """Everything that defines a lifting run."""

    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    preset: str = "paper"
    """Name of the preset this configuration started from (informational)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: dict) -> LiftConfig:
        """The configuration in ``data`` (as written by :meth:`to_dict`). Unknown keys (from a newer
        version) are ignored; a value of the wrong type raises ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"a configuration is a JSON object, got {type(data).__name__}")

        def build(cls, group: str):
            values = data.get(group, {})
            if not isinstance(values, dict):
                raise ValueError(f"config '{group}' must be an object, got {type(values).__name__}")
            defaults = cls()
            kwargs = {}
            for f in dataclasses.fields(cls):
                if f.name in values:
                    kwargs[f.name] = checked_value(
                        f"{group}.{f.name}", values[f.name], getattr(defaults, f.name)
                    )
            return cls(**kwargs)

        return LiftConfig(
            field=build(FieldConfig, "field"),
            render=build(RenderConfig, "render"),
            loss=build(LossConfig, "loss"),
            train=build(TrainConfig, "train"),
            preset=str(data.get("preset", "custom")),
        )


def checked_value(name: str, value, default):
    """``value`` in the type of ``default`` (bool, int, float, str or a tuple of ints), else ValueError."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"config field {name}: expected {type(default).__name__}, got {value!r}")
    return value


@dataclass
class RegionConfig:
    """How the 3D instances of a trained field are found as voxel regions (editing, `panolift info RUN`).

    Edit lists written before ``visibility_rays`` and ``min_component_fraction`` existed read them with
    their defaults, and ``split_pieces`` as False (their ids stay those they were written for)."""

    resolution: int = 64
    """Voxels per axis of the grid that finds instance regions (over the field's box)."""
    density_threshold: float = 0.0
    """A voxel is occupied when its density (field units) reaches this; 0 = half the density at which the
    training views' rays reach transmittance 1/2 (measured on the run; kept in an edited run)."""
    dilation: int = 1
    """Voxels added around an instance's region (covers samples on its surface)."""
    visibility_rays: int = 8192
    """Training-view rays that find the voxels the views saw; an unseen occupied voxel (an object's inside)
    takes the id of the nearest seen one. 0 = the field's ids everywhere."""
    min_component_fraction: float = 0.5
    """Without ``split_pieces``, with visibility: an instance keeps the connected pieces with at least this
    share of the visible voxels of its largest piece (the rest: floaters). 0 = keep all."""
    split_pieces: bool | None = None
    """Each slot's voxels are cut into pieces (connected, bridged over gaps of up to 2 x ``piece_bridge``
    voxels) and every piece big enough is a 3D instance of its own (the biggest keeps the slot's id, the
    others get ids from 32768 up): objects apart from each other that share a slot stop being one
    instance. False: one instance per slot (the paper). None (default): by the field, True for a slot
    field, False for an instance embedding, whose clusters are already linked into objects across the
    views, so that its pieces are fragments of one object (a bed cut in two, a chair in two: PQ^scene
    +3.5 on held-out seed 2, +1.9 on fresh seed 25, nothing lower in 18 rooms; benchmarks/SUITE.md,
    twentieth round). Edit lists written before this field existed read it as False."""
    min_piece_voxels: int = 4
    """With ``split_pieces``: the visible voxels a piece other than the biggest needs to be an instance
    (fewer: a floater, dropped)."""
    min_piece_fraction: float = 0.3
    """With ``split_pieces``: the share of the visible voxels of the slot's biggest piece that another
    piece needs to be an instance (0.1 found 4 more of clutter-0's 125 things but added fragments that
    cost up to 0.7 PQ^scene in rooms; benchmarks/SUITE.md, sixth round)."""
    piece_bridge: int = 1
    """With ``split_pieces``: parts of a slot closer than 2 x this many voxels are one piece (one object
    cut by a thin or unseen part stays whole)."""


def paper_config() -> LiftConfig:
    """The authors' settings (450k iterations, 128^3 -> 192^3 grids, 4096 + 1024 rays)."""
    return LiftConfig(preset="paper")


def fast_config() -> LiftConfig:
    """The default: small grids and MLPs tuned to converge in minutes on a small CPU (3000 steps)."""
    return LiftConfig(
        field=FieldConfig(
            grid_resolution_init=48,
            grid_resolution_final=128,  # with step_ratio 0.93 (same world step as 96 at 0.7): PSNR up in all 18 rooms (SUITE.md, twentieth round)
            density_components=8,
            appearance_components=12,
            appearance_features=16,
            color_mlp_width=64,
            color_logit_bound=11.0,  # a colour pushed to black by the early fog comes back (SUITE.md, forty-second round)
            semantic_width=96,
            semantic_layers=3,
            instance_width=96,
            instance_layers=2,
            head_pe_freqs=2,
            head_grid_components=8,
            head_grid_resolution=128,  # 64 lost small objects to their neighbours (SUITE.md, sixth round)
            instance_embedding=8,  # no slot cap; PQ^scene up on 8 of 9 held-out rooms (SUITE.md, twelfth round)
            label_votes=0.4,  # the training labels fused on the trained surfaces (SUITE.md, thirty-second round)
        ),
        render=RenderConfig(
            occupancy_resolution=64,
            step_ratio=0.93,  # x the 128-voxel size: the step of 96 voxels at 0.7, so no more samples per ray
            chunk_rays=8192,  # frames 6% faster than 4096 on 2 threads (SUITE.md, thirtieth round)
            max_evaluated_per_ray=12,
            max_head_samples_per_ray=4,  # labels fitted at the surface: sharper and cheaper (SUITE.md)
            image_samples_per_ray=8,  # colour of whole images from the 8 largest weights of 12
            image_march_segment=16,  # whole images check early termination every 16 steps
            min_segment_share=1e-3,  # specks of things merge into their surroundings (SUITE.md, twenty-first round)
            unlabelled_class_share=0.05,  # and classes guessed where no view labelled (SUITE.md, fifty-first round)
            label_snap_radius=0.0125,  # labels snap to the rendered colour's edges (SUITE.md, fifty-fourth round)
        ),
        loss=LossConfig(
            tv_density=0.002,  # sharper outlines: mIoU up in 9 of 9 tuning rooms, level or up in 9 held out (SUITE.md, fifty-second round)
            tv_appearance=0.01,
            l1_density=2e-4,
            distortion=0.003,  # 0.01 pulled large rooms' weights to the cameras (SUITE.md, ninth round)
            matched_depth=0.1,  # no screen before the cameras in dim rooms; depth and PQ up (SUITE.md, fifteenth round)
            matched_depth_start=0.1333,  # from the first upsampling: objects before walls keep their density (SUITE.md, forty-ninth round)
            instance_start=0.25,
            consistency_start=0.5,
            ramp=0.1,  # instance and consistency weights rise over 300 steps (SUITE.md, fifth round)
            consistency_agreeing=True,  # thin objects before walls keep their class (SUITE.md, sixteenth round)
            min_class_views=2,  # a class of one view is a label flip (SUITE.md, twenty-seventh round)
        ),
        train=TrainConfig(
            iterations=3000,
            rays_scene=1024,
            rays_image=512,
            edge_rays=0.3,  # silhouettes, thin parts and small objects: mIoU +3 on held-out rooms (SUITE.md, twenty-sixth round)
            random_background=True,  # opaque walls: depth and PSNR on rooms the preset was not tuned on
            frame_exposure=True,  # phones and video set exposure per frame: no fog from it (SUITE.md, thirty-fifth round)
            lr_grid=2e-2,
            lr_mlp=2e-3,
            lr_instance=2e-3,
            lr_decay=0.1,
            lr_decay_geometry=0.5,  # large rooms' geometry still forming at 0.1 (SUITE.md, eighth and ninth rounds)
            upsample_steps=(400, 800, 1200),
            occupancy_steps=(100, 200, 400, 800, 1200, 1600, 2000),
            shrink_step=1200,  # once the walls have formed: to the region the cameras' light reaches
            shrink_to_reached=True,
            floor_from_matches=True,  # a mirror-like floor's reflection has nowhere to go (SUITE.md, fifty-fifth round)
            box_from_matches=0.25,  # the room's box from the first upsampling: PSNR up in all held-out rooms (SUITE.md, fortieth round)
            orient_world=True,  # a room standing turned in its world is turned onto the axes (SUITE.md, forty-seventh round)
            checkpoint_every=500,
            log_every=25,
        ),
        preset="fast",
    )


QUICK_ITERATIONS = 800
"""`quick`'s iterations: `fast`'s schedule compressed to 800 of its 3000 steps."""


def quick_config(iterations: int = QUICK_ITERATIONS) -> LiftConfig:
    """`fast` in about a quarter of its time: its grids, losses and schedule over ``iterations`` steps
    (:meth:`TrainConfig.rescheduled`), with the labels' heads decaying their learning rate to 0.3 instead
    of 0.1 (they get a quarter of the updates). On nine fresh suite rooms it beats the `fast` of c9fb554
    (issue 16's reference) in every metric in 4.3-6.7x less time (the demo room 4.96x); against today's
    `fast` it gave up a median 1.1 dB and 1.0 mIoU, up to 10 on rooms with thin things against walls
    (benchmarks/SUITE.md, thirty-first round). Since stop 51 0.6 of its classes come from the label votes
    (`fast`: 0.4): on those fourteen rooms, which chose the share, mIoU median +1.8 and PQ^scene +3.2 over
    its head alone, level with stop 49's `fast` in median mIoU (still -7 on two rooms; thirty-second
    round)."""
    config = fast_config()
    config.train = config.train.rescheduled(iterations)
    config.train.lr_decay = 0.3
    config.field.label_votes = 0.6  # its heads have had fewer steps: the votes weigh more
    # `fast`'s 0.002 density smoothing gave its 800 steps -0.03 to -0.25 dB (SUITE.md, fifty-second round)
    config.loss.tv_density = 0.01
    config.preset = "quick"
    return config


def tiny_config() -> LiftConfig:
    """For tests: tiny grids and MLPs, a few hundred iterations on the tiny scene."""
    return LiftConfig(
        field=FieldConfig(
            grid_resolution_init=24,
            grid_resolution_final=32,
            density_components=4,
            appearance_components=4,
            appearance_features=8,
            color_mlp_width=32,
            color_pe_features=0,
            color_pe_view=0,
            semantic_width=48,
            semantic_layers=2,
            instance_width=48,
            instance_layers=2,
            head_pe_freqs=2,
            head_grid_components=4,
            head_grid_resolution=24,
            num_slots=16,
        ),
        render=RenderConfig(
            occupancy_resolution=32, step_ratio=1.0, chunk_rays=4096, max_evaluated_per_ray=8
        ),
        loss=LossConfig(tv_density=0.05, tv_appearance=0.01, instance_start=0.3, consistency_start=0.5),
        train=TrainConfig(
            iterations=600,
            rays_scene=512,
            rays_image=256,
            lr_grid=3e-2,
            lr_mlp=3e-3,
            lr_instance=3e-3,
            lr_decay=0.3,
            upsample_steps=(300,),
            occupancy_steps=(80, 160, 320),
            shrink_step=160,
            checkpoint_every=200,
            log_every=10,
        ),
        preset="tiny",
    )


PRESETS = {"paper": paper_config, "fast": fast_config, "quick": quick_config, "tiny": tiny_config}

RESCHEDULED_PRESETS = ("fast", "quick")
"""Presets whose step schedule is written for their length, so that another ``--train.iterations``
compresses or stretches it (:meth:`TrainConfig.rescheduled`). The others keep their events where they are:
`paper`'s, as the authors', all fall in its first 10 000 of 450 000 steps whatever the length; `tiny`'s
are the tests'."""


def get_preset(name: str, iterations: int | None = None) -> LiftConfig:
    """A fresh configuration for preset ``name`` (paper, fast, quick or tiny), over ``iterations`` steps
    when given (with the schedule of a preset of ``RESCHEDULED_PRESETS`` rescheduled to them)."""
    if name not in PRESETS:
        raise OptionError(f"--preset {name}: unknown preset, choose one of {', '.join(sorted(PRESETS))}")
    if iterations is not None and name == "quick":
        return quick_config(iterations)  # fast's schedule over that many steps (not 800's, compressed again)
    config = PRESETS[name]()
    if iterations is not None and iterations != config.train.iterations:
        if name in RESCHEDULED_PRESETS:
            config.train = config.train.rescheduled(iterations)
        else:
            config.train.iterations = iterations
    return config


__all__ = [
    "PRESETS",
    "RESCHEDULED_PRESETS",
    "RegionConfig",
    "FieldConfig",
    "LiftConfig",
    "LossConfig",
    "RenderConfig",
    "TrainConfig",
    "fast_config",
    "get_preset",
    "quick_config",
    "paper_config",
    "tiny_config",
]
