"""Fixtures of the viewer tests: the shared tiny run opened in a viewer session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def session(tiny_run):
    """A :class:`panolift.view.ViewerSession` on the tiny run (module-scoped: tests that edit it undo)."""
    from panolift.view import ViewerSession

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield ViewerSession.open(tiny_run)
    finally:
        torch.set_num_threads(threads)
