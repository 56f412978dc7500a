"""File helpers for the scene layout: images, matrices and atomic writes."""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from panolift.errors import PanoliftError


class SceneError(PanoliftError, ValueError):
    """A scene folder (or a file in it) is malformed. The message names the file and the problem."""


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it over ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_image(path: str | Path, array: np.ndarray, quality: int = 95) -> None:
    """Write uint8 (H,W) / (H,W,3) or uint16 (H,W) arrays as PNG or JPEG (by suffix, JPEG at ``quality``),
    atomically."""
    path = Path(path)
    if array.dtype == np.uint16:
        img = Image.fromarray(array)  # 16-bit greyscale PNG
    else:
        img = Image.fromarray(np.asarray(array, dtype=np.uint8))
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            img.save(tmp, format="JPEG", quality=quality)
        else:
            img.save(tmp, format="PNG")


# ----------------------------------------------------------------------------------- safe reading
# Only regular files are opened (a FIFO or a device in place of a file would block or never end), and
# every read has a size cap, so that a malformed or hostile scene folder gives an error, not a hang.
MAX_TEXT_BYTES = 1 << 16  # a 4x4 matrix file
MAX_JSON_BYTES = 64 << 20  # splits.json, segmentation_data.json
MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 64_000_000
COLOR_MODES = ("RGB", "L", "P", "RGBA", "LA", "CMYK", "YCbCr")  # 8-bit modes that convert to RGB
LABEL_MODES = ("L", "P", "I;16", "I;16L", "I;16B", "I", "RGB")  # one channel (or RGB with equal channels)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def check_regular_file(path: str | Path, what: str = "file", max_bytes: int | None = None) -> int:
    """Refuse anything but an existing, non-empty regular file (symbolic links to one are fine), before
    it is opened; returns its size in bytes."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise SceneError(f"{path}: broken symbolic link ({what})") from None
        raise SceneError(f"{path}: missing {what}") from None
    except OSError as exc:
        raise SceneError(f"{path}: cannot access {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SceneError(
            f"{path}: {_kind(st.st_mode)} where a regular file is expected ({what}); refusing to read it"
        )
    if st.st_size == 0:
        raise SceneError(f"{path}: empty file ({what})")
    if max_bytes is not None and st.st_size > max_bytes:
        raise SceneError(
            f"{path}: {st.st_size} bytes, more than the {max_bytes} a {what} may have; refusing to read it"
        )
    return st.st_size


def read_bytes(path: str | Path, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see :func:`check_regular_file`)."""
    check_regular_file(path, what, max_bytes)
    try:
        with open(path, "rb") as f:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    except OSError as exc:
        raise SceneError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise SceneError(f"{path}: more than {max_bytes} bytes ({what}); refusing to read it")
    return data


