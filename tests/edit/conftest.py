"""Fixtures of the edit and export tests: the analytic box field and a camera (tests/edit/helpers.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch


def load_helpers():
    """tests/edit/helpers.py as a module (importlib import mode: test folders are not packages)."""
    name = "panolift_edit_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "edit" / "helpers.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


boxes = load_helpers()


@pytest.fixture(scope="session")
def box_field():
    return boxes.BoxField()


@pytest.fixture(scope="session")
def camera():
    """(K, c2w, width, height): a view of the whole analytic scene from the front, above the floor."""
    width, height = 64, 48
    K = torch.tensor([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
    return K, boxes.look_at((0.0, -1.5, 0.3), (0.0, 0.1, -0.35)), width, height


@pytest.fixture(scope="session")
def thing_mask() -> torch.Tensor:
    from panolift.render import thing_mask_of

    return thing_mask_of(boxes.SCANNET21)


@pytest.fixture(scope="session")
def render_fn():
    return boxes.march


@pytest.fixture(scope="session")
def box_field_cls():
    return boxes.BoxField


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread in these test modules (restored after each): the small tensors here gain nothing from
    more, and on a small shared machine extra threads only spin (measured: 8 s vs 46 s for tests/edit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
