"""The export tests use the edit tests' fixtures (analytic box field, camera, one torch thread)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def load_edit_conftest():
    """tests/edit/conftest.py as a module (importlib import mode: test folders are not packages)."""
    name = "panolift_edit_test_conftest"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "edit" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_edit = load_edit_conftest()
box_field = _edit.box_field
box_field_cls = _edit.box_field_cls
camera = _edit.camera
one_thread = _edit.one_thread
render_fn = _edit.render_fn
thing_mask = _edit.thing_mask
