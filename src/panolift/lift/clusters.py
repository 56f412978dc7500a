"""3D instances of an embedding field: clusters of its rendered instance embedding, found once after training.

An embedding field (``FieldConfig.instance_embedding``) is trained so that the rays of one 2D instance
gather and those of different 2D instances of an image lie apart
(:func:`~panolift.lift.losses.compute_embedding_loss`). Ids that hold across views come from clustering
the embedding over many views at once:

1. render random training rays (semantics and the raw embedding); keep the opaque rays whose class (void
   left out) is a thing class;
2. greedy mean shift (:func:`mean_shift_centres`): from a random unclaimed ray, move a window of
   ``cluster_radius`` to the mean of the rays inside until it settles; a centre that gathers at least
   ``cluster_min_share`` of the rays, and is not within half the radius of one found before, is a
   cluster; its rays are claimed; repeat until too few are left;
3. every ray goes to its nearest centre; clusters left with fewer rays than the minimum are dropped (their
   rays join their nearest neighbour's);
4. clusters of one class that the same 2D masks keep spanning, or whose rays lie mostly in one mask in
   the views that see them both, are one object (:func:`link_clusters`, :func:`main_mask_votes`): a
   large object whose embedding drifts over its surface is one instance with several centres;
   an instance whose rays lie mostly in the 2D masks of one bigger instance of its class, in several
   views, is a fragment of it and joins it (:func:`absorb_fragments`: a piece too small for the masks
   to span it often enough, e.g. a chair's leg or a sink's rim);
5. steps 2-4 run ``field.cluster_draws`` times from different random seeds (and samples of the rays),
   and the draw whose instances agree best with the 2D masks of the rays' own views is kept
   (:func:`mask_agreement`): the greedy mean shift's seeds decide where an object's centres land, and a
   draw that cuts an object in pieces or joins two disagrees with the views that show it whole or apart;
6. each instance keeps a class prior: the vote of the 2D labels of all its rays, sharpened
   (:func:`label_class_prior`), that :func:`~panolift.render.compute_panoptic_ids` weighs against each
   pixel's own classes: where the semantic head wavers between two plausible classes over one object,
   or paints a part of it in the class that only the views of that part voted for, the object's class
   wins.

The field keeps the centres, the instance of each and the class priors
(:meth:`~panolift.field.PanopticField.set_instance_clusters`) and from then on gives a distribution over
the instances in place of slots. Clustering takes seconds: at most 2^17 rays are rendered (once), and each
draw's mean shift runs on at most 40 000 of them.
"""

from __future__ import annotations

import logging

import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from panolift.config import LiftConfig
from panolift.field import PanopticField
from panolift.render import render_rays

from .batching import TrainingData, sample_scene_batch

log = logging.getLogger(__name__)

MEAN_SHIFT_ITERATIONS = 6
MAX_CLUSTERED_RAYS = 40_000
LINK_MIN_RAYS = 8
LINK_MIN_SHARE = 0.3
LINK_MIN_VOTES = 3
LINK_APART_FACTOR = 2.0
ABSORB_SHARE = 0.6
ABSORB_MIN_FRAMES = 3
ABSORB_MASK_MIN_RAYS = 3
CLASS_PURITY = 2 / 3
LABEL_PRIOR_POWER = 16.0


