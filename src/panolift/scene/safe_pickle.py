"""A restricted unpickler for segmentation_data.pkl: plain containers, numbers and numpy arrays only.

The pickle comes from outside the project, and ``pickle.load`` executes arbitrary code. This unpickler
resolves only an allow-list of globals (what numpy needs to rebuild arrays and scalars); anything else is
refused with an error before it is called. The allowed callables are wrapped so that they cannot be
turned into memory bombs either (``numpy.ndarray(shape)``, ``set(range(10**12))``, ``numpy.int64(range)``),
the file size is capped, and the loaded data is walked with a budget: a list of ten million references
to one object (a few megabytes of pickle) is refused like anything else that is too large.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .io import SceneError, read_bytes

MAX_PICKLE_BYTES = 64 << 20
MAX_DATA_ITEMS = 1_000_000  # elements of the loaded data, counting every reference (shared or not)
MAX_DATA_DEPTH = 32  # nesting of containers


class UnsafePickleError(SceneError):
    """The pickle names a global outside the allow-list, or is not a readable, reasonably sized pickle."""


def _numpy_reconstruct(module: str):
    reconstruct = pickle.Unpickler(io.BytesIO()).find_class(module, "_reconstruct")

    def safe_reconstruct(subtype, shape, dtype):
        # numpy pickles an array as _reconstruct(ndarray, (0,), b"b") followed by __setstate__ with the
        # real shape, dtype and bytes (checked against each other by numpy): the shape here is never
        # needed, and honouring it would allocate whatever the file asks for.
        return reconstruct(np.ndarray, (0,), dtype)

    return safe_reconstruct


class _NdarrayPlaceholder:
    """Stands for numpy.ndarray as the argument of _reconstruct; calling it would allocate any shape."""

    def __new__(cls, *args, **kwargs):
        raise UnsafePickleError("calling numpy.ndarray directly is not allowed in segmentation data")


def _from_materialized(factory):
    def build(items=()):
        if not isinstance(items, (list, tuple, set, frozenset, str, bytes)):
            raise UnsafePickleError(f"{factory.__name__}() of a {type(items).__name__} is not allowed")
        return factory(items)

    return build


def _numpy_scalar_type(cls):
    def build(*args):
        if not all(isinstance(a, (int, float, complex, str, bytes, np.generic)) for a in args):
            raise UnsafePickleError(f"numpy.{cls.__name__}() of a sequence is not allowed")
        return cls(*args)

    return build


_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): lambda: _NdarrayPlaceholder,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_reconstruct("numpy.core.multiarray"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_reconstruct("numpy._core.multiarray"),
    ("numpy.core.multiarray", "scalar"): lambda: _find("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): lambda: _find("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): lambda: _find("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): lambda: _find("numpy._core.numeric", "_frombuffer"),
    ("builtins", "set"): lambda: _from_materialized(set),
    ("builtins", "frozenset"): lambda: _from_materialized(frozenset),
    ("builtins", "complex"): lambda: complex,
    ("builtins", "slice"): lambda: slice,
    ("builtins", "range"): lambda: range,
    ("collections", "OrderedDict"): lambda: OrderedDict,
    ("_codecs", "encode"): lambda: _find("_codecs", "encode"),
}


def _find(module: str, name: str):
    return pickle.Unpickler(io.BytesIO()).find_class(module, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]()
        if module == "numpy" and name.startswith(("int", "uint", "float", "bool", "complex")):
            cls = super().find_class(module, name)
            if isinstance(cls, type) and issubclass(cls, np.generic):
                return _numpy_scalar_type(cls)
        raise UnsafePickleError(
            f"{self._source}: refusing to load '{module}.{name}'; only plain containers, numbers and "
            "numpy arrays are allowed in segmentation data"
        )

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._source}: persistent references are not allowed")


def check_data_size(
    data: object, source: str, max_items: int = MAX_DATA_ITEMS, max_depth: int = MAX_DATA_DEPTH
) -> None:
    """Refuse loaded data with more than ``max_items`` elements (every reference counts, so sharing does
    not hide size) or containers nested deeper than ``max_depth``. Iterative: no recursion limit."""
    too_large = (
        f"{source}: more than {max_items} elements (counting shared references); refusing data this large"
    )
    stack = [(data, 0)]
    count = 1  # elements seen so far, pushed or popped
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, dict):
            children = [x for kv in obj.items() for x in kv]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = obj
        elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
            if obj.size > max_items:
                raise SceneError(too_large)
            children = obj.ravel().tolist()
        else:
            continue
        if not len(children):
            continue
        if depth >= max_depth:
            raise SceneError(f"{source}: containers nested more than {max_depth} levels deep")
        count += len(children)
        if count > max_items:
            raise SceneError(too_large)
        stack.extend((child, depth + 1) for child in children)


def load_restricted_pickle(path: str | Path) -> object:
    """Load a pickle admitting only plain containers, numbers and numpy arrays/scalars."""
    path = Path(path)
    data = read_bytes(path, "pickle", MAX_PICKLE_BYTES)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError as exc:
        if str(path) in str(exc):
            raise
        raise UnsafePickleError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or corrupt pickles
        raise UnsafePickleError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    try:
        check_data_size(obj, str(path))
    except SceneError as exc:
        raise UnsafePickleError(str(exc)) from None
    return obj
