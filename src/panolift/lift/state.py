"""The state of a lifting as named tensors plus JSON-able metadata: what a checkpoint holds.

Tensors: ``field.<name>`` (the field's state dict), ``optim.<optimizer>.<index>.<key>`` (Adam moments) and
``rng.torch`` (the batch generator). Metadata: config, step, grid shape, box, optimizer hyper-parameters and
scalars, loss history, elapsed time. Reading and writing files is the business of :mod:`panolift.runs`.
"""

from __future__ import annotations

import torch

from panolift.config import LiftConfig
from panolift.field import PanopticField


def optimizer_to_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(tensors ``optim.<name>.<index>.<key>``, metadata {param_groups, scalars}) of an optimizer."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, param_state in state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer(name: str, optimizer: torch.optim.Optimizer, meta: dict, tensors: dict) -> None:
    """Restore an optimizer built over the same parameters from :func:`optimizer_to_tensors`' output."""
    saved = meta["optimizers"][name]
    state: dict[int, dict] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, key_name = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[key_name] = value
    for key, value in saved["scalars"].items():
        idx, key_name = key.split(".", 1)
        state.setdefault(int(idx), {})[key_name] = value
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def field_to_tensors(field: PanopticField) -> dict[str, torch.Tensor]:
    """``field.<name>`` -> contiguous CPU tensor for every entry of the field's state dict."""
    return {f"field.{k}": v.detach().cpu().contiguous() for k, v in field.state_dict().items()}


def field_from_tensors(meta: dict, tensors: dict[str, torch.Tensor], num_classes: int) -> PanopticField:
    """The field of a state (grid shapes as saved, after any upsampling or shrinking)."""
    config = LiftConfig.from_dict(meta["config"])
    state = {k[len("field.") :]: v for k, v in tensors.items() if k.startswith("field.")}
    return PanopticField.from_state_dict(config.field, num_classes, state, bounded=config.loss.bounded)
