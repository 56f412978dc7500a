"""`panolift train SCENE --out RUN [--preset P] [--field.num-slots N --train.iterations N ...]`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import tyro

from panolift.config import LiftConfig, get_preset

DEFAULT_PRESET = "fast"


def make_train_command(preset: str = DEFAULT_PRESET, iterations: int | None = None) -> Callable[..., None]:
    """The `train` command with ``preset``'s configuration as the defaults of its options (the CLI reads
    ``--preset`` first, so that `panolift train --preset tiny --help` shows the tiny preset's values), its
    iterations when given (``--train.iterations``, also read first; see :func:`get_preset`)."""
    defaults = get_preset(preset, iterations)

    def train(
        scene: Path,
        /,
        out: Path,
        resume: bool = False,
        device: str = "auto",
        threads: int = 0,
        viewer: bool = False,
        viewer_port: int = 8080,
        config: Annotated[LiftConfig, tyro.conf.arg(name="")] = defaults,
    ) -> None:
        """Train a panoptic radiance field on SCENE and write the run folder OUT (checkpoints, run.json).

        Every field of the configuration is an option (--field.*, --render.*, --loss.*, --train.*); the
        defaults are those of --preset: fast (default; minutes on a CPU), quick (fast's schedule in 800
        steps instead of 3000: about a minute for a small room, about 1 dB and a few mIoU points lower),
        paper (the authors' settings) or tiny (tests). With fast and quick, --train.iterations N trains
        the preset's schedule over N steps (its grid upsampling, occupancy updates and shrink at the
        same fractions of training). The paper's ablations are --loss.no-segment-consistency, --loss.no-use-tta,
        --loss.no-bounded and --loss.no-gradient-blocking. The effective configuration is printed and
        saved in RUN/run.json.

        Args:
            scene: a scene folder (the layout of the data released with Panoptic Lifting: color/, pose/,
                intrinsic/, m2f_* labels, splits.json) with colour images, poses and machine labels.
            out: the run folder to write (checkpoints are written periodically; see --resume).
            resume: continue a killed run in OUT from its latest checkpoint, with its own configuration.
            device: auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
            threads: CPU threads for torch (0: chosen while training by timing steps at 1, half and all
                of the CPUs, and chosen again when the machine's load changes; a fixed count makes a run
                bitwise reproducible).
            viewer: serve a 3D viewer of the field being trained (`panolift view`, read-only, updated
                every few seconds; needs pip install 'panolift[viewer]'); it stays open after training
                until Ctrl-C.
            viewer_port: the port of --viewer.
        """
        run_training(scene, out, config, resume, device, threads, viewer_port if viewer else None)

    return train


def describe_config(config: LiftConfig) -> list[str]:
    """The configuration as `group.field = value` lines, grouped."""
    lines = [f"preset {config.preset}"]
    for group, values in config.to_dict().items():
        if isinstance(values, dict):
            lines.append(f"{group}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return lines


def run_training(
    scene: Path,
    out: Path,
    config: LiftConfig,
    resume: bool,
    device: str,
    threads: int,
    viewer_port: int | None = None,
) -> None:
    import logging

    from tqdm import tqdm

    from panolift.commands.common import pick_device, set_threads
    from panolift.runs import TrainingRun, check_against_inputs, load_run

    device = pick_device(device)
    tuner = set_threads(threads) if device.type == "cpu" else None
    with TrainingRun(scene, out, config, device=device, resume=resume) as training:
        trainer = training.trainer
        live = None
        if viewer_port is not None:
            from panolift.commands.view import start_live_viewer

            live = start_live_viewer(training, viewer_port)
        total = trainer.config.train.iterations
        logging.getLogger("panolift").info(
            "training %s -> %s (%s preset, %d iterations, %s)", scene, out, trainer.config.preset, total,
            trainer.device,
        )  # fmt: skip
        print("configuration (saved in run.json):")
        for line in describe_config(trainer.config):
            print(f"  {line}")
        with tqdm(total=total, initial=trainer.step, unit="it", dynamic_ncols=True) as bar:

            def progress(step: int, total: int, metrics: dict) -> None:
                bar.update(step - bar.n)
                if "psnr" in metrics:
                    bar.set_postfix(loss=f"{metrics['total']:.3f}", psnr=f"{metrics['psnr']:.2f}")
                else:  # the heads' steps of a head phase: labels only
                    bar.set_postfix(loss=f"{metrics['total']:.3f}", fitting="labels")
                if live is not None:
                    live.update()

            try:
                training.run(progress, tuner=tuner)
            except BaseException:
                if live is not None:  # its threads must not die inside torch at exit
                    live.close()
                raise
            bar.update(total - bar.n)
    print(f"run written to {out} (step {trainer.step}, {trainer.elapsed:.0f} s)")
    report_agreement(check_against_inputs(load_run(out, trainer.device)))
    if live is not None:
        from panolift.commands.view import keep_live_viewer_open

        keep_live_viewer_open(live)


def report_agreement(agreement) -> None:
    """Print how the run renders its training views against its inputs, with warnings when it fails."""
    print(agreement.summary())
    for warning in agreement.warnings():
        print(f"WARNING: {warning}")
