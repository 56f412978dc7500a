"""The MLPs' precision for whole-image renders: which dtype each setting picks, and that only renders
without gradients leave float32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from panolift.errors import OptionError
from panolift.field.precision import mlp_dtype, mlp_precision, native_bfloat16, run_mlp


def test_each_setting_picks_its_dtype():
    cpu = torch.device("cpu")
    assert mlp_dtype("float32", cpu) == torch.float32
    assert mlp_dtype("bfloat16", cpu) == torch.bfloat16
    assert mlp_dtype("auto", cpu) == (torch.bfloat16 if native_bfloat16(cpu) else torch.float32)
    assert mlp_dtype("auto", torch.device("meta")) == torch.float32  # unknown devices: float32
    with pytest.raises(OptionError, match="image_precision 'half'"):
        mlp_dtype("half", cpu)


def test_a_cpu_is_native_in_bfloat16_with_amx_tiles_or_avx512_bf16(monkeypatch):
    import panolift.field.precision as precision

    cpu, real_flags = torch.device("cpu"), precision.cpu_flags
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert native_bfloat16(cpu) and mlp_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx2"}))
    assert not native_bfloat16(cpu) and mlp_dtype("auto", cpu) == torch.float32  # emulated: slower
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_bfloat16(cpu)
    real_flags.cache_clear()  # the real file: a set of flags, empty where /proc/cpuinfo is absent
    assert isinstance(real_flags(), frozenset)


def test_run_mlp_is_float32_with_gradients_and_bfloat16_inside_a_render():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 8))
    x = torch.randn(500, 16)
    exact = mlp(x)
    with mlp_precision(torch.bfloat16):
        trained = run_mlp(mlp, x)  # gradients on: training is float32
        with torch.no_grad():
            rendered = run_mlp(mlp, x)
    assert torch.equal(trained, exact) and trained.requires_grad
    assert rendered.dtype == torch.float32 and not torch.equal(rendered, exact.detach())
    torch.testing.assert_close(rendered, exact.detach(), atol=0.05, rtol=0.02)
    with torch.no_grad():
        assert torch.equal(run_mlp(mlp, x), exact.detach())  # outside the context: float32


def test_the_setting_is_per_thread():
    from concurrent.futures import ThreadPoolExecutor

    from panolift.field import precision

    with mlp_precision(torch.bfloat16), ThreadPoolExecutor(1) as pool:
        assert precision._state.dtype == torch.bfloat16
        assert pool.submit(lambda: getattr(precision._state, "dtype", None)).result() is None
    assert getattr(precision._state, "dtype", None) is None
