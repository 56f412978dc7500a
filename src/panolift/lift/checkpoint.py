"""Run folders and self-describing checkpoints.

RUN/run.json                         format version, scene path (absolute), config, class set, normalisation
RUN/checkpoints/step_XXXXXX.safetensors   one file per checkpoint: tensors (field, optimizer moments, RNG)
                                     and, in the safetensors metadata, JSON with the format version, config,
                                     step, grid shape, box, optimizer hyper-parameters and loss history
RUN/checkpoints/latest.json          {"step": N, "file": "step_XXXXXX.safetensors"}
All writes are atomic (temporary file + rename), so a killed run leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from panolift.config import LiftConfig
from panolift.field import PanopticField
from panolift.scene import ClassSet, SceneError, SceneNormalization
from panolift.scene.io import atomic_path, write_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def write_run_info(
    run_dir: Path,
    scene_path: Path,
    config: LiftConfig,
    class_set: ClassSet,
    normalization: SceneNormalization,
    image_size: tuple[int, int],
) -> None:
    """Write RUN/run.json (everything needed to rebuild the field besides the tensors)."""
    write_json(
        Path(run_dir) / "run.json",
        {
            "format_version": FORMAT_VERSION,
            "scene": str(Path(scene_path).resolve()),
            "config": config.to_dict(),
            "class_set": {"names": list(class_set.names), "thing_ids": list(class_set.thing_ids)},
            "normalization": normalization.to_dict(),
            "image_size": list(image_size),
        },
    )


def read_run_info(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise SceneError(f"{path}: not a run folder (no run.json; train one with `panolift train`)")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SceneError(f"{path}: invalid JSON ({exc})") from exc
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise SceneError(f"{path}: format version {info['format_version']} is newer than this panolift")
    return info


def _optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, param_state in state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(
    run_dir: Path,
    step: int,
    config: LiftConfig,
    field: PanopticField,
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
    history: list[dict],
    keep: int = 2,
    elapsed: float = 0.0,
) -> Path:
    """Write checkpoints/step_XXXXXX.safetensors atomically, point latest.json at it, prune old ones."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    tensors = {f"field.{k}": v.detach().cpu().contiguous() for k, v in field.state_dict().items()}
    tensors["rng.torch"] = generator.get_state().cpu()
    optim_meta = {}
    for name, optimizer in optimizers.items():
        opt_tensors, optim_meta[name] = _optimizer_tensors(name, optimizer)
        tensors.update(opt_tensors)
    meta = {
        "format_version": FORMAT_VERSION,
        "step": step,
        "config": config.to_dict(),
        "grid_shape": list(field.resolution),
        "aabb": field.aabb.cpu().tolist(),
        "occupancy_shape": list(field.occupancy_mask.shape),
        "optimizers": optim_meta,
        "rng_device": str(generator.device),
        "history": history,
        "elapsed": elapsed,
    }
    path = ckpt_dir / f"step_{step:06d}.safetensors"
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"panolift": json.dumps(meta)})
    write_json(ckpt_dir / "latest.json", {"step": step, "file": path.name})
    for old in sorted(ckpt_dir.glob("step_*.safetensors"))[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint named by checkpoints/latest.json, else the highest step file, else None."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    pointer = ckpt_dir / "latest.json"
    if pointer.exists():
        path = ckpt_dir / json.loads(pointer.read_text())["file"]
        if path.exists():
            return path
    files = sorted(ckpt_dir.glob("step_*.safetensors"))
    return files[-1] if files else None


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata dict, tensors) of one checkpoint file."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = json.loads(f.metadata()["panolift"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise SceneError(f"{path}: cannot read checkpoint ({exc})") from exc
    return meta, tensors


def field_from_checkpoint(meta: dict, tensors: dict[str, torch.Tensor], num_classes: int) -> PanopticField:
    config = LiftConfig.from_dict(meta["config"])
    state = {k[len("field.") :]: v for k, v in tensors.items() if k.startswith("field.")}
    return PanopticField.from_state_dict(config.field, num_classes, state, bounded=config.loss.bounded)


def load_optimizer(name: str, optimizer: torch.optim.Optimizer, meta: dict, tensors: dict) -> None:
    """Restore an optimizer built over the same parameters from a checkpoint."""
    saved = meta["optimizers"][name]
    state: dict[int, dict] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field_name = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[field_name] = value
    for key, value in saved["scalars"].items():
        idx, field_name = key.split(".", 1)
        state.setdefault(int(idx), {})[field_name] = value
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


@dataclass
class LoadedRun:
    """A trained run, ready to render."""

    run_dir: Path
    field: PanopticField  # eval mode
    config: LiftConfig
    scene_path: Path
    class_set: ClassSet
    normalization: SceneNormalization
    step: int
    image_size: tuple[int, int]  # (width, height) the run was trained at


def load_run(run_dir: str | Path, device: torch.device | str | None = None) -> LoadedRun:
    """Load run.json and the latest checkpoint; the field comes back in eval mode on ``device`` (cpu)."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    path = latest_checkpoint(run_dir)
    if path is None:
        raise SceneError(f"{run_dir / 'checkpoints'}: no checkpoint yet")
    meta, tensors = read_checkpoint(path)
    class_set = ClassSet(
        names=tuple(info["class_set"]["names"]), thing_ids=tuple(info["class_set"]["thing_ids"])
    )
    field = field_from_checkpoint(meta, tensors, class_set.num_classes)
    normalization = SceneNormalization.from_dict(info["normalization"])
    field.normalization = normalization
    field.render_config = LiftConfig.from_dict(meta["config"]).render
    field = field.to(device or "cpu").eval()
    return LoadedRun(
        run_dir=run_dir,
        field=field,
        config=LiftConfig.from_dict(meta["config"]),
        scene_path=Path(info["scene"]),
        class_set=class_set,
        normalization=normalization,
        step=int(meta["step"]),
        image_size=tuple(info["image_size"]),
    )
