"""Shared fixtures. Scenes and runs are made once per session in a temporary folder (nothing is tracked)."""

from __future__ import annotations

import pytest
