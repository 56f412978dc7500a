"""Checkpoint files of a run folder: one safetensors file per checkpoint, written atomically.

    RUN/checkpoints/step_XXXXXX.safetensors   tensors of the trainer's state (:mod:`panolift.lift.state`)
                                              and, in the safetensors metadata under "panolift", JSON
                                              with the format version and the state's metadata
    RUN/checkpoints/latest.json               {"step": N, "file": "step_XXXXXX.safetensors"}

A checkpoint is written to a temporary file and renamed over its name, then latest.json is (the same
way), then older checkpoints beyond ``keep`` are removed: a kill at any moment leaves the previous
checkpoint intact and latest.json pointing at a complete file. Temporary files of a killed writer
(``.step_*``, ``.latest.*``, and ``.tmp*``: safetensors writes a temporary file of its own, which it renames
onto ``.step_*``) are removed by :func:`remove_stale_temporaries`.

Every reader checks what it reads (:mod:`panolift.runs.validate`): latest.json must name a step file of the
folder, a checkpoint must be a regular safetensors file of sane size whose metadata, tensor names, shapes
and dtypes fit its configuration (before any tensor is read) and whose values are finite.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from panolift.scene import SceneError
from panolift.scene.io import atomic_path, check_regular_file, write_json

from .folder import FORMAT_VERSION, read_json_file
from .validate import (
    MAX_CHECKPOINT_BYTES,
    MAX_HEADER_BYTES,
    check_checkpoint_headers,
    check_checkpoint_meta,
    check_checkpoint_values,
)

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"
CHECKPOINT_NAME = re.compile(r"step_(\d{6,})\.safetensors")


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
        try:
            intact = latest_checkpoint(run_dir)
        except SceneError:
            intact = None
        kept = f"the last complete checkpoint is {intact}" if intact else "no checkpoint was written yet"
        reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
        raise SceneError(f"{path}: cannot write checkpoint ({reason}); {kept}") from exc
    for old in checkpoint_files(run_dir)[:-keep] if keep > 0 else []:
        if old.is_file():
            old.unlink(missing_ok=True)
    return path


def remove_stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in checkpoints/; returns them. A folder of such a
    name is not ours: it is left alone (with a warning)."""
    folder = checkpoint_dir(run_dir)
    patterns = (".step_*", ".latest.*", ".tmp*")  # .tmp*: safetensors' own file, renamed onto .step_*
    stale = [p for pattern in patterns for p in folder.glob(pattern)] if folder.is_dir() else []
    removed = []
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            log.warning("%s: a folder where panolift writes temporary files; left alone", path)
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise SceneError(
                f"{path}: cannot remove a stale temporary file ({exc.strerror or exc})"
            ) from None
        removed.append(path)
    if removed:
        log.info("removed %d temporary files of an interrupted checkpoint write in %s", len(removed), folder)
    return removed


def step_of(name: str) -> int | None:
    """The step of a checkpoint file name ``step_XXXXXX.safetensors``, else None."""
    match = CHECKPOINT_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def checkpoint_files(run_dir: str | Path) -> list[Path]:
    """The step_XXXXXX.safetensors entries of checkpoints/, by step (none when there is no folder)."""
    folder = checkpoint_dir(run_dir)
    if not os.path.lexists(folder):
        return []
    if not folder.is_dir():
        raise SceneError(f"{folder}: not a folder (where a run keeps its checkpoints)")
    named = [(step_of(p.name), p) for p in folder.iterdir()]
    return [p for step, p in sorted((s, p) for s, p in named if s is not None)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint named by checkpoints/latest.json, else (no latest.json: a run killed between its
    first checkpoint and the pointer) the highest step file, else None. A latest.json that is not a
    pointer to a checkpoint file of the folder is an error (writes are atomic: it was not written so)."""
    folder = checkpoint_dir(run_dir)
    files = checkpoint_files(run_dir)
    pointer = folder / LATEST_FILE
    if not os.path.lexists(pointer):
        return files[-1] if files else None
    data = read_json_file(pointer, "checkpoint pointer")
    name, step = data.get("file"), data.get("step")
    fix = "; delete it to use the newest step_*.safetensors there"
    if not isinstance(name, str) or step_of(name) is None:
        raise SceneError(
            f"{pointer}: 'file' must name a step_NNNNNN.safetensors in {folder}, got {name!r}{fix}"
        )
    if step is None:
        raise SceneError(f"{pointer}: no 'step'{fix}")
    if not isinstance(step, int) or isinstance(step, bool) or step != step_of(name):
        raise SceneError(f"{pointer}: 'step' {step!r} does not match the file it names ({name}){fix}")
    path = folder / name
    if not os.path.lexists(path):
        raise SceneError(f"{pointer}: points at {name}, which is missing{fix}")
    return path


def read_checkpoint(
    path: Path, device: torch.device | str = "cpu", num_classes: int | None = None
) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors) of one checkpoint file, checked before its tensors are read: a regular file of
    sane size, its metadata (:func:`~panolift.runs.validate.check_checkpoint_meta`), the names, shapes and
    dtypes of its tensors (against its configuration and ``num_classes`` when given), then finite values."""
    path = Path(path)
    size = check_regular_file(path, "checkpoint", max_bytes=MAX_CHECKPOINT_BYTES)
    with open(path, "rb") as f:
        header = int.from_bytes(f.read(8), "little")
    if size < 8 or header < 2 or header > MAX_HEADER_BYTES or 8 + header > size:
        raise SceneError(
            f"{path}: not a safetensors checkpoint ({size} bytes, a header of {header} bytes): truncated or "
            "another kind of file"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            headers = {
                k: (tuple(f.get_slice(k).get_shape()), str(f.get_slice(k).get_dtype())) for k in f.keys()
            }
            if "panolift" not in metadata:
                raise SceneError(f"{path}: not a panolift checkpoint (no 'panolift' entry in its metadata)")
            try:
                meta = json.loads(metadata["panolift"])
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                raise SceneError(f"{path}: checkpoint metadata is not JSON ({exc})") from None
            config = check_checkpoint_meta(path, meta, FORMAT_VERSION)
            named = step_of(path.name)
            if named is not None and named != meta["step"]:
                raise SceneError(
                    f"{path}: holds the state of step {meta['step']}, not of the step its name says"
                )
            check_checkpoint_headers(path, config, headers, num_classes)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SceneError:
        raise
    except Exception as exc:  # safetensors raises its own types for truncated or foreign files
        raise SceneError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    check_checkpoint_values(path, tensors)
    return meta, {k: v.to(device) for k, v in tensors.items()}
