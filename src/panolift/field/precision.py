"""The precision of the field's MLPs when whole images are rendered: float32, or bfloat16 where the device
multiplies it natively (``RenderConfig.image_precision``).

A rendered frame spends much of its time in the colour MLP and the heads' MLPs (small matrix products on
hundreds of thousands of samples); on a CPU with AMX tiles or a GPU with bfloat16 those run 2-3x faster
in bfloat16; on a CPU with AVX-512 BF16 alone a frame is about 15% faster in all. Only the MLPs' linear layers change precision (:func:`run_mlp`, under
autocast): their inputs (grid features, positional encodings) are computed in float32, their outputs are
cast back to float32 before the sigmoid or softmax, and the density, the weights and the sums along the
rays never leave float32. Training, and anything with gradients, is always float32.

The setting is per thread (:func:`mlp_precision`), so that each of the renderer's parallel chunks of rays
carries it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from panolift.errors import OptionError

PRECISIONS = ("auto", "float32", "bfloat16")

_state = threading.local()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty where there is no such file)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively and fast: a CUDA GPU that supports it, or a CPU with
    AMX tiles (measured: the MLPs 2.3x faster) or with AVX-512 BF16 instructions (an AMD EPYC without AMX,
    stop 64: frames 0.336 -> 0.281 s at 2 threads, the same labels). Elsewhere bfloat16 products are
    emulated (slower than float32); ``bfloat16`` asks for them anyway."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch.cpu, from torch 2.1 on
        return (bool(amx()) if callable(amx) else False) or "avx512_bf16" in cpu_flags()
    return False


def mlp_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of the MLPs for ``precision`` ("auto", "float32" or "bfloat16") on ``device``."""
    if precision not in PRECISIONS:
        raise OptionError(f"image_precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "bfloat16" or (precision == "auto" and native_bfloat16(device)):
        return torch.bfloat16
    return torch.float32


@contextmanager
def mlp_precision(dtype: torch.dtype | None) -> Iterator[None]:
    """Inside (this thread): :func:`run_mlp` evaluates MLPs without gradients in ``dtype`` (None or
    float32: in float32)."""
    previous = getattr(_state, "dtype", None)
    _state.dtype = dtype
    try:
        yield
    finally:
        _state.dtype = previous


def run_mlp(mlp: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``mlp(inputs)`` in float32, or, inside :func:`mlp_precision` and without gradients, its linear layers
    in that precision (autocast); the result is float32 either way."""
    dtype = getattr(_state, "dtype", None)
    if dtype is None or dtype == torch.float32 or torch.is_grad_enabled():
        return mlp(inputs)
    with torch.autocast(inputs.device.type, dtype=dtype):
        return mlp(inputs).float()
