"""Evaluation: PSNR, mIoU, PQ, PQ^scene under two protocols, and reports."""

from .metrics import mean_iou, psnr, semantic_confusion
from .score import score_labels, score_machine_labels

__all__ = ["mean_iou", "psnr", "score_labels", "score_machine_labels", "semantic_confusion"]
