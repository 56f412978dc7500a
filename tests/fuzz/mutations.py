"""A corpus of malformed scene folders, generated at test time from a small valid scene.

Not a test module: the fuzz tests load it by path. Each :class:`Case` turns a copy of the base scene (six
frames of the synthetic `tiny` scene, colour as JPEG like the released data) into one kind of bad (or
unusual but valid) input, and says which file the error must name and the latest stage that must catch it:
"construct" (``Scene(...)``), "validate" (the cheap per-frame check of `panolift info`) or "deep"
(``validate(deep=True)``). ``expect=None`` means the input is valid and everything must succeed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FRAMES = ["0", "1", "2", "3", "4", "5"]
FRAME = "3"  # a train frame, not the first one (the first colour image is read at construction)
STAGES = ("construct", "validate", "deep")
LABEL_FOLDERS = (
    "m2f_semantics",
    "m2f_instance",
    "m2f_segments",
    "m2f_notta_semantics",
    "m2f_notta_instance",
    "rs_semantics",
    "rs_instance",
    "depth",
)


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[Path], None]
    expect: str | None  # a piece of the offending file's path that the message must contain; None: valid
    stage: str = "deep"  # the latest stage that must report it


def make_base(tiny_scene: Path, root: Path) -> Path:
    """Six frames of the tiny scene, colour as JPEG, splits train 1 2 3 5 / test 0 4."""
    shutil.copytree(tiny_scene, root)
    for folder in [p for p in root.iterdir() if p.is_dir() and p.name != "intrinsic"]:
        for path in folder.iterdir():
            if path.stem not in FRAMES:
                path.unlink()
    for name in FRAMES:
        png = root / "color" / f"{name}.png"
        Image.open(png).convert("RGB").save(root / "color" / f"{name}.jpg", quality=95)
        png.unlink()
    (root / "splits.json").write_text(json.dumps({"train": ["1", "2", "3", "5"], "test": ["0", "4"]}))
    return root


# ----------------------------------------------------------------------------------- folder hashing
def fingerprint(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following links, never opening anything but regular files); files
    over 64 MiB (the sparse ones of the corpus) are known by size and modification time rather than read."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISREG(st.st_mode) and st.st_size > 64 << 20:
                out[rel] = f"big:{st.st_size}:{st.st_mtime_ns}"
            elif stat.S_ISREG(st.st_mode):
                out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = "link:" + os.readlink(path)
            else:
                out[rel] = f"mode:{stat.S_IFMT(st.st_mode)}"
    return out


# ----------------------------------------------------------------------------------- building blocks
def _clear(path: Path) -> None:
    if path.is_symlink() or path.is_file() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def put(rel: str, data: bytes) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        (root / rel).write_bytes(data)

    return mutate


def put_text(rel: str, text: str) -> Callable[[Path], None]:
    return put(rel, text.encode())


def put_json(rel: str, obj) -> Callable[[Path], None]:
    return put(rel, json.dumps(obj).encode())


def edit_json(rel: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        obj = json.loads((root / rel).read_text())
        obj = change(obj) or obj
        (root / rel).write_text(json.dumps(obj))

    return mutate


def make_dir(rel: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        (root / rel).mkdir()

    return mutate


def make_fifo(rel: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        os.mkfifo(root / rel)

    return mutate


def link(rel: str, target: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        os.symlink(target, root / rel)

    return mutate


def link_to_copy(rel: str) -> Callable[[Path], None]:
    """A symbolic link to a regular file with the same content (valid)."""

    def mutate(root: Path) -> None:
        target = root / f".{Path(rel).name}.real"
        shutil.move(root / rel, target)
        os.symlink(target, root / rel)

    return mutate


def remove(rel: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / rel
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    return mutate


def truncate(rel: str, keep: float) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * keep)])

    return mutate


def trim(rel: str, count: int) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[:-count])

    return mutate


def corrupt_middle(rel: str) -> Callable[[Path], None]:
    """Overwrite 64 bytes in the middle with noise holding 0xFF bytes (stray markers in a JPEG's scan,
    bad zlib data or CRC in a PNG). Noise that a JPEG decoder decodes without complaint cannot be told
    from valid data (JPEG has no checksum) and is not in the corpus."""

    def mutate(root: Path) -> None:
        data = bytearray((root / rel).read_bytes())
        mid = len(data) // 2
        noise = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8)
        noise[::7] = 0xFF
        data[mid : mid + 64] = noise.tobytes()
        (root / rel).write_bytes(bytes(data))

    return mutate


def sparse_file(rel: str, size: int) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        with open(root / rel, "wb") as f:
            f.write(b"{")
            f.truncate(size)

    return mutate


def image(rel: str, array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _clear(root / rel)
        buf = io.BytesIO()
        Image.fromarray(array, mode=mode).save(buf, format=fmt)
        (root / rel).write_bytes(buf.getvalue())

    return mutate


def edit_label(rel: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        with Image.open(root / rel) as img:
            array = np.asarray(img)
        Image.fromarray(change(array.copy())).save(root / rel, format="PNG")

    return mutate


def save_npz(rel: str, change: Callable[[dict], dict], allow_pickle: bool = False) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        with np.load(root / rel) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays = change(arrays)
        _clear(root / rel)
        with open(root / rel, "wb") as f:
            np.savez(f, **arrays)

    return mutate


def set_pose(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        pose = np.loadtxt(root / "pose" / f"{name}.txt")
        np.savetxt(root / "pose" / f"{name}.txt", change(pose.copy()))

    return mutate


def set_intrinsics(change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / "intrinsic" / "intrinsic_color.txt"
        np.savetxt(path, change(np.loadtxt(path)))

    return mutate


def pickle_segmentation(obj=None, raw: bytes | None = None) -> Callable[[Path], None]:
    """Replace segmentation_data.json by a segmentation_data.pkl (``raw`` bytes, or ``obj`` pickled)."""

    def mutate(root: Path) -> None:
        data = json.loads((root / "segmentation_data.json").read_text())
        (root / "segmentation_data.json").unlink()
        content = raw if raw is not None else pickle.dumps(obj(data) if callable(obj) else obj, protocol=4)
        (root / "segmentation_data.pkl").write_bytes(content)

    return mutate


def both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        for m in mutations:
            m(root)

    return mutate


def _with(key, value):
    def change(obj):
        obj[key] = value
        return obj

    return change


def _without(key):
    def change(obj):
        del obj[key]
        return obj

    return change
