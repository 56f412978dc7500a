"""2D front end: Mask2Former (transformers) adapter, COCO -> scene class mapping, test-time augmentation,
TTA fusion and panoptic merging, and the scene labelling job behind `panolift segment`."""

from .coco_classes import COCO_PANOPTIC_CATEGORIES, COCO_TO_SCANNET21, map_coco_to_class_set
from .fusion import (
    PanopticResult,
    SegmentSet,
    compute_soft_iou,
    fuse_segments,
    label_connected_components,
    merge_panoptic,
    segments_from_queries,
)
from .mask2former import (
    DEFAULT_MODEL,
    Mask2FormerSegmenter,
    ModelNotFoundError,
    PreprocessSettings,
    load_mask2former,
    preprocess_images,
    save_random_mask2former,
)
from .pipeline import FrameLabels, PanopticLabeler, SceneLabelJob, SegmentConfig
from .tta import NUM_TTA_RUNS, TTA_RECIPES, augment_images, undo_flips

__all__ = [
    "COCO_PANOPTIC_CATEGORIES",
    "COCO_TO_SCANNET21",
    "DEFAULT_MODEL",
    "FrameLabels",
    "Mask2FormerSegmenter",
    "ModelNotFoundError",
    "NUM_TTA_RUNS",
    "PanopticLabeler",
    "PanopticResult",
    "PreprocessSettings",
    "SceneLabelJob",
    "SegmentConfig",
    "SegmentSet",
    "TTA_RECIPES",
    "augment_images",
    "compute_soft_iou",
    "fuse_segments",
    "label_connected_components",
    "load_mask2former",
    "map_coco_to_class_set",
    "merge_panoptic",
    "preprocess_images",
    "save_random_mask2former",
    "segments_from_queries",
    "undo_flips",
]
