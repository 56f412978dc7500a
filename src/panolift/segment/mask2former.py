"""Mask2Former (Hugging Face transformers) as the 2D panoptic segmenter: loading, preprocessing, inference.

Loading keeps transformers' own path (``from_pretrained``) and never downloads silently in an offline
setting: a local folder is used as is; a hub id is looked up in the local Hugging Face cache first, then
downloaded unless ``HF_HUB_OFFLINE`` is set; when neither works the error says how to fetch the weights on a
machine with network access.

Preprocessing follows ``Mask2FormerImageProcessor`` (its settings are read from the model's
``preprocessor_config.json``: resize so the short side is ``shortest_edge`` unless the long side would
exceed ``longest_edge``, round both sides up to ``size_divisor``, rescale to [0, 1], ImageNet
normalisation), but runs in torch on the model's device so that the 13 TTA copies of an image never leave it.
The resize is bilinear with antialiasing (PIL's bilinear filter in the reference processor), so inputs agree
with the reference to within interpolation differences.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from panolift.scene import SceneError

from .coco_classes import COCO_PANOPTIC_CATEGORIES

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/mask2former-swin-large-coco-panoptic"


class ModelNotFoundError(SceneError):
    """The segmentation model's weights are neither in a local folder nor in the Hugging Face cache."""


@dataclass(frozen=True)
class PreprocessSettings:
    """What Mask2FormerImageProcessor does to an image before the network (from preprocessor_config.json)."""

    shortest_edge: int | None = 800
    longest_edge: int | None = 1333
    height: int | None = None  # a fixed (height, width), used when the config gives one instead of edges
    width: int | None = None
    size_divisor: int = 32
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    do_resize: bool = True
    do_normalize: bool = True


def settings_from_processor(processor) -> PreprocessSettings:
    """Read the fields of a (PIL-backend) Mask2Former image processor."""
    size = processor.size
    return PreprocessSettings(
        shortest_edge=size.shortest_edge,
        longest_edge=size.longest_edge,
        height=size.height,
        width=size.width,
        size_divisor=int(processor.size_divisor or 0),
        image_mean=tuple(float(x) for x in processor.image_mean),
        image_std=tuple(float(x) for x in processor.image_std),
        do_resize=bool(processor.do_resize),
        do_normalize=bool(processor.do_normalize),
    )


def compute_input_size(height: int, width: int, settings: PreprocessSettings) -> tuple[int, int]:
    """(height, width) of the network input for an image, exactly as the reference processor computes it."""
    from transformers.image_transforms import get_size_with_aspect_ratio

    if not settings.do_resize:
        new_h, new_w = height, width
    elif settings.shortest_edge and settings.longest_edge:
        new_h, new_w = get_size_with_aspect_ratio(
            (height, width), settings.shortest_edge, settings.longest_edge
        )
    elif settings.height and settings.width:
        new_h, new_w = settings.height, settings.width
    else:
        raise ValueError(f"unsupported Mask2Former preprocessing size: {settings}")
    if settings.size_divisor > 0:
        div = settings.size_divisor
        new_h, new_w = math.ceil(new_h / div) * div, math.ceil(new_w / div) * div
    return int(new_h), int(new_w)


