"""`panolift train SCENE --out RUN`: lift the scene's 2D machine labels into a panoptic radiance field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def pick_device(device: str):
    """ "auto" -> cuda when available, else cpu; anything else is passed to torch.device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train(
    scene: Path,
    /,
    out: Path,
    preset: Literal["fast", "paper", "tiny"] = "fast",
    resume: bool = False,
    iterations: int = 0,
    num_slots: int = 0,
    segment_consistency: bool = True,
    tta: bool = True,
    bounded: bool = True,
    gradient_blocking: bool = True,
    device: str = "auto",
    threads: int = 0,
) -> None:
    """Train a panoptic radiance field on SCENE and write the run folder OUT (checkpoints, run.json).

    Args:
        scene: a scene folder (see docs/scene-format.md) with colour images, poses and machine labels.
        out: the run folder to write (checkpoints are written periodically; see --resume).
        preset: fast (default: minutes on a CPU), paper (the authors' settings) or tiny (tests).
        resume: continue a killed run in OUT from its latest checkpoint (its own configuration is used).
        iterations: override the preset's number of iterations (0: keep).
        num_slots: number of surrogate instance ids (0: the preset's, 32).
        segment_consistency: ablation switch: the segment consistency loss.
        tta: ablation switch: labels and confidences with test-time augmentation (else without).
        bounded: ablation switch: render probabilities (bounded field) rather than logits.
        gradient_blocking: ablation switch: no gradient from semantics/instances to density.
        device: auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
        threads: CPU threads for torch (0: torch's default).
    """
    import logging

    import torch
    from tqdm import tqdm

    from panolift.config import get_preset
    from panolift.lift.trainer import Trainer

    if threads > 0:
        torch.set_num_threads(threads)
    config = get_preset(preset)
    if iterations > 0:
        config.train.iterations = iterations
    if num_slots > 0:
        config.field.num_slots = num_slots
    loss = config.loss
    loss.segment_consistency, loss.use_tta, loss.bounded, loss.gradient_blocking = (
        segment_consistency, tta, bounded, gradient_blocking,
    )  # fmt: skip
    trainer = Trainer(scene, out, config, device=pick_device(device), resume=resume)
    total = trainer.config.train.iterations
    logging.getLogger("panolift").info(
        "training %s -> %s (%s preset, %d iterations, %s)",
        scene,
        out,
        trainer.config.preset,
        total,
        trainer.device,
    )
    with tqdm(total=total, initial=trainer.step, unit="it", dynamic_ncols=True) as bar:

        def progress(step: int, total: int, metrics: dict) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{metrics['total']:.3f}", psnr=f"{metrics['psnr']:.2f}")

        trainer.run(progress)
        bar.update(total - bar.n)
    print(f"run written to {out} (step {trainer.step}, {trainer.elapsed:.0f} s)")