def mean_shift_centres(
    x: torch.Tensor, radius: float, min_count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n, D) points -> (K, D) centres of the dense groups: greedy flat-kernel mean shift (module docstring,
    step 2). A window that settles with fewer than ``min_count`` unclaimed points is no centre. (0, D) when
    ``x`` is empty."""
    free = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    centres = []
    while int(free.sum()) >= max(min_count, 1):  # fewer unclaimed points can make no centre
        candidates = free.nonzero()[:, 0]
        pick = torch.randint(candidates.shape[0], (1,), generator=generator, device="cpu")
        seed = int(candidates[int(pick)])
        centre = x[seed]
        for _ in range(MEAN_SHIFT_ITERATIONS):
            inside = (x - centre).norm(dim=1) < radius
            if not bool(inside.any()):
                break
            centre = x[inside].mean(dim=0)
        inside = (x - centre).norm(dim=1) < radius
        known = any(float((centre - c).norm()) < 0.5 * radius for c in centres)  # a mode found before
        if int((inside & free).sum()) >= min_count and not known:
            centres.append(centre)
        free &= ~inside
        free[seed] = False
    return torch.stack(centres) if centres else x.new_zeros(0, x.shape[1])


def assign_to_centres(
    x: torch.Tensor, centres: torch.Tensor, min_count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres kept, (n,) index of each point's nearest kept centre): centres with fewer than ``min_count``
    nearest points are dropped and their points go to the nearest of the others (step 3)."""
    nearest = torch.cdist(x, centres).argmin(dim=1)
    big = torch.bincount(nearest, minlength=centres.shape[0]) >= min_count
    if bool(big.any()) and not bool(big.all()):
        centres = centres[big]
        nearest = torch.cdist(x, centres).argmin(dim=1)
    return centres, nearest


def class_distribution(
    labels: torch.Tensor, classes: torch.Tensor, num_clusters: int, num_classes: int
) -> torch.Tensor:
    """(num_clusters, num_classes) share of each class among each cluster's points (``labels`` (n,)
    cluster, ``classes`` (n,)); a row of zeros for a cluster without points."""
    votes = torch.zeros(num_clusters, num_classes, device=labels.device)
    votes.index_put_((labels, classes), torch.ones_like(labels, dtype=votes.dtype), accumulate=True)
    return votes / votes.sum(dim=1, keepdim=True).clamp_min(1)


def label_class_prior(
    instance: torch.Tensor,  # (n,) instance of each ray
    probability: torch.Tensor,  # (n, num_classes) each ray's 2D label distribution
    confidence: torch.Tensor,  # (n,) each ray's label confidence (0: unlabelled)
    head_prior: torch.Tensor,  # (G, num_classes) class distribution of each instance's rendered classes
    thing_mask: torch.Tensor,  # (num_classes,) bool
    power: float | None = None,
) -> torch.Tensor:
    """(G, num_classes) each instance's class prior from the 2D labels of its rays: the confidence-weighted
    label distributions summed over the instance's rays, over the thing classes, raised to ``power``
    (default ``LABEL_PRIOR_POWER``) and normalised: at power 16 a vote of 55 / 45 for sofa over chair is
    0.96 / 0.04, the object's class unless the head is surer still. An instance without labelled rays on
    a thing class keeps ``head_prior``.

    The semantic head fits each point's labels; where the views that see one part of an object call it a
    chair and those that see another part a sofa, the head paints the object in two classes however the
    whole object's labels vote. The instance gathers all of its rays, so its labels are the object's vote
    (what :func:`panolift.evaluate.ceiling.vote_ceiling` gives each true object), and the power lets a
    clear vote outweigh a head that is sure of the other class on part of the object (tuning seed 7's
    sofa; benchmarks/SUITE.md, twenty-fourth round)."""
    power = LABEL_PRIOR_POWER if power is None else power
    num_instances, num_classes = head_prior.shape
    votes = torch.zeros(num_instances, num_classes, dtype=torch.float32)
    weighted = probability.float().cpu() * confidence.float().cpu()[:, None]
    votes.index_add_(0, instance.cpu(), weighted)
    votes = votes * thing_mask.cpu().float()[None]
    total = votes.sum(dim=1, keepdim=True)
    share = votes / total.clamp_min(1e-12)
    sharp = share**power
    sharp = sharp / sharp.sum(dim=1, keepdim=True).clamp_min(1e-30)
    has_votes = total[:, 0] > 0
    return torch.where(has_votes[:, None], sharp.to(head_prior), head_prior)


def majority_class(distribution: torch.Tensor, purity: float = CLASS_PURITY) -> torch.Tensor:
    """(n,) the class of each row of a (n, num_classes) distribution that holds at least ``purity``, else -1."""
    share, majority = distribution.max(dim=1)
    return torch.where(share >= purity, majority, torch.full_like(majority, -1))