def preprocess_images(images: torch.Tensor, settings: PreprocessSettings) -> torch.Tensor:
    """Network input from RGB images: resize, then ``(x - mean) / std``.

    Args:
        images: (batch, 3, H, W) float RGB in [0, 1].
    Returns:
        (batch, 3, H', W') pixel values, H' and W' from :func:`compute_input_size`.
    """
    size = compute_input_size(images.shape[-2], images.shape[-1], settings)
    if size != tuple(images.shape[-2:]):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    if settings.do_normalize:
        mean = torch.tensor(settings.image_mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(settings.image_std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        images = (images - mean) / std
    return images


class Mask2FormerSegmenter:
    """A loaded Mask2Former and its preprocessing; ``predict`` maps images to raw query outputs."""

    def __init__(self, network, settings: PreprocessSettings, device: torch.device | str):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.settings = settings

    @property
    def label_names(self) -> list[str]:
        """The model's class names in id order (``id2label``), without the trailing "no object"."""
        id2label = self.network.config.id2label
        return [str(id2label[i]) for i in range(len(id2label))]

    @property
    def num_queries(self) -> int:
        return int(self.network.config.num_queries)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network on a batch.

        Args:
            images: (batch, 3, H, W) float RGB in [0, 1] (any device).
        Returns:
            class_logits: (batch, num_queries, num_labels + 1), the last column is "no object";
            mask_logits: (batch, num_queries, h, w), covering the whole image at about a quarter of the
            network input's resolution.
        """
        pixel_values = preprocess_images(images.to(self.device, torch.float32), self.settings)
        out = self.network(pixel_values=pixel_values)
        return out.class_queries_logits.float(), out.masks_queries_logits.float()


def _missing_model_message(model: str, reason: str) -> str:
    return (
        f"cannot load the Mask2Former weights '{model}': not a local folder, not in the Hugging Face cache, "
        f"and not downloadable here ({reason}).\n"
        "On a machine with network access run\n"
        f"    huggingface-cli download {model} --local-dir DIR\n"
        "copy DIR to this machine and pass `--model DIR` (a local folder works offline)."
    )


def _looks_like_path(model: str) -> bool:
    # hub ids are "name" or "owner/name"; anything else is meant as a folder
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def load_mask2former(model: str | Path, device: torch.device | str) -> Mask2FormerSegmenter:
    """Load a Mask2FormerForUniversalSegmentation from a folder or a hub id (cache first, then network).

    Raises:
        ModelNotFoundError: with instructions, when the weights cannot be found or fetched.
    """
    from transformers import Mask2FormerForUniversalSegmentation
    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    path = Path(model).expanduser()
    if not path.exists() and _looks_like_path(str(model)):
        raise ModelNotFoundError(f"{path}: model folder does not exist")
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path}: not a model folder (no config.json); pass a Mask2Former folder"
            )
        attempts = [{"pretrained_model_name_or_path": str(path)}]
    else:
        attempts = [{"pretrained_model_name_or_path": str(model), "local_files_only": True}]
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
        if not offline:
            attempts.append({"pretrained_model_name_or_path": str(model)})
    reason = ""
    for kwargs in attempts:
        try:
            network = Mask2FormerForUniversalSegmentation.from_pretrained(**kwargs)
            break
        except (OSError, ValueError) as exc:  # transformers reports a missing or unreachable model as OSError
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.debug("loading %s with %s failed: %s", model, kwargs, exc)
    else:
        if path.exists():
            raise ModelNotFoundError(f"{path}: cannot load Mask2Former ({reason})")
        raise ModelNotFoundError(_missing_model_message(str(model), reason))
    try:
        processor = Mask2FormerImageProcessorPil.from_pretrained(**kwargs)
        settings = settings_from_processor(processor)
    except (OSError, ValueError):
        log.warning("%s: no preprocessor_config.json, using Mask2Former's default preprocessing", model)
        settings = PreprocessSettings()
    log.info(
        "loaded %s (%d queries, %d labels)", model, network.config.num_queries, len(network.config.id2label)
    )
    return Mask2FormerSegmenter(network, settings, device)


def save_random_mask2former(
    folder: str | Path, num_queries: int = 8, shortest_edge: int = 64, longest_edge: int = 128, seed: int = 0
) -> Path:
    """Save a tiny, randomly initialised Mask2Former with COCO panoptic's 133 labels (for tests and offline
    smoke runs): the same architecture as the real one (Swin backbone, deformable pixel decoder, masked
    attention decoder), a few thousand times smaller. It predicts garbage; the pipeline runs end to end."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig
    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    # fmt: off
    backbone = SwinConfig(
        image_size=224, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    id2label = dict(enumerate(COCO_PANOPTIC_CATEGORIES))
    config = Mask2FormerConfig(
        backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=64,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=64, num_queries=num_queries,
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    # fmt: on
    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG state
        torch.manual_seed(seed)
        network = Mask2FormerForUniversalSegmentation(config)
    network.save_pretrained(folder)
    processor = Mask2FormerImageProcessorPil(
        size={"shortest_edge": shortest_edge, "longest_edge": longest_edge}, size_divisor=32
    )
    processor.save_pretrained(folder)
    return folder
