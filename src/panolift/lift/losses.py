"""Losses of Panoptic Lifting on rendered rays: colour, semantics, instances, segment consistency.

``bounded=True`` means the rendered tensors are probability mixtures sum_i w_i p_i (the paper's bounded
field); ``bounded=False`` means they are rendered logits, turned into distributions with a softmax.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

EPS = 1e-8


def log_distribution(rendered: torch.Tensor, bounded: bool) -> torch.Tensor:
    """log p from rendered probabilities (log(max(p, eps))) or rendered logits (log_softmax)."""
    if bounded:
        return torch.log(rendered.clamp_min(EPS))
    return torch.log_softmax(rendered, dim=-1)


def compute_rgb_loss(
    rgb: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """L_RGB = mean_r ||c_r - c_hat_r||^2 over (num_rays, 3) colours; with a (num_rays,) ``weight`` the
    weighted mean sum_r w_r ||c_r - c_hat_r||^2 / sum_r w_r."""
    error = (rgb - target).pow(2).sum(dim=-1)
    if weight is None:
        return error.mean()
    return (error * weight).sum() / weight.sum().clamp_min(1e-12)


def compute_semantic_loss(
    semantics: torch.Tensor,  # (num_rays, num_classes) rendered
    target: torch.Tensor,  # (num_rays, num_classes) soft machine distribution kappa_hat
    confidence: torch.Tensor,  # (num_rays,) w_r (0 for void rays)
    bounded: bool = True,
) -> torch.Tensor:
    """L_sem = -sum_r w_r sum_{k >= 1} kappa_hat_r(k) log kappa_r(k) / #{r: w_r > 0}.

    Class 0 (void) is ignored: its target column is dropped and void rays carry w_r = 0.
    """
    log_p = log_distribution(semantics, bounded)[:, 1:]
    ce = -(target[:, 1:] * log_p).sum(dim=-1)
    count = (confidence > 0).sum().clamp_min(1)
    return (confidence * ce).sum() / count


@torch.no_grad()
def assign_instances(
    instance: torch.Tensor,  # (num_rays, num_slots) rendered slot distribution (or logits)
    instance_ids: torch.Tensor,  # (num_rays,) 2D instance id of each thing ray (> 0)
    bounded: bool = True,
) -> torch.Tensor:
    """Slot of each ray under the injective map Pi* maximising sum_h sum_{r in R_h} pi_r(Pi(h)) / |R_h|.

    Solved with scipy's linear_sum_assignment on cost[h, j] = -mean_{r in R_h} pi_r(j). With more 2D
    instances than slots the extra (smallest) ones get slot -1. Returns (num_rays,) long slots.
    """
    probs = instance if bounded else torch.softmax(instance, dim=-1)
    ids, inverse, counts = torch.unique(instance_ids, return_inverse=True, return_counts=True)
    score = probs.new_zeros(ids.shape[0], probs.shape[1]).index_add(0, inverse, probs) / counts[:, None]
    keep = torch.argsort(counts, descending=True)[: probs.shape[1]]
    rows, cols = linear_sum_assignment(-score[keep].double().cpu().numpy())
    slot_of_id = torch.full((ids.shape[0],), -1, dtype=torch.long)
    slot_of_id[keep[torch.as_tensor(rows)].cpu()] = torch.as_tensor(cols, dtype=torch.long)
    return slot_of_id.to(instance_ids.device)[inverse]


def compute_instance_loss(
    instance: torch.Tensor,  # (num_rays, num_slots) rendered, thing rays only
    slots: torch.Tensor,  # (num_rays,) assigned slot, -1 = unassigned
    confidence: torch.Tensor,  # (num_rays,)
    bounded: bool = True,
) -> torch.Tensor:
    """L_ins = -mean_r w_r log pi_r(Pi*(h_r)) over thing rays with an assigned slot."""
    ok = slots >= 0
    if not ok.any():
        return instance.sum() * 0.0
    log_p = log_distribution(instance[ok], bounded)
    nll = -log_p.gather(1, slots[ok, None])[:, 0]
    return (confidence[ok] * nll).mean()


def instance_means(
    embedding: torch.Tensor, instance_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids in increasing order, each ray's index among them, each id's mean embedding) of a batch."""
    ids, inverse, counts = torch.unique(instance_ids, return_inverse=True, return_counts=True)
    sums = embedding.new_zeros(ids.shape[0], embedding.shape[1]).index_add(0, inverse, embedding)
    return ids, inverse, sums / counts[:, None]


