"""Streaming training frames: every frame's compact targets on disk, a share of each frame's pixels in memory.

Above the memory budget, :func:`panolift.lift.batching.load_training_data` writes each training frame's
compact targets (:mod:`panolift.lift.targets`) to a :class:`FrameStore` and keeps ``num_held`` random usable
pixels of *every* frame in memory, so that each R_S batch is drawn across all frames as in memory. The held
pixels rotate: frame after frame, in order, draws a fresh subset of its pixels (a *refresh*), so that every
frame is refreshed once every ``pass_steps`` scene batches. :class:`RefreshSchedule` is a pure function of
how many scene batches were drawn (the *position*) and the subsets of a frame are drawn from
``(seed, frame, generation)``, so that a resumed run puts back exactly the pixels it held. R_I reads its one
frame whole from the store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .targets import PixelTargets

PASS_STEPS = 1024
"""Scene batches in which every frame draws a fresh subset of its pixels once."""
MIN_HELD = 256
"""The fewest pixels of each frame held, whatever the budget."""


class FrameStore:
    """One fixed-size record per frame in an anonymous temporary file (in ``directory``, default the system's
    temporary folder): the operating system removes it when the process ends, however it ends."""

    def __init__(self, num_frames: int, num_pixels: int, num_classes: int, num_slots: int, directory=None):
        example = PixelTargets.empty(1, num_pixels, num_classes, num_slots).tensors()
        self.layout = [(name, t.numpy().dtype, tuple(t.shape[1:])) for name, t in example.items()]
        self.layout.append(("usable", np.dtype(bool), (num_pixels,)))
        self.offsets, offset = [], 0
        for _, dtype, shape in self.layout:  # each field 8-byte aligned, so that reads are plain views
            self.offsets.append(offset)
            offset += -(-dtype.itemsize * int(np.prod(shape)) // 8) * 8
        self.frame_bytes = offset
        self.num_frames = num_frames
        self.any_unusable = False
        self._file = tempfile.TemporaryFile(prefix="panolift-frames-", dir=directory)

    def write(self, index: int, frame: dict[str, np.ndarray]) -> None:
        """Store frame ``index`` (the arrays of :func:`panolift.lift.targets.encode_frame`)."""
        self.any_unusable |= not bool(frame["usable"].all())
        record = np.zeros(self.frame_bytes, dtype=np.uint8)
        for (name, dtype, shape), offset in zip(self.layout, self.offsets, strict=True):
            array = np.ascontiguousarray(frame[name], dtype=dtype)
            if array.shape != shape:
                raise ValueError(f"frame {index}: {name} has shape {array.shape}, expected {shape}")
            record[offset : offset + array.nbytes] = array.reshape(-1).view(np.uint8)
        self._file.seek(index * self.frame_bytes)
        self._file.write(record.data)

    def read(self, index: int) -> dict[str, np.ndarray]:
        """Frame ``index`` as written (one read of ``frame_bytes``)."""
        buffer = np.empty(self.frame_bytes, dtype=np.uint8)
        self._file.seek(index * self.frame_bytes)
        if self._file.readinto(memoryview(buffer)) != self.frame_bytes:
            raise OSError(f"frame store: short read of frame {index}")
        arrays = {}
        for (name, dtype, shape), offset in zip(self.layout, self.offsets, strict=True):
            size = dtype.itemsize * int(np.prod(shape))
            arrays[name] = buffer[offset : offset + size].view(dtype).reshape(shape)
        return arrays

    def close(self) -> None:
        self._file.close()


class RefreshSchedule:
    """Which frames draw fresh pixels when: refresh number r (0, 1, 2, ...) is of frame r mod num_frames, its
    generation r // num_frames + 1 (generation 0 is the first subset), and c(p) = p * num_frames // pass_steps
    refreshes are done after p scene batches."""

    def __init__(self, num_frames: int, pass_steps: int = PASS_STEPS):
        self.num_frames, self.pass_steps = num_frames, max(1, pass_steps)

    def done(self, position: int) -> int:
        return position * self.num_frames // self.pass_steps

    def refreshes(self, position: int) -> list[tuple[int, int]]:
        """(frame, generation) of the refreshes of scene batch ``position`` (1 for the first)."""
        return [(r % self.num_frames, r // self.num_frames + 1)
                for r in range(self.done(position - 1), self.done(position))]  # fmt: skip

    def generation(self, frame: int, position: int) -> int:
        """The generation of ``frame``'s pixels after ``position`` scene batches."""
        return max(0, -(-(self.done(position) - frame) // self.num_frames))


def draw_held_pixels(usable: np.ndarray, num_held: int, seed: int, frame: int, generation: int) -> np.ndarray:
    """(num_held,) int32 flat pixel indices of a frame: a random subset of its usable pixels (with repeats
    only when it has fewer), from ``(seed, frame, generation)`` alone."""
    rng = np.random.default_rng([seed, frame, generation, 0x5E1D])
    candidates = np.flatnonzero(usable)
    if candidates.size == 0:
        candidates = np.arange(usable.size)  # no usable pixel: draw any (its confidence is 0)
    pick = rng.choice(candidates.size, num_held, replace=candidates.size < num_held)
    return candidates[pick].astype(np.int32)


def memory_limit() -> int:
    """Bytes of memory this process may use: the machine's physical memory, or the cgroup's limit when
    lower (containers)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = 16 << 30
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < physical:
            return int(text)
    return physical


AUTO_SHARE = 4
"""``max_memory = 0`` budgets 1/AUTO_SHARE of :func:`memory_limit` for the training targets."""


def memory_budget(max_memory_gib: float) -> int:
    """Bytes the training targets may take: ``max_memory_gib`` GiB, or (0) a quarter of the memory limit."""
    if max_memory_gib > 0:
        return int(max_memory_gib * (1 << 30))
    return memory_limit() // AUTO_SHARE


__all__ = ["FrameStore", "RefreshSchedule", "draw_held_pixels", "memory_budget", "memory_limit"]
