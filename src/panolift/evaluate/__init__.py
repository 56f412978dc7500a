"""Evaluation: PSNR, mIoU, PQ, PQ^scene under two protocols (see PROTOCOLS.md), and reports."""

from .metrics import mean_iou, psnr, semantic_confusion
from .panoptic import image_panoptic_quality, match_segments, panoptic_quality
from .protocols import PROTOCOLS, evaluate_label_maps, panoptic_lifting_mean_iou, panoptic_lifting_pq
from .score import score_labels, score_machine_labels

__all__ = [
    "PROTOCOLS",
    "evaluate_label_maps",
    "image_panoptic_quality",
    "match_segments",
    "mean_iou",
    "panoptic_lifting_mean_iou",
    "panoptic_lifting_pq",
    "panoptic_quality",
    "psnr",
    "score_labels",
    "score_machine_labels",
    "semantic_confusion",
]
