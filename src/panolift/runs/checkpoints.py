"""Checkpoint files of a run folder: one safetensors file per checkpoint, written atomically.

    RUN/checkpoints/step_XXXXXX.safetensors   tensors of the trainer's state (:mod:`panolift.lift.state`)
                                              and, in the safetensors metadata under "panolift", JSON
                                              with the format version and the state's metadata
    RUN/checkpoints/latest.json               {"step": N, "file": "step_XXXXXX.safetensors"}

A checkpoint is written to a temporary file and renamed over its name, then latest.json is (the same
way), then older checkpoints beyond ``keep`` are removed: a kill at any moment leaves the previous
checkpoint intact and latest.json pointing at a complete file. Temporary files of a killed writer
(``.step_*``, ``.latest.*``) are removed by :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from panolift.scene import SceneError
from panolift.scene.io import atomic_path, write_json

from .folder import FORMAT_VERSION, read_json_file

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def write_checkpoint(
    run_dir: str | Path, meta: dict, tensors: dict[str, torch.Tensor], keep: int = 2
) -> Path:
    """Write checkpoints/step_XXXXXX.safetensors (step from ``meta``), point latest.json at it, prune.

    A full disk raises a SceneError that names the checkpoint still intact."""
    folder = checkpoint_dir(run_dir)
    step = int(meta["step"])
    path = folder / f"step_{step:06d}.safetensors"
    try:
        with atomic_path(path) as tmp:
            save_file(
                tensors,
                str(tmp),
                metadata={"panolift": json.dumps({"format_version": FORMAT_VERSION, **meta})},
            )
        write_json(folder / LATEST_FILE, {"step": step, "file": path.name})
    except OSError as exc:
        intact = latest_checkpoint(run_dir)
        kept = f"the last complete checkpoint is {intact}" if intact else "no checkpoint was written yet"
        reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
        raise SceneError(f"{path}: cannot write checkpoint ({reason}); {kept}") from exc
    for old in sorted(folder.glob("step_*.safetensors"))[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def remove_stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in checkpoints/; returns them."""
    folder = checkpoint_dir(run_dir)
    stale = [*folder.glob(".step_*"), *folder.glob(".latest.*")] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary files of an interrupted checkpoint write in %s", len(stale), folder)
    return stale


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint named by checkpoints/latest.json, else the highest step file, else None."""
    folder = checkpoint_dir(run_dir)
    pointer = folder / LATEST_FILE
    if pointer.is_file():
        try:
            name = str(read_json_file(pointer, "checkpoint pointer").get("file", ""))
        except SceneError:
            name = ""  # a broken pointer: fall back to the files themselves
        path = folder / name
        if name.startswith("step_") and "/" not in name and path.is_file():
            return path
    files = sorted(folder.glob("step_*.safetensors"))
    return files[-1] if files else None


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors) of one checkpoint file, with the metadata's essentials checked."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = json.loads((f.metadata() or {})["panolift"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own types for truncated or foreign files
        raise SceneError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int) or "config" not in meta:
        raise SceneError(f"{path}: not a panolift checkpoint (no step or config in its metadata)")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise SceneError(f"{path}: checkpoint format {meta['format_version']} is newer than this panolift")
    return meta, tensors
