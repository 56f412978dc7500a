"""The background thread that renders one browser's view progressively (:mod:`.progressive`).

:meth:`ProgressiveRenderer.request` hands it the latest camera; :meth:`ProgressiveRenderer.refresh` asks
for the same camera again (the field or its edits changed). Each request gets a new generation number;
the thread renders the passes of the newest generation band by band, gives up a pass as soon as a newer
generation exists, and hands each finished pass to ``publish``. Rendering is done by a plain function
``render(K, c2w, width, height, preview) -> RenderedView`` (``preview``: a pass before the last), so the loop runs (and is tested) without a browser;
an optional ``finish(view) -> RenderedView`` is applied to each whole pass (the viewer merges specks there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cameras import intrinsics_from_fov
from .images import RenderedView
from .progressive import ProgressiveConfig, Throughput, band_intrinsics, pause_after, plan_bands, plan_passes

log = logging.getLogger(__name__)

RenderFn = Callable[[np.ndarray, np.ndarray, int, int, bool], RenderedView]


@dataclass(frozen=True)
class ViewRequest:
    """A camera to render: (4, 4) camera-to-world (OpenCV, world units), vertical fov (radians) and the
    canvas (width, height) in pixels."""

    c2w: np.ndarray
    fov_y: float
    canvas: tuple[int, int]


@dataclass(frozen=True)
class Frame:
    """A finished pass: the view, the request and generation it answers, whether it is the last (sharpest)
    pass, and how long it took."""

    view: RenderedView
    request: ViewRequest
    generation: int
    final: bool
    seconds: float


class ProgressiveRenderer:
    """Renders the newest :class:`ViewRequest` progressively in a daemon thread; see the module docstring."""

    def __init__(
        self,
        render: RenderFn,
        publish: Callable[[Frame], None],
        config: ProgressiveConfig | None = None,
        throughput: Throughput | None = None,
        name: str = "panolift-view",
        finish: Callable[[RenderedView], RenderedView] | None = None,
    ):
        self.render, self.publish = render, publish
        self.finish = finish  # applied to each whole pass (e.g. speck merging, which needs the whole image)
        self.config = config or ProgressiveConfig()
        self.throughput = throughput or Throughput()
        self.generation, self.done_generation = 0, 0
        self.camera_generation = 0  # the generation of the newest camera (refreshes keep it)
        self._request: ViewRequest | None = None
        self._wake = threading.Condition()
        self._stopped = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> ProgressiveRenderer:
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def request(self, view: ViewRequest) -> int:
        """Render ``view`` (a new camera); returns its generation."""
        with self._wake:
            self._request = view
            self.generation += 1
            self.camera_generation = self.generation
            self._wake.notify_all()
            return self.generation

    def refresh(self) -> int:
        """Render the current camera again (the field changed)."""
        with self._wake:
            if self._request is not None:
                self.generation += 1
                self._wake.notify_all()
            return self.generation

    @property
    def idle(self) -> bool:
        """No pass left to render for the newest request."""
        return self.done_generation == self.generation

    # ------------------------------------------------------------------ the thread
    def _next(self) -> tuple[int, ViewRequest] | None:
        with self._wake:
            while not self._stopped and (self._request is None or self.done_generation == self.generation):
                self._wake.wait()
            return None if self._stopped else (self.generation, self._request)

    def _pause(self, seconds: float, generation: int) -> None:
        """Wait ``seconds`` (the busy budget), cut short by a new camera or by stopping."""
        deadline = time.perf_counter() + seconds
        with self._wake:
            while not self._stopped and self.camera_generation <= generation:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return
                self._wake.wait(left)

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            generation, request = job
            try:
                self._render_passes(generation, request)
            except Exception:  # a failing render must not end the viewer: report it, wait for the next
                log.exception("viewer: rendering failed")
            with self._wake:
                self.done_generation = max(self.done_generation, generation)

    def _render_passes(self, generation: int, request: ViewRequest) -> None:
        config = self.config
        passes = plan_passes(request.canvas, self.throughput.rays_per_second, config)
        for number, (width, height) in enumerate(passes):
            final = number == len(passes) - 1
            K = intrinsics_from_fov(request.fov_y, width, height)
            bands, start = [], time.perf_counter()
            for row0, row1 in plan_bands(width, height, self.throughput.rays_per_second, config.band_seconds):
                if self.generation != generation or self._stopped:
                    return
                t0 = time.perf_counter()
                bands.append(
                    self.render(band_intrinsics(K, row0), request.c2w, width, row1 - row0, not final)
                )
                busy = time.perf_counter() - t0
                self.throughput.update(width * (row1 - row0), busy)
                self._pause(pause_after(busy, config.max_busy_fraction), generation)
            if self.generation != generation:
                return
            view = RenderedView.stack(bands)
            if self.finish is not None:
                view = self.finish(view)
            frame = Frame(view, request, generation, final, time.perf_counter() - start)
            self.publish(frame)
