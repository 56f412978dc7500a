"""The Mask2Former adapter: offline loading, preprocessing like the reference processor, raw outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from panolift.segment import ModelNotFoundError, load_mask2former, preprocess_images
from panolift.segment.mask2former import compute_input_size, settings_from_processor


def _smooth_image(h=48, w=64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 7)], -1)
    return (img * 255).round().astype(np.uint8)


@pytest.mark.parametrize(
    "size", [{"shortest_edge": 64, "longest_edge": 128}, {"shortest_edge": 384, "longest_edge": 1333}]
)
def test_preprocessing_matches_the_reference_image_processor(size):
    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    processor = Mask2FormerImageProcessorPil(size=size, size_divisor=32)
    image = _smooth_image()
    reference = processor(images=Image.fromarray(image), return_tensors="pt")["pixel_values"]
    ours = preprocess_images(
        torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0, settings_from_processor(processor)
    )
    assert ours.shape == reference.shape
    assert (ours - reference).abs().mean() < 0.01  # PIL's and torch's bilinear filters differ slightly
    assert compute_input_size(48, 64, settings_from_processor(processor)) == tuple(reference.shape[-2:])


def test_tiny_model_loads_from_a_folder_and_predicts(tiny_model_dir):
    segmenter = load_mask2former(tiny_model_dir, "cpu")
    assert len(segmenter.label_names) == 133 and segmenter.label_names[0] == "person"
    assert segmenter.settings.shortest_edge == 64
    class_logits, mask_logits = segmenter.predict(torch.rand(2, 3, 48, 64))
    assert class_logits.shape == (2, segmenter.num_queries, 134)
    assert mask_logits.shape[:2] == (2, segmenter.num_queries)
    assert mask_logits.shape[-2:] == (16, 24)  # a quarter of the 64x96 network input
    assert torch.isfinite(mask_logits).all()


def test_missing_weights_fail_early_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        load_mask2former("panolift-tests/no-such-mask2former", "cpu")
    message = str(info.value)
    assert "huggingface-cli download panolift-tests/no-such-mask2former --local-dir DIR" in message
    assert "--model DIR" in message


def test_a_folder_that_is_not_a_model_is_reported(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_mask2former(tmp_path, "cpu")
