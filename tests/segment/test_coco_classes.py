"""The COCO panoptic -> reduced ScanNet table: complete, in id order, and applied by name."""

from __future__ import annotations

import pytest
import torch

from panolift.scene import SCANNET21, ClassSet
from panolift.segment import COCO_PANOPTIC_CATEGORIES, COCO_TO_SCANNET21, map_coco_to_class_set


def test_table_covers_all_133_categories_once_in_id_order():
    assert len(COCO_TO_SCANNET21) == 133
    assert len(set(COCO_PANOPTIC_CATEGORIES)) == 133
    # anchors of Mask2Former's contiguous id order: 80 things then 53 stuff
    for index, name in [(0, "person"), (56, "chair"), (62, "tv"), (79, "toothbrush"), (80, "banner"),
                        (118, "ceiling-merged"), (131, "wall-other-merged"), (132, "rug-merged")]:  # fmt: skip
        assert COCO_PANOPTIC_CATEGORIES[index] == name


def test_every_category_is_mapped_to_a_scannet_class_or_explicitly_excluded():
    names = set(SCANNET21.names[1:])
    for coco, target in COCO_TO_SCANNET21:
        assert target is None or target in names, coco
    excluded = {coco for coco, target in COCO_TO_SCANNET21 if target is None}
    # vehicles, outdoor objects, animals, plants in pots, and outdoor stuff: 31 categories
    assert len(excluded) == 31
    assert {"car", "dog", "sky-other-merged", "sea", "potted plant"} <= excluded
    assert not {"chair", "wall-brick", "rug-merged", "light"} & excluded


def test_every_scannet_class_is_reachable():
    reached = {target for _, target in COCO_TO_SCANNET21 if target is not None}
    assert reached == set(SCANNET21.names[1:])


def test_mapping_tensor_for_scannet21():
    mapping = map_coco_to_class_set(COCO_PANOPTIC_CATEGORIES, SCANNET21)
    assert mapping.shape == (133,) and mapping.dtype == torch.int64
    idx = SCANNET21.names.index
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("couch")] == idx("sofa")
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("backpack")] == idx("bag")
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("handbag")] == idx("bag")
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("giraffe")] == -1
    assert int((mapping == 0).sum()) == 0  # nothing maps to void
    assert int((mapping < 0).sum()) == 31


def test_mapping_goes_through_names_for_other_class_sets():
    custom = ClassSet(names=("void", "floor", "chair", "wall"), thing_ids=(2,))
    mapping = map_coco_to_class_set(COCO_PANOPTIC_CATEGORIES, custom)
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("chair")] == 2
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("rug-merged")] == 1
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("wall-tile")] == 3
    assert mapping[COCO_PANOPTIC_CATEGORIES.index("bed")] == -1  # the class set has no bed


def test_labels_that_are_not_coco_are_refused():
    with pytest.raises(ValueError, match="not COCO panoptic"):
        map_coco_to_class_set(["wall", "building", "sky"], SCANNET21)
    # spelling variants of exported id2label files are accepted
    variants = [n.upper().replace("-", "_") for n in COCO_PANOPTIC_CATEGORIES]
    assert torch.equal(
        map_coco_to_class_set(variants, SCANNET21), map_coco_to_class_set(COCO_PANOPTIC_CATEGORIES, SCANNET21)
    )