def read_text(path: str | Path, what: str = "text file", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file (a byte-order mark is allowed) of at most ``max_bytes``."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SceneError(f"{path}: not UTF-8 text ({what}; byte {exc.start})") from None


def read_json(path: str | Path, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES):
    """Parse a UTF-8 JSON file of at most ``max_bytes``; errors name the file and the problem."""
    text = read_text(path, what, max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SceneError(f"{path}: invalid JSON ({exc})") from None
    except RecursionError:
        raise SceneError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise SceneError(f"{path}: invalid JSON ({exc})") from None


def _open_image(path: Path, data: bytes | None = None):
    return Image.open(io.BytesIO(data) if data is not None else path)


def _check_image_header(path: Path, img, what: str, modes: tuple[str, ...]) -> None:
    w, h = img.size
    if w < 1 or h < 1 or w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS:
        raise SceneError(
            f"{path}: {what} is {w}x{h}; panolift reads images of at most {MAX_IMAGE_SIDE} pixels a side "
            f"and {MAX_IMAGE_PIXELS // 1_000_000} megapixels"
        )
    if img.mode not in modes:
        raise SceneError(f"{path}: {what} has pixel mode {img.mode}, expected one of {', '.join(modes)}")


def image_header(path: str | Path, what: str = "image") -> tuple[tuple[int, int], str, str]:
    """((width, height), PIL mode, format) from the header, without decoding pixels."""
    path = Path(path)
    check_regular_file(path, what)
    try:
        with _open_image(path) as img:
            return img.size, img.mode, str(img.format)
    except Exception as exc:
        raise SceneError(f"{path}: cannot read {what} ({exc})") from exc


def check_color_header(path: str | Path) -> tuple[int, int]:
    """(width, height) of a colour image, checking its header (size limits, an 8-bit mode)."""
    path = Path(path)
    check_regular_file(path, "colour image")
    try:
        with _open_image(path) as img:
            _check_image_header(path, img, "colour image", COLOR_MODES)
            return img.size
    except SceneError:
        raise
    except Exception as exc:
        raise SceneError(f"{path}: cannot read colour image ({exc})") from exc


def check_label_header(
    path: str | Path, what: str = "label image", lossy_ok: bool = False
) -> tuple[int, int]:
    """(width, height) of a label image, checking its header: size limits, one channel, lossless format."""
    path = Path(path)
    check_regular_file(path, what)
    try:
        with _open_image(path) as img:
            _check_image_header(path, img, what, LABEL_MODES + (("RGBA", "LA", "1") if lossy_ok else ()))
            if img.format == "JPEG" and not lossy_ok:
                raise SceneError(f"{path}: {what} is a JPEG; labels must be stored losslessly (PNG)")
            return img.size
    except SceneError:
        raise
    except Exception as exc:
        raise SceneError(f"{path}: cannot read {what} ({exc})") from exc


def _jpeg_is_complete(data: bytes) -> bool:
    """An end-of-image marker after the first start-of-scan (entropy-coded data never holds FF D9)."""
    sos = data.find(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos) >= 0


def _png_problem(data: bytes) -> str | None:
    """Why a PNG's chunks are not intact (a bad CRC, no IEND), or None. Decoders stop reading once they
    have every pixel and do not check the image data's CRC, so corruption there would pass silently."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            break
        kind = data[pos + 4 : pos + 8]
        if zlib.crc32(data[pos + 4 : pos + 8 + length]) != int.from_bytes(data[end - 4 : end], "big"):
            return f"corrupt PNG (bad checksum in the {kind.decode('latin-1')} chunk)"
        if kind == b"IEND":
            return None
        pos = end
    return "truncated PNG (no IEND chunk)"


def _check_complete(path: Path, img, data: bytes) -> None:
    if img.format == "JPEG" and not _jpeg_is_complete(data):
        raise SceneError(f"{path}: truncated JPEG (no end-of-image marker)")
    if img.format == "PNG" and (problem := _png_problem(data)) is not None:
        raise SceneError(f"{path}: {problem}")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an 8-bit colour image as uint8 (H,W,3); a truncated or broken file is an error."""
    path = Path(path)
    data = read_bytes(path, "colour image")
    try:
        with _open_image(path, data) as img:
            _check_image_header(path, img, "colour image", COLOR_MODES)
            _check_complete(path, img, data)
            img.load()
            return np.asarray(img.convert("RGB"))
    except SceneError:
        raise
    except Exception as exc:
        raise SceneError(f"{path}: cannot read colour image ({exc})") from exc


def read_label(path: str | Path, what: str = "label image", lossy_ok: bool = False) -> np.ndarray:
    """Read a label image (8- or 16-bit, one channel; RGB only with equal channels) as int64 (H,W).

    ``lossy_ok`` admits JPEG and alpha/bilevel modes (for masks such as ``invalid/``, where only
    nonzero matters)."""
    path = Path(path)
    data = read_bytes(path, what)
    try:
        with _open_image(path, data) as img:
            _check_image_header(path, img, what, LABEL_MODES + (("RGBA", "LA", "1") if lossy_ok else ()))
            if img.format == "JPEG" and not lossy_ok:
                raise SceneError(f"{path}: {what} is a JPEG; labels must be stored losslessly (PNG)")
            _check_complete(path, img, data)
            img.load()
            arr = np.asarray(img)
    except SceneError:
        raise
    except Exception as exc:
        raise SceneError(f"{path}: cannot read {what} ({exc})") from exc
    if arr.ndim == 3:  # some tools save labels as RGB with equal channels
        same = np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., -1])
        if not (same or lossy_ok):
            raise SceneError(f"{path}: {what} is RGB with different channels; labels have one channel")
        arr = arr[..., 0]
    arr = arr.astype(np.int64)
    if arr.min(initial=0) < 0:
        raise SceneError(f"{path}: {what} has negative values ({arr.min()})")
    return arr


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image without decoding its pixels."""
    return image_header(path)[0]


def read_matrix(path: str | Path, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Read a whitespace-separated matrix text file; errors name the file and the problem."""
    text = read_text(path, "matrix file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input file" is reported below as a shape
            mat = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except Exception as exc:
        raise SceneError(f"{path}: cannot parse matrix ({exc})") from None
    if mat.shape != shape:
        raise SceneError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise SceneError(f"{path}: matrix has non-finite entries")
    return mat


# ----------------------------------------------------------------------------------- npz archives
MAX_NPZ_MEMBERS = 64


def read_npz_headers(
    path: str | Path, what: str = "npz archive"
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of the arrays in an .npz, from the .npy headers only (nothing decoded)."""
    path = Path(path)
    check_regular_file(path, what)
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise SceneError(f"{path}: {len(members)} members in the archive; expected a few arrays")
            for info in members:
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    reader = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = reader(f)
                out[info.filename[: -len(".npy")]] = (tuple(int(n) for n in shape), np.dtype(dtype))
    except SceneError:
        raise
    except Exception as exc:
        raise SceneError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None
    for name, (_, dtype) in out.items():
        if dtype.hasobject:
            raise SceneError(f"{path}: array '{name}' holds pickled Python objects; refusing to load it")
    return out


def read_npz_arrays(path: str | Path, names: list[str], what: str = "npz archive") -> dict[str, np.ndarray]:
    """The arrays ``names`` (those present) of an .npz; never unpickles."""
    path = Path(path)
    check_regular_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: np.asarray(npz[name]) for name in names if name in npz.files}
    except Exception as exc:
        raise SceneError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def write_matrix(path: str | Path, mat: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(mat, dtype=np.float64), fmt="%.9f")


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
