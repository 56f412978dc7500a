"""Instance clusters of an embedding field: mean shift, small clusters, class votes, and the loss that
shapes the embedding."""

from __future__ import annotations

import pytest
import torch

from panolift.lift.batching import touching_instances
from panolift.lift.clusters import (
    absorb_fragments,
    assign_to_centres,
    class_distribution,
    label_class_prior,
    link_clusters,
    main_mask_votes,
    majority_class,
    mask_agreement,
    mask_counts,
    mean_shift_centres,
)
from panolift.lift.losses import (
    EmbeddingBank,
    compute_embedding_loss,
    instance_classes,
    instance_means,
    instance_places,
)


def _blobs(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    means = torch.tensor([[0.0, 0, 0, 0], [3.0, 0, 0, 0], [0.0, 3.0, 0, 0]])
    x = torch.cat([m + 0.15 * torch.randn(300, 4, generator=generator) for m in means])
    return x, means


def test_mean_shift_finds_each_blob_once():
    generator = torch.Generator().manual_seed(0)
    x, means = _blobs(generator)
    x = torch.cat([x, torch.tensor([[9.0, 9, 9, 9], [-9.0, 9, -9, 9]])])  # two outliers
    centres = mean_shift_centres(x, radius=1.0, min_count=10, generator=generator)
    assert centres.shape == (3, 4)  # no duplicate of a mode, no outlier
    nearest = torch.cdist(means, centres).min(dim=1).values
    assert float(nearest.max()) < 0.1
    assert mean_shift_centres(x[:0], 1.0, 10).shape == (0, 4)


def test_small_clusters_join_their_nearest_neighbour():
    generator = torch.Generator().manual_seed(1)
    x, means = _blobs(generator)
    extra = torch.tensor([[1.2, 0.0, 0.0, 0.0]])  # a centre that almost no point is nearest to
    centres, nearest = assign_to_centres(x, torch.cat([means, extra]), min_count=20)
    assert centres.shape == (3, 4)
    assert torch.bincount(nearest).tolist() == [300, 300, 300]


def test_class_distribution_and_a_clear_majority():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    classes = torch.tensor([5, 5, 5, 4, 5, 5, 4, 4])  # cluster 0: 3/4 chair; cluster 1: half and half
    dist = class_distribution(labels, classes, 3, 8)
    assert dist.shape == (3, 8)
    torch.testing.assert_close(dist[0, [4, 5]], torch.tensor([0.25, 0.75]))
    assert float(dist[2].sum()) == 0.0  # no points
    assert majority_class(dist).tolist() == [5, -1, -1]


def test_the_class_prior_is_the_vote_of_an_instances_labels_not_of_its_rendered_classes():
    # instance 0: its rendered classes half chair (4), half sofa (5); its labels vote 2:1 for sofa, with a
    # wall (1, stuff) label that does not count; instance 1: no labelled ray, keeps the rendered classes
    thing = torch.tensor([False, False, False, False, True, True])
    instance = torch.tensor([0, 0, 0, 0, 1])
    probability = torch.tensor(
        [
            [0, 0, 0, 0, 0, 1.0],
            [0, 0, 0, 0, 0, 1.0],
            [0, 0, 0, 0, 1.0, 0],
            [0, 1.0, 0, 0, 0, 0],
            [0, 0, 0, 0, 1.0, 0],
        ]
    )
    confidence = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    head = class_distribution(instance, torch.tensor([4, 5, 4, 5, 4]), 2, 6)
    prior = label_class_prior(instance, probability, confidence, head, thing, power=1.0)
    torch.testing.assert_close(prior[0], torch.tensor([0, 0, 0, 0, 1 / 3, 2 / 3]))
    torch.testing.assert_close(prior[1], head[1])
    sharp = label_class_prior(instance, probability, confidence, head, thing, power=4.0)
    torch.testing.assert_close(sharp[0, 4:], torch.tensor([1 / 17, 16 / 17]))  # (1/3)^4 : (2/3)^4
    # confidence weighs: one sure chair label outvotes two unsure sofa labels
    weighed = label_class_prior(
        instance, probability, torch.tensor([0.2, 0.2, 1.0, 1.0, 0.0]), head, thing, 1.0
    )
    assert float(weighed[0, 4]) > float(weighed[0, 5])


def _rays(groups: list[tuple[int, int, int, int]]) -> tuple[torch.Tensor, ...]:
    """(frame, 2D id, cluster, count) groups -> (nearest, frame, instance_2d) rays."""
    nearest, frame, ids = [], [], []
    for f, i, c, n in groups:
        nearest += [c] * n
        frame += [f] * n
        ids += [i] * n
    return torch.tensor(nearest), torch.tensor(frame), torch.tensor(ids)


def test_clusters_that_the_same_masks_span_join_and_objects_the_labels_tell_apart_do_not():
    groups = []
    for f in range(4):  # a bed whose embedding drifted: every mask of it spans clusters 0 and 1
        groups += [(f, 1, 0, 10), (f, 1, 1, 8)]
    for f in range(4):  # two touching bags (2, 3), told apart in 3 views, merged by the labels in 1
        groups += [(f, 2, 2, 10), (f, 3, 3, 10)] if f < 3 else [(f, 2, 2, 10), (f, 2, 3, 10)]
    for f in range(4):  # a chair (4) whose masks also cover cluster 5 of a table: other classes never join
        groups += [(f, 4, 4, 10), (f, 4, 5, 10)]
    nearest, frame, ids = _rays(groups)
    cluster_class = torch.tensor([4, 4, 9, 9, 5, 7])
    joined = link_clusters(nearest, frame, ids, 6, cluster_class=cluster_class)
    assert joined[0] == joined[1]  # the bed is one instance
    assert joined[2] != joined[3]  # the bags stay two
    assert joined[4] != joined[5]  # chair and table stay two
    assert sorted(set(joined.tolist())) == [0, 1, 2, 3, 4]  # numbered 0..G-1
    nearest, frame, ids = _rays([(0, 1, 0, 10), (0, 1, 1, 10)])  # one view is not enough
    assert link_clusters(nearest, frame, ids, 2).tolist() == [0, 1]


def test_an_object_in_three_clusters_joins_though_no_mask_holds_a_third_of_each():
    groups = []
    for f in range(5):  # a bed in clusters 0, 1, 2: each of its masks holds them at 0.45 / 0.28 / 0.27
        groups += [(f, 1, 0, 45), (f, 1, 1, 28), (f, 1, 2, 27)]
    for f in range(5):  # two touching sofas (3, 4): apart in 3 views, merged by the labels in 2
        groups += [(f, 2, 3, 30), (f, 3, 4, 30)] if f < 3 else [(f, 2, 3, 30), (f, 2, 4, 30)]
    groups += [(0, 4, 5, 40), (0, 4, 6, 5)]  # a chair (5) and 5 rays of another (6): under min_rays
    nearest, frame, ids = _rays(groups)
    cluster_class = torch.tensor([4, 4, 4, 6, 6, 5, 5])
    joined = link_clusters(nearest, frame, ids, 7, cluster_class=cluster_class)
    assert joined[0] == joined[1] == joined[2]  # one bed
    assert joined[3] != joined[4]  # two sofas
    assert joined[5] != joined[6]
    group, counts = mask_counts(nearest, frame, ids, 7)
    mask_frame = torch.zeros(counts.shape[0], dtype=torch.int64).index_put_((group,), frame)
    together, apart = main_mask_votes(counts, mask_frame)
    assert together[0, 1] == together[1, 2] == 5 and apart[0, 1] == 0
    assert together[3, 4] == 2 and apart[3, 4] == 3
    assert together[5, 6] == 0 and apart[5, 6] == 0  # 5 rays of cluster 6 in its frame: no vote
    assert bool((together == together.T).all()) and bool((apart == apart.T).all())


def test_a_fragment_inside_a_bigger_instances_masks_joins_it_and_a_small_object_of_its_own_does_not():
    groups = []
    for f in range(5):  # a chair (cluster 0) and its leg (1): every mask of the chair holds a few leg rays
        groups += [(f, 1, 0, 40), (f, 1, 1, 3)]
    for f in range(5):  # a big bag (2) and a small one (3) beside it, merged by the labels in 2 of 5 views
        groups += [(f, 2, 2, 40), (f, 2, 3, 6)] if f < 2 else [(f, 2, 2, 40), (f, 3, 3, 6)]
    for f in range(5):  # a lamp (4) on a table (5): inside the table's masks, but of another class
        groups += [(f, 4, 5, 40), (f, 4, 4, 4)]
    for f in range(2):  # a cup (6) inside a shelf's (7) masks in two views only: too few to say
        groups += [(f, 5, 7, 40), (f, 5, 6, 5)]
    nearest, frame, ids = _rays(groups)
    cluster_class = torch.tensor([4, 4, 9, 9, 10, 7, 8, 8])
    linked = link_clusters(nearest, frame, ids, 8, cluster_class=cluster_class)
    assert len(set(linked.tolist())) == 8  # too few leg rays in a mask for link_clusters' votes
    joined = absorb_fragments(linked, nearest, frame, ids, cluster_class)
    assert joined[0] == joined[1]  # the leg is the chair's
    assert joined[2] != joined[3]  # the small bag stays its own: its own masks in 3 of 5 views
    assert joined[4] != joined[5]  # other classes never join
    assert joined[6] != joined[7]  # two views are not enough
    assert sorted(set(joined.tolist())) == list(range(7))  # numbered 0..G-1
    assert torch.equal(absorb_fragments(linked, nearest, frame, ids, None), linked)  # no classes: no joins
    ids_none = torch.zeros_like(ids)
    assert torch.equal(absorb_fragments(linked, nearest, frame, ids_none, cluster_class), linked)


def test_embedding_loss_separates_two_instances_and_is_zero_once_they_are():
    ids = torch.tensor([1] * 10 + [2] * 10)
    together = torch.zeros(20, 3, requires_grad=True)
    loss = compute_embedding_loss(together, ids, pull=0.5, push=1.5)
    assert float(loss.detach()) >= 9.0 - 1e-4  # means 0 apart: (2 * 1.5)^2
    loss.backward()  # the push has no gradient at exactly equal means; from a small offset it does
    offset = torch.zeros(20, 3)
    offset[10:, 0] = 0.1
    moving = offset.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([moving], lr=0.5)
    first = float(compute_embedding_loss(moving, ids).detach())
    for _ in range(50):
        optimizer.zero_grad()
        compute_embedding_loss(moving, ids).backward()
        optimizer.step()
    assert float(compute_embedding_loss(moving, ids).detach()) < 0.1 * first
    apart = torch.zeros(20, 3)
    apart[10:, 0] = 4.0
    apart += 0.1 * torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    assert float(compute_embedding_loss(apart, ids)) < 0.01  # only the tiny norm term is left


def test_bank_pushes_objects_of_other_classes_that_no_view_shows_together():
    """A television (class 7) and a sofa (class 3) are never two 2D instances of one view: one image's
    push cannot part them, the bank of other views' means does; a same-class object is left alone."""
    bank = EmbeddingBank(size=4, dim=3)
    ids = torch.tensor([1] * 8)
    sofa = torch.zeros(8, 3)
    bank.add(instance_means(sofa, ids)[2], torch.tensor([3]))  # a view of the sofa alone
    television = (torch.zeros(8, 3) + 0.05).requires_grad_(True)
    probabilities = torch.zeros(8, 10)
    probabilities[:, 7] = 0.9
    probabilities[:, 3] = 0.1
    classes = instance_classes(probabilities, ids)
    assert classes.tolist() == [7]
    assert float(compute_embedding_loss(television, ids, classes=classes).detach()) < 0.01  # no bank: no push
    optimizer = torch.optim.SGD([television], lr=0.2)
    for _ in range(60):
        optimizer.zero_grad()
        compute_embedding_loss(television, ids, classes=classes, bank=bank).backward()
        optimizer.step()
    assert float(television.detach().mean(0).norm()) > 2.5  # pushed ~2 push = 3.0 from the sofa
    same = torch.zeros(8, 3) + 0.05
    assert float(compute_embedding_loss(same, ids, classes=torch.tensor([3]), bank=bank)) < 0.01
    for k in range(6):  # first in, first out
        bank.add(torch.full((1, 3), float(k)), torch.tensor([k]))
    assert bank.classes.tolist() == [2, 3, 4, 5] and bank.means.shape == (4, 3)
    restored = EmbeddingBank(size=4, dim=3)
    restored.load(bank.tensors())
    assert torch.equal(restored.means, bank.means) and torch.equal(restored.classes, bank.classes)


def test_bank_pushes_a_same_class_object_that_lies_apart_in_3d_and_not_another_view_of_the_same():
    """Two bags of one class that no view labels as two: with ``apart`` the bank parts them by where
    their masks' rays end; a view of the other half of the same bag (centres within reach of the radii)
    and a place that is unknown (no opaque ray) are left alone."""
    ids = torch.tensor([1] * 6)
    ends = torch.tensor([[0.0, 0, 0], [0.2, 0, 0], [0.4, 0, 0], [0.0, 0.2, 0], [0.2, 0.2, 0], [0.4, 0.2, 0]])
    opaque = torch.ones(6, dtype=torch.bool)
    place = instance_places(ends, opaque, ids)
    torch.testing.assert_close(place[0, :3], torch.tensor([0.2, 0.1, 0.0]))
    assert abs(float(place[0, 3]) - float((ends - place[0, :3]).square().sum(1).mean().sqrt())) < 1e-6
    opaque[3:] = False  # only the opaque rays' ends count
    torch.testing.assert_close(instance_places(ends, opaque, ids)[0, :3], torch.tensor([0.2, 0.0, 0.0]))
    unknown = instance_places(ends, torch.zeros(6, dtype=torch.bool), ids)
    assert unknown.tolist() == [[0.0, 0.0, 0.0, -1.0]]

    bank = EmbeddingBank(size=8, dim=3)
    radius = float(place[0, 3])
    bag = torch.zeros(6, 3) + 0.05
    bags = torch.tensor([3])
    other_bag = place.clone()
    other_bag[0, 0] += 4 * radius  # beside it, not touching the same points
    other_half = place.clone()
    other_half[0, 0] += radius  # the same bag seen from elsewhere
    for where in (other_half, unknown):
        bank.add(torch.zeros(1, 3), bags, where)
    kwargs = {"classes": bags, "bank": bank, "places": place, "apart": 1.0}
    assert float(compute_embedding_loss(bag, ids, **kwargs)) < 0.01
    bank.add(torch.zeros(1, 3), bags, other_bag)
    assert float(compute_embedding_loss(bag, ids, **kwargs)) > 1.0
    assert float(compute_embedding_loss(bag, ids, **{**kwargs, "apart": 0.0})) < 0.01  # off: no push
    restored = EmbeddingBank(size=8, dim=3)
    restored.load(bank.tensors())
    torch.testing.assert_close(restored.places, bank.places)
    old = {k: v for k, v in bank.tensors().items() if k != "embedding_bank.places"}  # before stop 30
    restored.load(old)
    assert restored.places.tolist() == [[0.0, 0.0, 0.0, -1.0]] * 3


def test_the_trainer_keeps_the_places_it_pushes_by_in_the_bank(tiny_scene):
    """With ``loss.embedding_apart`` the trainer measures each 2D instance's place from its rendered rays
    once the geometry has formed (the instance loss runs over the last fifth of 400 steps here)."""
    from panolift.config import tiny_config
    from panolift.lift.trainer import Trainer
    from panolift.scene import Scene

    config = tiny_config()
    config.field.instance_embedding, config.loss.embedding_apart = 8, 1.0
    config.train.iterations, config.loss.instance_start, config.loss.consistency_start = 400, 0.8, 0.9
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    for _ in range(400):
        trainer.train_step()
    bank = trainer.embedding_bank
    assert bank.means.shape[0] > 0 and bank.places.shape == (bank.means.shape[0], 4)
    assert torch.isfinite(bank.places).all()
    known = bank.places[:, 3] >= 0
    assert known.float().mean() > 0.15  # 41% here: the tiny run's surfaces are still half transparent
    box = trainer.field.aabb
    assert ((bank.places[known, :3] >= box[0] - 0.1) & (bank.places[known, :3] <= box[1] + 0.1)).all()


def test_active_push_weighs_a_close_pair_as_the_all_pairs_mean_would_not():
    """Ten instances, nine far apart and two (ids 1, 2) 1.0 apart: the all-pairs mean divides that pair's
    hinge by 90 ordered pairs, the active mean by the 2 that push."""
    ids = torch.arange(10).repeat_interleave(4) + 1
    centres = torch.zeros(10, 3)
    centres[:, 0] = torch.arange(10) * 10.0
    centres[1, 0] = 1.0  # instance 2 1.0 from instance 1 (at 0)
    embedding = centres.repeat_interleave(4, dim=0)
    norm = 1e-3 * centres.norm(dim=1).mean()
    hinge = (3.0 - 1.0) ** 2  # 2 push - gap
    all_pairs = float(compute_embedding_loss(embedding, ids, pull=0.5, push=1.5)) - float(norm)
    active = float(compute_embedding_loss(embedding, ids, pull=0.5, push=1.5, push_active=True)) - float(norm)
    assert abs(all_pairs - 2 * hinge / 90) < 1e-4 and abs(active - hinge) < 1e-4
    far = centres.clone()
    far[1, 0] = 5.0  # all apart: no pair pushes (and no division by zero), only the norm term is left
    loss = float(compute_embedding_loss(far.repeat_interleave(4, dim=0), ids, push_active=True))
    assert abs(loss - 1e-3 * float(far.norm(dim=1).mean())) < 1e-6


def test_touching_masks_are_the_pairs_within_reach_each_once():
    ids = torch.zeros(6, 8, dtype=torch.long)
    ids[1:, :3], ids[1:, 4:6], ids[1:, 7] = 1, 2, 3  # 1 | gap | 2 2 | gap | 3; row 0 unlabelled
    ids[5, 0] = 4  # inside mask 1's corner
    flat = ids.reshape(-1)
    assert touching_instances(flat, 8, 6, reach=2).tolist() == [[1, 2], [1, 4], [2, 3]]
    assert touching_instances(flat, 8, 6, reach=1).tolist() == [[1, 4]]  # a column of 0 between the others
    diagonal = torch.zeros(4, 4, dtype=torch.long)
    diagonal[0, 0], diagonal[1, 1] = 5, 7
    assert touching_instances(diagonal.reshape(-1), 4, 4, reach=1).tolist() == [[5, 7]]
    assert touching_instances(torch.zeros(12, dtype=torch.long), 4, 3).shape == (0, 2)


def test_touching_push_weighs_each_touching_pair_as_one_masks_pull():
    """Three instances, 1 and 2 1.0 apart, 3 far: the touching pair (1, 2) adds w (2 push - 1)^2 / 3; a
    pair with an id that has no rays here adds nothing."""
    centres = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [20.0, 0, 0]])
    ids = torch.tensor([1, 2, 3]).repeat_interleave(4)
    embedding = centres.repeat_interleave(4, dim=0)
    base = float(compute_embedding_loss(embedding, ids))
    pairs = torch.tensor([[1, 2], [2, 9]])
    pushed = float(compute_embedding_loss(embedding, ids, touching=pairs, touching_weight=0.5))
    assert abs(pushed - base - 0.5 * (3.0 - 1.0) ** 2 / 3) < 1e-5
    assert float(compute_embedding_loss(embedding, ids, touching=pairs, touching_weight=0.0)) == base
    assert float(compute_embedding_loss(embedding, ids, touching=pairs[1:], touching_weight=1.0)) == base


