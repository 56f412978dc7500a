"""`panolift segment SCENE --model ID_OR_PATH`: 2D panoptic labels with TTA confidences (Mask2Former)."""

from __future__ import annotations

import time
from pathlib import Path

DEFAULT_MODEL = "facebook/mask2former-swin-large-coco-panoptic"  # = panolift.segment.DEFAULT_MODEL


def segment(
    scene: Path,
    /,
    model: str = DEFAULT_MODEL,
    tta: bool = True,
    batch: int = 13,
    device: str | None = None,
    overwrite: bool = False,
    max_side: int | None = None,
    min_score: float = 0.8,
    seed: int = 0,
) -> None:
    """Label every frame of a scene with Mask2Former (COCO panoptic, mapped to the scene's classes).

    Writes m2f_semantics, m2f_instance (ids unique across the scene), m2f_segments, m2f_probabilities and,
    with TTA, m2f_notta_semantics / m2f_notta_instance into the scene folder, one frame at a time.

    Args:
        scene: the scene folder (colour images, poses, intrinsics).
        model: a Hugging Face model id (looked up in the local cache, else downloaded) or a local folder
            holding the weights (works offline), e.g. from
            `huggingface-cli download facebook/mask2former-swin-large-coco-panoptic --local-dir DIR`.
        tta: fuse the image and 12 augmented copies (the paper's setting); `--no-tta` runs once per image.
        batch: images per forward pass (the 13 TTA copies of a frame count as 13).
        device: torch device, e.g. cuda, cuda:1 or cpu (default: cuda when available).
        overwrite: relabel frames that already have labels (default: skip them).
        max_side: fuse and merge at most at this long side (labels are still written at the images' size).
        min_score: drop queries whose best class probability is not above this.
        seed: seed of the random augmentation parameters.
    """
    import torch
    from tqdm import tqdm

    from panolift.scene import SceneError
    from panolift.segment import SceneLabelJob, SegmentConfig, load_mask2former

    if batch < 1:
        raise SceneError(f"--batch must be at least 1, got {batch}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    config = SegmentConfig(tta=tta, batch_size=batch, max_side=max_side, min_score=min_score, seed=seed)
    segmenter = load_mask2former(model, device)
    job = SceneLabelJob(scene, segmenter, config, overwrite=overwrite)
    skipped = len(job.scene.frame_names) - len(job.pending)
    if skipped:
        print(f"skipping {skipped} frame(s) already labelled (--overwrite relabels them)")
    start = time.perf_counter()
    for _ in tqdm(job.run(), total=len(job.pending), desc="segment", unit="frame"):
        pass
    elapsed = time.perf_counter() - start
    runs = "13 runs (TTA)" if tta else "1 run (no TTA)"
    print(
        f"labelled {len(job.pending)} frame(s) of {job.root} in {elapsed:.1f} s on {device}, {runs} per frame; "
        f"{job.next_instance - 1} thing instance id(s) in the scene"
    )
