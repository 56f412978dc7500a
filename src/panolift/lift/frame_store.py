"""Streaming training frames: the compact targets of every frame on disk, and a working set of them in memory.

Above the memory budget, :func:`panolift.lift.batching.load_training_data` writes each training frame's
compact targets (:mod:`panolift.lift.targets`) to a :class:`FrameStore` and keeps ``num_rows`` of them in
memory. :class:`WorkingSchedule` says which: every ``refresh_every`` scene batches, the ``refresh_rows`` rows
held longest take the next frames of a sequence of shuffled passes over all frames. The schedule is a pure
function of the seed and of how many scene batches were drawn (its *position*), so that a resumed run can
put back the working set it had (:meth:`WorkingSchedule.seek`), and every frame is held equally long.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .targets import PixelTargets

PASS_STEPS = 512
"""Scene batches in which the working set goes through every frame once (refreshes are spaced for it)."""
REFRESH_SHARE = 16
"""A refresh replaces 1/REFRESH_SHARE of the rows (at least one): a frame stays for 16 refreshes."""
MIN_ROWS = 8
"""The fewest frames a working set holds, whatever the budget (R_S rays come from several frames)."""


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


class WorkingSchedule:
    """Which frame each of ``num_rows`` rows holds after ``position`` scene batches (see the module)."""

    def __init__(self, num_frames: int, num_rows: int, seed: int, pass_steps: int = PASS_STEPS):
        if not 0 < num_rows < num_frames:
            raise ValueError(f"a working set of {num_rows} rows needs more than {num_rows} frames")
        self.num_frames, self.num_rows, self.seed = num_frames, num_rows, seed
        self.refresh_rows = max(1, num_rows // REFRESH_SHARE)
        self.refresh_every = max(1, pass_steps * self.refresh_rows // num_frames)
        self.seek(0)

    def _next_frame(self) -> int:
        """The next frame of the sequence of shuffled passes that no row holds."""
        while True:
            if self._cursor == len(self._order):
                rng = np.random.default_rng([self.seed, self._passes, 0x57EA])
                self._order, self._cursor, self._passes = (
                    rng.permutation(self.num_frames),
                    0,
                    self._passes + 1,
                )
            frame = int(self._order[self._cursor])
            self._cursor += 1
            if frame not in self._held_set:
                return frame

    def seek(self, position: int) -> list[int]:
        """Replay the schedule from the start to ``position``; returns the frame of every row."""
        self._order, self._cursor, self._passes = np.zeros(0, dtype=np.int64), 0, 0
        self._held_set: set[int] = set()
        self.held: list[int] = []
        for _ in range(self.num_rows):
            self.held.append(self._next_frame())
            self._held_set.add(self.held[-1])
        self.position, self._next_row = 0, 0
        for _ in range(position):
            self.advance()
        return list(self.held)

    def advance(self) -> list[tuple[int, int]]:
        """One scene batch further; returns the (row, frame) pairs to load now (none between refreshes)."""
        self.position += 1
        if self.position % self.refresh_every:
            return []
        changes = []
        for _ in range(self.refresh_rows):
            row = self._next_row
            self._next_row = (row + 1) % self.num_rows
            self._held_set.discard(self.held[row])
            frame = self._next_frame()
            self.held[row] = frame
            self._held_set.add(frame)
            changes.append((row, frame))
        return changes


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


__all__ = ["FrameStore", "WorkingSchedule", "memory_budget", "memory_limit"]