def instance_classes(probabilities: torch.Tensor, instance_ids: torch.Tensor) -> torch.Tensor:
    """The class the field renders for each 2D instance of a batch (argmax of its rays' summed class
    distributions; ids in increasing order, as :func:`instance_means`): consistent from view to view
    where the machine labels flip, so it can say which 2D instances of different views are different
    objects."""
    _, inverse = torch.unique(instance_ids, return_inverse=True)
    votes = probabilities.new_zeros(int(inverse.max()) + 1, probabilities.shape[1])
    return votes.index_add(0, inverse, probabilities.detach()).argmax(dim=1)


def instance_places(
    ends: torch.Tensor,  # (num_rays, 3) where each ray ends (field coordinates)
    opaque: torch.Tensor,  # (num_rays,) bool: the ray ends on a surface
    instance_ids: torch.Tensor,  # (num_rays,) 2D instance id of each ray
) -> torch.Tensor:
    """(num 2D instances, 4): for each 2D instance of a batch (ids in increasing order, as
    :func:`instance_means`) the mean of its opaque rays' ends and their RMS distance from it (where the
    object the mask shows lies, and how far it reaches); (0, 0, 0, -1) (unknown) for an instance without
    an opaque ray."""
    _, inverse = torch.unique(instance_ids, return_inverse=True)
    n = int(inverse.max()) + 1 if inverse.numel() else 0
    weight = opaque.to(ends.dtype)
    count = ends.new_zeros(n).index_add(0, inverse, weight)
    centre = ends.new_zeros(n, 3).index_add(0, inverse, ends * weight[:, None]) / count[:, None]
    spread = ((ends - centre[inverse]).square().sum(dim=1) * weight).nan_to_num()
    radius = (ends.new_zeros(n).index_add(0, inverse, spread) / count).sqrt()
    places = torch.cat([centre, radius[:, None]], dim=1).detach()
    unknown = count == 0
    places[unknown] = unknown_places(int(unknown.sum()), places.device)
    return places


