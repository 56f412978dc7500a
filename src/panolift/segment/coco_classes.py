"""COCO panoptic's 133 categories and their mapping to the scene's class set.

The table below is the one the paper's labels were made with: each COCO panoptic category (in the
contiguous order of Mask2Former's ``id2label``: 80 things, then 53 stuff) maps to one of the 21 reduced
ScanNet classes, or to ``None`` (excluded: outdoor and animal categories that never occur indoors). Excluded
categories get a logit of -inf before the softmax, so their probability mass goes to the mapped ones.
Several COCO categories may map to one class; their probabilities are summed.

For another class set (e.g. the 31 in-the-wild classes) the mapping goes through the class *names*: a COCO
category maps to the class whose name equals its reduced-ScanNet target; targets the class set lacks are
excluded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from panolift.scene import ClassSet

log = logging.getLogger(__name__)

# (COCO panoptic category, reduced-ScanNet class name or None = excluded), in Mask2Former's id2label order.
COCO_TO_SCANNET21: tuple[tuple[str, str | None], ...] = (
    # ---- things (ids 0..79)
    ("person", "person"),
    ("bicycle", None),
    ("car", None),
    ("motorcycle", None),
    ("airplane", None),
    ("bus", None),
    ("train", None),
    ("truck", None),
    ("boat", None),
    ("traffic light", None),
    ("fire hydrant", None),
    ("stop sign", None),
    ("parking meter", None),
    ("bench", "otherprop"),
    ("bird", None),
    ("cat", None),
    ("dog", None),
    ("horse", None),
    ("sheep", None),
    ("cow", None),
    ("elephant", None),
    ("bear", None),
    ("zebra", None),
    ("giraffe", None),
    ("backpack", "bag"),
    ("umbrella", "otherprop"),
    ("handbag", "bag"),
    ("tie", "otherprop"),
    ("suitcase", "otherprop"),
    ("frisbee", "otherprop"),
    ("skis", "otherprop"),
    ("snowboard", "otherprop"),
    ("sports ball", "otherprop"),
    ("kite", "otherprop"),
    ("baseball bat", "otherprop"),
    ("baseball glove", "otherprop"),
    ("skateboard", "otherprop"),
    ("surfboard", "otherprop"),
    ("tennis racket", "otherprop"),
    ("bottle", "otherprop"),
    ("wine glass", "otherprop"),
    ("cup", "otherprop"),
    ("fork", "otherprop"),
    ("knife", "otherprop"),
    ("spoon", "otherprop"),
    ("bowl", "otherprop"),
    ("banana", "otherprop"),
    ("apple", "otherprop"),
    ("sandwich", "otherprop"),
    ("orange", "otherprop"),
    ("broccoli", "otherprop"),
    ("carrot", "otherprop"),
    ("hot dog", "otherprop"),
    ("pizza", "otherprop"),
    ("donut", "otherprop"),
    ("cake", "otherprop"),
    ("chair", "chair"),
    ("couch", "sofa"),
    ("potted plant", None),
    ("bed", "bed"),
    ("dining table", "table"),
    ("toilet", "toilet"),
    ("tv", "television"),
    ("laptop", "otherprop"),
    ("mouse", "otherprop"),
    ("remote", "otherprop"),
    ("keyboard", "otherprop"),
    ("cell phone", "otherprop"),
    ("microwave", "otherprop"),
    ("oven", "otherprop"),
    ("toaster", "otherprop"),
    ("sink", "sink"),
    ("refrigerator", "refrigerator"),
    ("book", "otherprop"),
    ("clock", "otherprop"),
    ("vase", "otherprop"),
    ("scissors", "otherprop"),
    ("teddy bear", "otherprop"),
    ("hair drier", "otherprop"),
    ("toothbrush", "otherprop"),
    # ---- stuff (ids 80..132)
    ("banner", None),
    ("blanket", "otherprop"),
    ("bridge", None),
    ("cardboard", "otherprop"),
    ("counter", "counter"),
    ("curtain", "curtain"),
    ("door-stuff", "door"),
    ("floor-wood", "floor"),
    ("flower", "otherprop"),
    ("fruit", "otherprop"),
    ("gravel", "floor"),
    ("house", "otherprop"),
    ("light", "lamp"),
    ("mirror-stuff", "otherprop"),
    ("net", "otherprop"),
    ("pillow", "otherprop"),
    ("platform", "floor"),
    ("playingfield", "floor"),
    ("railroad", "floor"),
    ("river", None),
    ("road", "floor"),
    ("roof", "otherprop"),
    ("sand", "floor"),
    ("sea", None),
    ("shelf", "shelves"),
    ("snow", "floor"),
    ("stairs", "otherprop"),
    ("tent", "otherprop"),
    ("towel", "otherprop"),
    ("wall-brick", "wall"),
    ("wall-stone", "wall"),
    ("wall-tile", "wall"),
    ("wall-wood", "wall"),
    ("water-other", None),
    ("window-blind", "window"),
    ("window-other", "window"),
    ("tree-merged", "otherprop"),
    ("fence-merged", "otherprop"),
    ("ceiling-merged", "ceiling"),
    ("sky-other-merged", None),
    ("cabinet-merged", "cabinet"),
    ("table-merged", "table"),
    ("floor-other-merged", "floor"),
    ("pavement-merged", "floor"),
    ("mountain-merged", None),
    ("grass-merged", "otherprop"),
    ("dirt-merged", "floor"),
    ("paper-merged", "otherprop"),
    ("food-other-merged", "otherprop"),
    ("building-other-merged", "otherprop"),
    ("rock-merged", None),
    ("wall-other-merged", "wall"),
    ("rug-merged", "floor"),
)

COCO_PANOPTIC_CATEGORIES: tuple[str, ...] = tuple(name for name, _ in COCO_TO_SCANNET21)
"""The 133 COCO panoptic category names in Mask2Former's contiguous id order (80 things, 53 stuff)."""


def _normalise_name(name: str) -> str:
    # id2label spellings vary a little between exports ("tv" / "tv ", "door-stuff" / "door_stuff").
    return name.strip().lower().replace("_", "-")


def map_coco_to_class_set(coco_names: Sequence[str], class_set: ClassSet) -> torch.Tensor:
    """Target class index for every COCO category of a model, -1 where the category is excluded.

    ``coco_names`` is the model's ``id2label`` in id order; every name must be a COCO panoptic category
    (a model trained on another label set is refused with the names it does not know).

    Returns:
        (num_coco,) int64: index into ``class_set`` (1..C-1) or -1.
    """
    table = {_normalise_name(coco): target for coco, target in COCO_TO_SCANNET21}
    class_index = {name: k for k, name in enumerate(class_set.names) if k > 0}
    unknown = [n for n in coco_names if _normalise_name(n) not in table]
    if unknown:
        raise ValueError(
            f"the model's labels are not COCO panoptic categories (unknown: {unknown[:8]}); "
            "panolift segment needs a Mask2Former trained on COCO panoptic"
        )
    mapping = []
    missing_targets: set[str] = set()
    for name in coco_names:
        target = table[_normalise_name(name)]
        if target is not None and target not in class_index:
            missing_targets.add(target)
        mapping.append(class_index.get(target, -1) if target is not None else -1)
    if missing_targets:
        log.warning("class set lacks %s: those COCO categories are excluded", sorted(missing_targets))
    if all(k < 0 for k in mapping):
        raise ValueError(f"no COCO category maps to any class of {class_set.names}")
    return torch.tensor(mapping, dtype=torch.int64)
