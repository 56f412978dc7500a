"""A restricted unpickler for segmentation_data.pkl: plain containers, numbers and numpy arrays only.

The pickle comes from outside the project, and ``pickle.load`` executes arbitrary code. This unpickler
resolves only an allow-list of globals (what numpy needs to rebuild arrays and scalars); anything else is
refused with an error before it is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
}


class UnsafePickleError(ValueError):
    """The pickle names a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module == "numpy" and name.startswith(("int", "uint", "float", "bool", "complex")):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._source}: refusing to load '{module}.{name}'; only plain containers, numbers and "
            "numpy arrays are allowed in segmentation data"
        )


def load_restricted_pickle(path: str | Path) -> object:
    """Load a pickle admitting only plain containers, numbers and numpy arrays/scalars."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return _RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or corrupt pickles
        raise UnsafePickleError(f"{path}: not a readable pickle ({exc})") from exc