def unknown_places(count: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(count, 4) places that say nothing (radius -1; see :func:`instance_places`)."""
    places = torch.zeros(count, 4, device=device)
    places[:, 3] = -1.0
    return places


class EmbeddingBank:
    """The last ``size`` 2D-instance means of earlier batches (other views), detached, with their classes
    and places (:func:`instance_places`; radius -1 when unknown): the negatives across views of
    :func:`compute_embedding_loss`. Its tensors go into checkpoints (:meth:`tensors`), so that a resumed
    training continues exactly."""

    def __init__(self, size: int, dim: int, device: torch.device | str = "cpu"):
        self.size = size
        self.means = torch.zeros(0, dim, device=device)
        self.classes = torch.zeros(0, dtype=torch.long, device=device)
        self.places = torch.zeros(0, 4, device=device)

    def add(self, means: torch.Tensor, classes: torch.Tensor, places: torch.Tensor | None = None) -> None:
        """Keep ``means`` (detached), their ``classes`` and ``places`` (default unknown); the oldest entries
        beyond ``size`` go."""
        if not self.size:
            return
        if places is None:
            places = unknown_places(means.shape[0], means.device)
        self.means = torch.cat([self.means, means.detach()])[-self.size :]
        self.classes = torch.cat([self.classes, classes])[-self.size :]
        self.places = torch.cat([self.places, places.detach()])[-self.size :]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "embedding_bank.means": self.means.cpu(),
            "embedding_bank.classes": self.classes.cpu(),
            "embedding_bank.places": self.places.cpu(),
        }

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Entries of :meth:`tensors` (a checkpoint without them: an empty bank; without places, written
        before they were kept: places unknown)."""
        device, dim = self.means.device, self.means.shape[1]
        means = tensors.get("embedding_bank.means", torch.zeros(0, dim))
        classes = tensors.get("embedding_bank.classes", torch.zeros(0, dtype=torch.long))
        places = tensors.get("embedding_bank.places", unknown_places(means.shape[0]))
        self.means, self.classes = means.to(device, torch.float32), classes.to(device, torch.long)
        self.places = places.to(device, torch.float32)


def compute_embedding_loss(
    embedding: torch.Tensor,  # (num_rays, D) rendered instance embedding, thing rays of one image
    instance_ids: torch.Tensor,  # (num_rays,) 2D instance id of each ray (> 0)
    pull: float = 0.5,
    push: float = 1.5,
    classes: torch.Tensor | None = None,  # (num 2D instances,) class of each, as instance_classes
    bank: EmbeddingBank | None = None,
    places: torch.Tensor | None = None,  # (num 2D instances, 4), as instance_places
    apart: float = 0.0,
    push_active: bool = False,
    touching: torch.Tensor | None = None,  # (P, 2) 2D instance ids of the image's touching masks
    touching_weight: float = 0.0,
    together: float = 0.0,
) -> torch.Tensor:
    """The discriminative loss of De Brabandere et al. (2017) on one image's thing rays, the contrastive
    counterpart of assignment + L_ins (no slots, so no cap on the number of instances):

        L = mean_i mean_{r in i} [|e_r - mu_i| - pull]_+^2  +  mean_{i != j} [2 push - |mu_i - mu_j|]_+^2
            + mean_{i, b: class(b) != class(i)} [2 push - |mu_i - b|]_+^2  +  0.001 mean_i |mu_i|

    with mu_i the mean embedding of 2D instance i's rays and b the means of other views kept in ``bank``
    (the third term only with ``classes`` and a bank). Two touching objects of one class that the 2D
    labels tell apart get means at least 2 push apart, whatever the other views said; two objects of
    different classes do even where no view shows both. With ``apart`` > 0 and ``places``, a kept mean b
    of the same class is pushed too when the two masks' objects lie apart in 3D: their centres farther
    than ``apart`` x the sum of their RMS radii (two bags on a shelf that no view labels as two; two
    views of one object's two ends are not that far apart, their radii reaching to the middle).

    ``push_active``: the push terms are means over the pairs closer than 2 push (those that push) instead
    of over all pairs. In a view with n things the all-pairs mean weighs one close pair 1 / (n (n - 1)),
    the pull of one mask 1 / n: in a cluttered view (n = 25) two touching bags that one mask merges are
    pulled together 24 times harder than the views that tell them apart push them apart.

    ``touching`` with ``touching_weight`` w > 0: each pair of masks that touch in the image (and have rays
    here) is pushed once more with weight w / n, as much as one mask's pull:

        + w / n sum_{(i, j) touching} [2 push - |mu_i - mu_j|]_+^2

    so that for two neighbours each view's word counts alike, "one object" (a mask that merges them) or
    "two" (two masks): the majority of the views decides, where the all-pairs push leaves a pair that a
    third of the views merge together. A mask split in two by a few views stays one, outvoted by the
    views that keep it whole.

    ``together`` F > 0 (with a bank and ``places``): a kept mean b of the same class whose mask's object
    lies where this one's does (centres closer than F x the smaller of the two RMS radii) is pulled,
    mean [|mu_i - b| - pull]_+^2 over those pairs: the sides of one object that no single view shows
    together keep one embedding (two neighbours, side by side, have centres about the sum of their radii
    apart)."""
    ids, inverse, means = instance_means(embedding, instance_ids)
    n = means.shape[0]
    counts = torch.bincount(inverse, minlength=n).to(embedding.dtype)
    spread = torch.clamp((embedding - means[inverse]).norm(dim=1) - pull, min=0) ** 2
    loss = (embedding.new_zeros(n).index_add(0, inverse, spread) / counts).mean()
    if n > 1:
        gaps = torch.cdist(means, means)[~torch.eye(n, dtype=torch.bool, device=embedding.device)]
        loss = loss + push_mean(gaps, push, push_active)
        if touching is not None and touching_weight > 0 and touching.shape[0]:
            index = torch.searchsorted(ids, touching.to(ids))
            index = index.clamp(max=n - 1)
            here = (ids[index[:, 0]] == touching[:, 0].to(ids)) & (ids[index[:, 1]] == touching[:, 1].to(ids))
            if bool(here.any()):
                i, j = index[here, 0], index[here, 1]
                hinge = torch.clamp(2 * push - (means[i] - means[j]).norm(dim=1), min=0) ** 2
                loss = loss + touching_weight * hinge.sum() / n
    if bank is not None and classes is not None and bank.means.shape[0]:
        other = classes[:, None] != bank.classes[None, :]
        if apart > 0 and places is not None:
            radii = places[:, None, 3] + bank.places[None, :, 3]
            known = (places[:, None, 3] >= 0) & (bank.places[None, :, 3] >= 0)
            other = other | (known & (torch.cdist(places[:, :3], bank.places[:, :3]) > apart * radii))
        if other.any():
            gaps = torch.cdist(means, bank.means)[other]
            loss = loss + push_mean(gaps, push, push_active)
        if together > 0 and places is not None:
            known = (places[:, None, 3] > 0) & (bank.places[None, :, 3] > 0)
            smaller = torch.minimum(places[:, None, 3], bank.places[None, :, 3])
            close = torch.cdist(places[:, :3], bank.places[:, :3]) < together * smaller
            same = (classes[:, None] == bank.classes[None, :]) & known & close
            if same.any():
                gaps = torch.cdist(means, bank.means)[same]
                loss = loss + (torch.clamp(gaps - pull, min=0) ** 2).mean()
    return loss + 1e-3 * means.norm(dim=1).mean()


def push_mean(gaps: torch.Tensor, push: float, active_only: bool = False) -> torch.Tensor:
    """Mean of [2 push - gap]_+^2 over ``gaps`` (or over the gaps under 2 push; 0 when none is)."""
    hinge = torch.clamp(2 * push - gaps, min=0) ** 2
    if not active_only:
        return hinge.mean()
    active = gaps < 2 * push
    return hinge.sum() / active.sum().clamp(min=1)


def compute_consistency_loss(
    semantics: torch.Tensor,  # (num_rays, num_classes) rendered, rays of one image
    segments: torch.Tensor,  # (num_rays,) 2D segment id, 0 = none
    confidence: torch.Tensor,  # (num_rays,)
    bounded: bool = True,
    labels: torch.Tensor | None = None,  # (num_rays, num_classes) 2D label distributions, for ``agreeing``
    agreeing: bool = False,
    margin: float = 0.0,
) -> torch.Tensor:
    """L_con = -mean_r w_r log kappa_r(K_i),  K_i = argmax_{k >= 1} sum_{r in R_i} w_r kappa_r(k) (no grad).

    Rays are grouped by segment; K_i is the segment's majority class under the current model. With
    ``agreeing``, a segment counts only when K_i is also the majority of its own 2D ``labels``: where the
    model and the view disagree, the semantic loss of every view decides, and the consistency loss cannot
    lock in the model's error (a thin or half-transparent object rendered as the wall behind it would
    otherwise be pushed to "wall" in each of its segments, the stronger of the two losses). With a
    ``margin`` > 0, a disputed segment still counts when the model's votes for K_i are at least ``margin``
    times its votes for the labels' class: the model is then clearly ahead, not torn between the two.
    """
    ok = segments > 0
    if not ok.any():
        return semantics.sum() * 0.0
    sem, seg, conf = semantics[ok], segments[ok], confidence[ok]
    with torch.no_grad():
        probs = sem if bounded else torch.softmax(sem, dim=-1)
        _, inverse = torch.unique(seg, return_inverse=True)
        num_segments = int(inverse.max()) + 1
        votes = probs.new_zeros(num_segments, probs.shape[1]).index_add(0, inverse, conf[:, None] * probs)
        majority = votes[:, 1:].argmax(dim=-1) + 1
        if agreeing:
            if labels is None:
                raise ValueError("compute_consistency_loss: agreeing needs the rays' 2D labels")
            given = labels[ok].to(probs.dtype)
            label_votes = probs.new_zeros(num_segments, given.shape[1]).index_add(0, inverse, given)
            given_class = label_votes[:, 1:].argmax(dim=-1) + 1
            keep = given_class == majority
            if margin > 0:
                ahead = votes.gather(1, majority[:, None]) >= margin * votes.gather(1, given_class[:, None])
                keep = keep | ahead[:, 0]
            conf = conf * keep[inverse]
    log_p = log_distribution(sem, bounded)
    nll = -log_p.gather(1, majority[inverse][:, None])[:, 0]
    return (conf * nll).mean()


def compute_distortion_loss(
    weights: torch.Tensor,  # (num_rays, num_samples)
    t: torch.Tensor,  # (num_rays, num_samples) sample positions (interval midpoints), increasing
    deltas: torch.Tensor,  # (num_rays, num_samples) interval lengths
    log_depth: bool = False,
) -> torch.Tensor:
    """Mip-NeRF 360 distortion, mean over rays of
    sum_{i,j} w_i w_j |t_i - t_j| + 1/3 sum_i w_i^2 delta_i
    = 2 sum_i w_i (t_i W_{<i} - S_{<i}) + 1/3 sum_i w_i^2 delta_i,  W_{<i} = sum_{j<i} w_j, S_{<i} = sum_{j<i} w_j t_j.
    Pulls each ray's weights together: removes fog and floaters. ``log_depth``: the intervals are mapped
    to s = log t first (each interval [t - delta/2, t + delta/2] to its image in s), so distances are
    relative depths, the same in a small and a large room.
    """
    if log_depth:
        s0 = torch.log((t - 0.5 * deltas).clamp_min(1e-6))
        s1 = torch.log((t + 0.5 * deltas).clamp_min(1e-6))
        t, deltas = 0.5 * (s0 + s1), s1 - s0
    wt = weights * t
    w_before = torch.cumsum(weights, dim=-1) - weights
    wt_before = torch.cumsum(wt, dim=-1) - wt
    cross = 2.0 * (weights * (t * w_before - wt_before)).sum(dim=-1)
    own = (weights.pow(2) * deltas).sum(dim=-1) / 3.0
    return (cross + own).mean()


def compute_matched_depth_loss(
    weights: torch.Tensor,  # (num_rays, num_samples)
    t: torch.Tensor,  # (num_rays, num_samples) sample positions along the unit rays
    depth: torch.Tensor,  # (num_rays,) matched distance along each ray
    band: float,
    min_width: float,
) -> torch.Tensor:
    """Mean over rays of 1 - sum_{|t_i - d| <= h} w_i, h = max(``band`` d, ``min_width``): the share of a
    ray's weight that is not at its matched depth d (in front of it, behind it, or let through). In front
    of the band this is the free-space term of depth-supervised NeRFs: it clears a screen before the
    camera even where the screen explains the colour; within the band it pulls the surface to d. Bounded
    by 1 a ray, so a wrong match costs at most its own ray."""
    half = torch.maximum(depth * band, torch.full_like(depth, min_width))
    within = ((t - depth[:, None]).abs() <= half[:, None]).to(weights.dtype)
    return (1.0 - (weights * within).sum(dim=-1)).mean()


def compute_psnr(mse: torch.Tensor | float) -> float:
    """PSNR = -10 log10(mse) for colours in [0, 1] (mse per channel)."""
    return float(-10.0 * torch.log10(torch.as_tensor(mse).clamp_min(1e-10)))