def _neighbours_apart(weight: float, others: int = 25, steps: int = 600) -> tuple[float, float]:
    """Embeddings (8 rays an object, each ray free) fitted to views of a cluttered image: objects A and B
    touch and one view in three merges them into one mask; object C is split in two masks by one view in
    ten; ``others`` more objects touch in a row. Returns (gap between A's and B's means, between C's
    halves)."""
    num = 3 + others
    generator = torch.Generator().manual_seed(0)
    embedding = (0.05 * torch.randn(num, 8, 4, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.SGD([embedding], lr=2.0)
    for step in range(steps):
        ids = torch.arange(num).repeat_interleave(8) + 1
        pairs = [[1, 2]] + [[k, k + 1] for k in range(3, num)]
        if step % 3 == 0:  # A and B as one mask
            ids[8:16], pairs = 1, pairs[1:]
        if step % 10 == 0:  # C as two masks
            ids[20:24] = 100
            pairs.append([3, 100])
        loss = compute_embedding_loss(
            embedding.reshape(-1, 4), ids, touching=torch.tensor(pairs), touching_weight=weight
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    e = embedding.detach()
    gap = float((e[0].mean(0) - e[1].mean(0)).norm())
    halves = float((e[2, :4].mean(0) - e[2, 4:].mean(0)).norm())
    return gap, halves


def test_with_the_touching_push_the_majority_of_views_decides_if_neighbours_are_one_object():
    """Among 28 things, the all-pairs push leaves two neighbours that a third of the views merge within
    a mean-shift window (radius 1) of each other; pushed as much as they are pulled, they part; an object
    split by a tenth of the views stays one (its halves closer than the window's diameter)."""
    merged_gap, _ = _neighbours_apart(0.0)
    gap, halves = _neighbours_apart(1.0)
    assert merged_gap < 2.0 and gap > 2.5 and gap > merged_gap + 0.8
    assert halves < 2.0


def test_the_trainer_pushes_the_touching_masks_of_each_frame_found_once(tiny_scene, monkeypatch):
    from panolift.config import tiny_config
    from panolift.lift import trainer as trainer_module
    from panolift.scene import Scene

    config = tiny_config()
    config.field.instance_embedding, config.loss.embedding_touching = 8, 1.0
    config.train.iterations, config.loss.instance_start, config.loss.consistency_start = 60, 0.5, 0.9
    seen = []

    def spy(*args, **kwargs):
        seen.append((args[1].unique(), args[9], args[10]))  # ids, touching pairs, weight
        return compute_embedding_loss(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "compute_embedding_loss", spy)
    scene = Scene(tiny_scene)
    trainer = trainer_module.Trainer(scene, scene.normalization(config.train.max_depth), config)
    for _ in range(60):
        trainer.train_step()
    assert len(seen) >= 20 and all(weight == 1.0 for _, _, weight in seen)
    cached = trainer.data.touching
    assert cached and set(cached) <= set(range(trainer.data.num_frames))
    for frame, pairs in cached.items():
        instance = trainer.data.targets.instance[frame]
        width, height = trainer.data.width, trainer.data.height
        assert torch.equal(pairs, touching_instances(instance, width, height))
    assert any(pairs.shape[0] > 0 and bool(torch.isin(pairs, ids).all(1).any()) for ids, pairs, _ in seen)


def test_together_pulls_a_kept_mean_of_the_same_object_seen_by_another_view_only():
    """A batch's mask (class 4, centre at 0, radius 0.5) and three kept means: the same class 0.1 m away
    (another view of the object: pulled), the same class 1.0 m away (a neighbour beside it: not pulled),
    another class 0.1 m away (pushed as before, not pulled)."""
    bank = EmbeddingBank(16, 3)
    kept = torch.tensor([[2.0, 0, 0], [0.4, 0, 0], [9.0, 0, 0]])
    bank.add(
        kept, torch.tensor([4, 4, 7]), torch.tensor([[0.1, 0, 0, 0.5], [1.0, 0, 0, 0.5], [0.1, 0, 0, 0.5]])
    )
    ids, classes, places = (
        torch.ones(4, dtype=torch.long),
        torch.tensor([4]),
        torch.tensor([[0.0, 0, 0, 0.5]]),
    )
    embedding = torch.zeros(4, 3, requires_grad=True)
    base = compute_embedding_loss(embedding, ids, classes=classes, bank=bank, places=places)
    pulled = compute_embedding_loss(embedding, ids, classes=classes, bank=bank, places=places, together=1.0)
    assert (
        abs(float((pulled - base).detach()) - (2.0 - 0.5) ** 2) < 1e-5
    )  # only the first kept mean, beyond the pull
    pulled.backward()
    assert float(embedding.grad[:, 0].sum()) < 0  # towards it (+x)
    unknown = torch.tensor([[0.0, 0, 0, -1.0]])  # a mask without an opaque ray says nothing
    same = compute_embedding_loss(embedding, ids, classes=classes, bank=bank, places=unknown, together=1.0)
    assert float(same.detach()) == float(
        compute_embedding_loss(embedding, ids, classes=classes, bank=bank, places=unknown).detach()
    )


def test_mask_agreement_is_highest_for_the_instances_the_views_show():
    # two frames; masks 1 and 2 are two objects of 30 rays each in both
    frame = torch.tensor([0] * 60 + [1] * 60)
    ids = torch.tensor(([1] * 30 + [2] * 30) * 2)
    whole = torch.tensor(([0] * 30 + [1] * 30) * 2)
    assert mask_agreement(whole, frame, ids) == pytest.approx(1.0)
    cut = torch.tensor(([0] * 15 + [2] * 15 + [1] * 30) * 2)  # the first object in two halves
    joined = torch.zeros(120, dtype=torch.int64)  # both objects one instance
    assert mask_agreement(cut, frame, ids) < mask_agreement(whole, frame, ids)
    assert mask_agreement(joined, frame, ids) < mask_agreement(whole, frame, ids)
    few = torch.tensor(([0] * 30 + [1] * 26 + [3] * 4) * 2)  # 4 stray rays: no unmatched instance
    assert mask_agreement(few, frame, ids) > mask_agreement(cut, frame, ids)
    assert mask_agreement(whole, frame, torch.zeros_like(ids)) == 0.0  # no labelled rays


def test_clustering_keeps_the_draw_that_agrees_best_with_the_masks(tiny_embed_run, tmp_path, monkeypatch):
    """``field.cluster_draws`` runs steps 2-4 from new seeds each time; the first draw is the one draw of
    ``cluster_draws=1``, and the draw kept is the one of highest :func:`mask_agreement`."""
    import shutil

    from panolift.lift import clusters
    from panolift.render import thing_mask_of
    from panolift.runs.folder import read_run_info
    from panolift.runs.training import TrainingRun

    run = tmp_path / "run"
    shutil.copytree(tiny_embed_run, run, ignore=shutil.ignore_patterns("render"))
    with TrainingRun(read_run_info(run).scene_path, run, resume=True) as training:
        trainer = training.trainer
        thing_mask = thing_mask_of(trainer.scene.class_set)
        draws, scores = [], []
        draw, agree = clusters._draw_instances, clusters.mask_agreement
        monkeypatch.setattr(clusters, "_draw_instances", lambda *a: draws.append(draw(*a)) or draws[-1])
        monkeypatch.setattr(clusters, "mask_agreement", lambda *a: scores.append(agree(*a)) or scores[-1])
        results = []
        for n in (1, 3):
            trainer.field.config.cluster_draws = n
            generator = torch.Generator().manual_seed(0)
            results.append(
                clusters.cluster_instances(trainer.field, trainer.data, trainer.config, thing_mask, generator)
            )
    assert len(draws) == 4 and len(scores) == 4
    assert torch.equal(draws[0][0], draws[1][0])  # the same first draw
    assert all(0.0 <= s <= 1.0 for s in scores) and max(scores) > 0
    best = 1 + max(range(3), key=lambda i: scores[1 + i])
    assert torch.equal(results[1][0], draws[best][0])
    assert torch.equal(results[0][0], draws[0][0])
