"""Probing a field outside of image rendering: its box and device, evaluation of many points in chunks,
and the wrapper base class that edits build on.

A *field* is anything callable as ``field(points, dirs) -> FieldOutputs``. The optional speed-ups a field
may offer (``density(points)``, ``occupancy``) are read with :func:`own_attribute`, so that a wrapper,
which forwards unknown attributes to the field it wraps, never inherits them by accident.
"""

from __future__ import annotations

import torch
from torch import nn

from panolift.field.outputs import FieldOutputs

UNIT_BOX = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


def own_attribute(field, name: str):
    """``field.name`` if the field's class defines ``name`` itself (not forwarded by ``__getattr__``)."""
    return getattr(field, name) if getattr(type(field), name, None) is not None else None


def box_of(field) -> torch.Tensor:
    """(2, 3) sampling box of a field: its ``aabb``, else the unit box [-1, 1]^3."""
    aabb = getattr(field, "aabb", None)
    return aabb if isinstance(aabb, torch.Tensor) else torch.tensor(UNIT_BOX)


def field_device(field: nn.Module) -> torch.device:
    """The device of a field's first parameter or buffer (cpu for a field without tensors)."""
    for tensor in list(field.parameters()) + list(field.buffers()):
        return tensor.device
    return torch.device("cpu")


class FieldWrapper(nn.Module):
    """A field that modifies another one (``self.field``) and forwards unknown attributes to it, so that
    code reading e.g. ``aabb`` or ``normalization`` of a field keeps working on a wrapped one."""

    def __init__(self, field: nn.Module):
        super().__init__()
        self.field = field

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "field" not in modules:
                raise
            return getattr(modules["field"], name)


def unwrap_field(field: nn.Module) -> nn.Module:
    """The field under every :class:`FieldWrapper`."""
    while isinstance(field, FieldWrapper):
        field = field.field
    return field


@torch.no_grad()
def evaluate_field_in_chunks(
    field, points: torch.Tensor, dirs: torch.Tensor | None = None, chunk_points: int = 65536
) -> FieldOutputs:
    """field(points, dirs) over (num_points, 3) points in chunks, concatenated (dirs default to +z)."""
    if dirs is None:
        dirs = torch.zeros_like(points)
        dirs[:, 2] = 1.0
    parts = [
        field(points[i : i + chunk_points], dirs[i : i + chunk_points])
        for i in range(0, points.shape[0], chunk_points)
    ]
    if not parts:
        raise ValueError("no points to evaluate")

    def cat(name: str) -> torch.Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values, dim=0)

    return FieldOutputs(
        density=cat("density"), rgb=cat("rgb"), semantics=cat("semantics"), instance=cat("instance")
    )


@torch.no_grad()
def evaluate_density(field, points: torch.Tensor, chunk_points: int = 65536) -> torch.Tensor:
    """Density at (num_points, 3) points -> (num_points,): the field's own ``density(points)`` when its
    class defines one (no colour or heads evaluated), else ``field(points, dirs).density``."""
    density_fn = own_attribute(field, "density")
    if callable(density_fn):
        return torch.cat(
            [density_fn(points[i : i + chunk_points]) for i in range(0, points.shape[0], chunk_points)]
        )
    return evaluate_field_in_chunks(field, points, chunk_points=chunk_points).density