def mask_counts(
    owner: torch.Tensor, frame: torch.Tensor, instance_2d: torch.Tensor, num_owners: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2D masks (one frame's 2D instance) of labelled rays: ((n,) mask of each ray, (M, num_owners) rays
    of each mask that each owner, a cluster or an instance, holds). All on the CPU."""
    owner, frame, instance_2d = owner.cpu(), frame.cpu(), instance_2d.cpu().long()
    _, mask = torch.unique(frame * (int(instance_2d.max()) + 1) + instance_2d, return_inverse=True)
    counts = torch.zeros(int(mask.max()) + 1, num_owners, dtype=torch.int64)
    counts.index_put_((mask, owner), torch.ones_like(mask), accumulate=True)
    return mask, counts


def main_mask_votes(
    counts: torch.Tensor,  # (M, K) rays of each cluster in each 2D mask (mask_counts)
    frame_of_mask: torch.Tensor,  # (M,) frame of each mask
    min_rays: int = LINK_MIN_RAYS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """((K, K) together, (K, K) apart) votes of each cluster's main mask: in every frame, each cluster with
    at least ``min_rays`` labelled rays there has the mask that holds most of them; two such clusters
    vote together when that mask is the same, apart when not (once per frame).

    It asks of each cluster where most of it lies, not of each mask which clusters hold a share of it, so
    it does not depend on how many clusters an object has come out as: three clusters of a bed that one
    mask holds at 0.41 / 0.27 / 0.21 vote together in that frame."""
    num_clusters = counts.shape[1]
    together = torch.zeros(num_clusters, num_clusters, dtype=torch.int64)
    apart = torch.zeros_like(together)
    for f in frame_of_mask.unique().tolist():
        masks = counts[frame_of_mask == f]  # (m, K)
        present = (masks.sum(dim=0) >= min_rays).nonzero()[:, 0]
        if present.numel() < 2:
            continue
        main = masks[:, present].argmax(dim=0)
        same = (main[:, None] == main[None, :]).long()
        together[present[:, None], present[None, :]] += same
        apart[present[:, None], present[None, :]] += 1 - same
    return together, apart


def link_clusters(
    nearest: torch.Tensor,  # (n,) cluster of each ray
    frame: torch.Tensor,  # (n,) training frame of each ray
    instance_2d: torch.Tensor,  # (n,) 2D instance id of each ray in its frame (0: none)
    num_clusters: int,
    min_rays: int = LINK_MIN_RAYS,
    min_share: float = LINK_MIN_SHARE,
    cluster_class: torch.Tensor | None = None,  # (num_clusters,) class of each cluster (-1: none)
) -> torch.Tensor:
    """(num_clusters,) instance of each cluster, 0..G-1: clusters that the 2D labels call one object join.

    A 2D instance (one frame's mask) with at least ``min_rays`` rays whose rays fall for at least
    ``min_share`` each into clusters a and b is a vote that a and b are one object ("together"); two 2D
    instances of one frame whose rays mostly fall into a and into b are a vote that they are two objects
    ("apart", once per frame). Clusters of one class (``cluster_class``, when given: the same class >= 0)
    join where together >= ``LINK_MIN_VOTES`` and together > ``LINK_APART_FACTOR`` x apart. A large
    object whose embedding drifts across its surface (each image only asks its own rays to agree) comes
    out as several clusters that every mask of it spans; two touching objects of one class are apart in
    every view whose labels tell them apart, together only in the few that merge them. (Clutter-0 and
    room 6, tuning: joining at together >= 2 > apart merged 14 more bags; these settings and the class
    condition found 72 of 125 and 5 of 6 things, see benchmarks/SUITE.md.)

    The same clusters also join on the votes of :func:`main_mask_votes` (each cluster's own main mask in
    a frame), by the same rule: an object in three or more clusters gives masks in which each cluster
    holds about a third of the rays or less, under ``min_share``, so the masks' votes above miss it
    (fresh room 172's bed, four instances over 13 views; benchmarks/SUITE.md, fiftieth round)."""
    ok = instance_2d > 0
    nearest, frame, instance_2d = nearest[ok], frame[ok], instance_2d[ok]
    if nearest.numel() == 0:
        return torch.arange(num_clusters)
    group, counts = mask_counts(nearest, frame, instance_2d, num_clusters)
    frame_of_group = torch.zeros(counts.shape[0], dtype=torch.int64).index_put_((group,), frame.cpu())
    sizes = counts.sum(dim=1)
    together = torch.zeros(num_clusters, num_clusters, dtype=torch.int64)
    apart = torch.zeros(num_clusters, num_clusters, dtype=torch.int64)
    big = sizes >= min_rays
    for g in big.nonzero()[:, 0].tolist():
        main = (counts[g] >= min_share * sizes[g]).nonzero()[:, 0]
        if main.numel() > 1:
            together[main[:, None], main[None, :]] += 1
    dominant = counts.argmax(dim=1)
    for f in frame_of_group[big].unique().tolist():
        present = dominant[big & (frame_of_group == f)].unique()
        if present.numel() > 1:
            apart[present[:, None], present[None, :]] += 1
    join = (together >= LINK_MIN_VOTES) & (together > LINK_APART_FACTOR * apart)
    together, apart = main_mask_votes(counts, frame_of_group, min_rays)
    join |= (together >= LINK_MIN_VOTES) & (together > LINK_APART_FACTOR * apart)
    if cluster_class is not None:  # one object is one class: clusters of different classes stay apart
        cc = cluster_class.cpu()
        join &= (cc[:, None] == cc[None, :]) & (cc[:, None] >= 0)
    _, labels = connected_components(csr_matrix(join.numpy()), directed=False)
    return torch.from_numpy(labels).to(torch.int64)


def absorb_fragments(
    instance_of_cluster: torch.Tensor,  # (num_clusters,) instance of each cluster (link_clusters)
    nearest: torch.Tensor,  # (n,) cluster of each ray
    frame: torch.Tensor,  # (n,) training frame of each ray
    instance_2d: torch.Tensor,  # (n,) 2D instance id of each ray in its frame (0: none)
    cluster_class: torch.Tensor | None = None,  # (num_clusters,) class of each cluster (-1: none)
    share: float = ABSORB_SHARE,
    min_frames: int = ABSORB_MIN_FRAMES,
) -> torch.Tensor:
    """(num_clusters,) instance of each cluster, 0..G'-1, after fragments joined the objects they belong to.

    Each 2D mask (one frame's instance, at least ``ABSORB_MASK_MIN_RAYS`` rays) belongs to the instance
    holding most of its rays. From the smallest instance up, an instance g joins instance h when at least
    ``share`` of g's labelled rays lie in masks that belong to h, in at least ``min_frames`` frames, h is
    bigger and of g's class (``cluster_class``; without it nothing joins). A fragment of an object, too
    small for the masks to hold enough of it for :func:`link_clusters`' votes, lies inside that object's
    masks in nearly every view; a small object of its own lies in its own masks, and inside a
    neighbour's only in the views whose labels merge the two (`merge_prob` 0.3 of the synthetic labels,
    up to 0.6 in severe noise: under ``share`` across several views). Found on suite seed 34 (PQ^scene
    +2.4); of 18 rooms it changes 6, lowers none and loses no found thing (benchmarks/SUITE.md,
    twenty-first round)."""
    ok = instance_2d > 0
    num_instances = int(instance_of_cluster.max()) + 1 if instance_of_cluster.numel() else 0
    if cluster_class is None or num_instances < 2 or not bool(ok.any()):
        return instance_of_cluster
    labels = instance_of_cluster.cpu()
    inst, frame = labels[nearest[ok].cpu()], frame[ok].cpu()
    class_of = torch.full((num_instances,), -1, dtype=torch.int64)
    class_of[labels] = cluster_class.cpu().long()  # the clusters of one instance share their class
    mask, counts = mask_counts(inst, frame, instance_2d[ok], num_instances)
    owner = torch.where(counts.sum(dim=1) >= ABSORB_MASK_MIN_RAYS, counts.argmax(dim=1), -1)[mask]
    size = torch.bincount(inst, minlength=num_instances)
    parent = torch.arange(num_instances)
    for g in torch.argsort(size, stable=True).tolist():
        mine = inst == g
        others = owner[mine & (owner >= 0) & (owner != g)]
        if others.numel() == 0 or class_of[g] < 0:
            continue
        h = int(torch.mode(others).values)
        held = mine & (owner == h)
        if (
            int(held.sum()) >= share * int(size[g])
            and frame[held].unique().numel() >= min_frames
            and bool(size[h] > size[g])
            and bool(class_of[h] == class_of[g])
        ):
            parent[g] = h
    for g in range(num_instances):  # follow each chain to its end (parents are bigger: no cycles)
        root = g
        while int(parent[root]) != root:
            root = int(parent[root])
        parent[g] = root
    _, renumbered = torch.unique(parent, return_inverse=True)
    return renumbered[labels].to(instance_of_cluster.device)


def mask_agreement(
    instance: torch.Tensor,  # (n,) 3D instance of each ray
    frame: torch.Tensor,  # (n,) training frame of each ray
    instance_2d: torch.Tensor,  # (n,) 2D instance id of each ray in its frame (0: none)
    min_rays: int = LINK_MIN_RAYS,
) -> float:
    """Panoptic quality of the 3D instances against the 2D masks, over rays: in each frame, a mask and an
    instance whose rays there overlap at IoU > 0.5 match; sum of the matches' IoU / (matches + unmatched
    masks / 2 + unmatched instances / 2), over all frames, where masks and instances with fewer than
    ``min_rays`` rays in a frame are not counted unmatched there. 0 without labelled rays.

    The 2D masks are noisy (split, merged, per view), but a draw that cuts an object in two disagrees
    with every view that shows it whole, and one that joins two objects with every view that parts them,
    so among draws of one field the higher agreement is the better split into objects: on the five
    tuning runs where it was measured (three or four draws each), the draw of highest agreement had the
    highest PQ^scene on the test views, or one within 0.3 of it (benchmarks/SUITE.md, fiftieth round)."""
    ok = instance_2d > 0
    instance, frame, instance_2d = instance[ok].cpu(), frame[ok].cpu(), instance_2d[ok].cpu().long()
    iou_sum, matched, unmatched = 0.0, 0, 0.0
    for f in frame.unique().tolist():
        here = frame == f
        _, mask = torch.unique(instance_2d[here], return_inverse=True)
        _, inst = torch.unique(instance[here], return_inverse=True)
        counts = torch.zeros(int(mask.max()) + 1, int(inst.max()) + 1)
        counts.index_put_((mask, inst), torch.ones(mask.shape[0]), accumulate=True)
        mask_rays, inst_rays = counts.sum(dim=1), counts.sum(dim=0)
        iou = counts / (mask_rays[:, None] + inst_rays[None, :] - counts)
        match = iou > 0.5  # at most one per row and column
        iou_sum += float(iou[match].sum())
        matched += int(match.sum())
        unmatched += 0.5 * int(((mask_rays >= min_rays) & ~match.any(dim=1)).sum())
        unmatched += 0.5 * int(((inst_rays >= min_rays) & ~match.any(dim=0)).sum())
    return iou_sum / (matched + unmatched) if matched + unmatched > 0 else 0.0


CLUSTER_CHUNK_RAYS = 4096
"""Random training rays drawn and rendered at a time to find the instances (fixed, so that the rays drawn
do not depend on the renderer's chunk size)."""


@torch.no_grad()
def cluster_instances(
    field: PanopticField,
    data: TrainingData,
    config: LiftConfig,
    thing_mask: torch.Tensor,  # (num_classes,) bool
    generator: torch.Generator,
    num_rays: int = 1 << 17,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Find the 3D instances of a trained embedding field from ``num_rays`` random training rays:
    ((K, D) cluster centres, (K,) instance of each centre, (G, num_classes) class prior of each instance,
    :func:`label_class_prior`). See the module docstring."""
    embeddings, classes, frames, ids_2d, label_probs, label_conf = [], [], [], [], [], []
    chunk = CLUSTER_CHUNK_RAYS
    num_rays = min(num_rays, data.num_frames * data.width * data.height)  # about one ray a pixel at most
    with field.embedding_mode():
        for start in range(0, num_rays, chunk):
            batch = sample_scene_batch(data, min(chunk, num_rays - start), generator)
            out = render_rays(
                field, batch["origins"], batch["dirs"], config.render, outputs=("semantics", "instance")
            )
            cls = out["semantics"][:, 1:].argmax(dim=-1) + 1
            thing = thing_mask.to(cls.device)[cls] & (out["opacity"] > 0.5)
            embeddings.append(out["instance"][thing] / out["opacity"][thing, None])
            classes.append(cls[thing])
            frames.append(batch["frame"][thing])
            ids_2d.append(batch["instance"][thing].long())
            label_probs.append(batch["probability"][thing])
            label_conf.append(batch["confidence"][thing])
    x, cls = torch.cat(embeddings).float(), torch.cat(classes)
    dims = field.config.instance_embedding
    if x.shape[0] == 0:
        log.info("instance clusters: no thing rays rendered, no instances")
        return x.new_zeros(0, dims), cls.new_zeros(0), x.new_zeros(0, thing_mask.shape[0])
    frame, instance_2d = torch.cat(frames), torch.cat(ids_2d)
    draws = []
    for _ in range(max(1, field.config.cluster_draws)):
        centres, nearest, instance_of_centre = _draw_instances(
            field, x, cls, frame, instance_2d, thing_mask, generator
        )
        agreement = mask_agreement(instance_of_centre[nearest], frame, instance_2d)
        draws.append((agreement, centres, nearest, instance_of_centre))
    best = max(range(len(draws)), key=lambda i: draws[i][0])  # the first of equals
    _, centres, nearest, instance_of_centre = draws[best]
    num_instances = int(instance_of_centre.max()) + 1
    head_prior = class_distribution(instance_of_centre[nearest], cls, num_instances, thing_mask.shape[0])
    labels = label_class_prior(
        instance_of_centre[nearest], torch.cat(label_probs), torch.cat(label_conf), head_prior, thing_mask
    )
    log.info(
        "instance clusters: %d instances (%d clusters) from %d thing rays; draw %d of %d (agreement with "
        "the 2D masks %s)",
        num_instances, centres.shape[0], x.shape[0], best + 1, len(draws),
        " / ".join(f"{d[0]:.3f}" for d in draws),
    )  # fmt: skip
    return centres, instance_of_centre, labels


def _draw_instances(
    field: PanopticField,
    x: torch.Tensor,  # (n, D) embeddings of the thing rays
    cls: torch.Tensor,  # (n,) rendered class of each
    frame: torch.Tensor,
    instance_2d: torch.Tensor,
    thing_mask: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One draw of steps 2-4 of the module docstring: ((K, D) centres, (n,) nearest centre of each ray,
    (K,) instance of each centre)."""
    sample = x
    if x.shape[0] > MAX_CLUSTERED_RAYS:
        keep = torch.randperm(x.shape[0], generator=generator, device=generator.device)[:MAX_CLUSTERED_RAYS]
        sample = x[keep.to(x.device)]
    cpu_generator = torch.Generator().manual_seed(
        int(torch.randint(1 << 30, (1,), generator=generator, device=generator.device))
    )
    share = field.config.cluster_min_share
    centres = mean_shift_centres(
        sample, field.config.cluster_radius, max(2, round(share * sample.shape[0])), cpu_generator
    )
    if centres.shape[0] == 0:
        centres = x.mean(dim=0, keepdim=True)
    centres, nearest = assign_to_centres(x, centres, max(2, round(share * x.shape[0])))
    own_class = majority_class(class_distribution(nearest, cls, centres.shape[0], thing_mask.shape[0]))
    instance_of_centre = link_clusters(nearest, frame, instance_2d, centres.shape[0], cluster_class=own_class)
    instance_of_centre = absorb_fragments(instance_of_centre, nearest, frame, instance_2d, own_class)
    return centres, nearest, instance_of_centre.to(nearest.device)


__all__ = [
    "absorb_fragments",
    "assign_to_centres",
    "class_distribution",
    "cluster_instances",
    "label_class_prior",
    "link_clusters",
    "main_mask_votes",
    "mask_agreement",
    "majority_class",
    "mean_shift_centres",
]
