"""Progressive scheduling: sizes, bands, the busy budget, and the renderer thread with a fake renderer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from panolift.config import RenderConfig
from panolift.view import (
    ProgressiveConfig,
    ProgressiveRenderer,
    RenderedView,
    Throughput,
    ViewRequest,
    plan_bands,
    plan_passes,
)
from panolift.view.progressive import band_intrinsics, pause_after


def test_passes_grow_to_the_canvas_from_a_first_image_within_budget():
    config = ProgressiveConfig(first_image_seconds=0.25, max_side=1024)
    passes = plan_passes((800, 600), rays_per_second=20_000, config=config)
    assert passes[-1] == (800, 600)
    first = passes[0]
    assert first[0] * first[1] <= 20_000 * 0.25 * 1.05
    assert abs(first[0] / first[1] - 800 / 600) < 0.1
    for (w0, h0), (w1, h1) in zip(passes, passes[1:], strict=False):
        assert w1 > w0 and h1 >= h0 and w1 <= 2 * w0 + 1


def test_a_fast_field_renders_the_sharp_image_at_once_and_max_side_caps_it():
    config = ProgressiveConfig(max_side=512)
    assert plan_passes((1600, 900), rays_per_second=1e9, config=config) == [(512, 288)]
    assert plan_passes((1600, 900), rays_per_second=1.0, config=config)[0] == (16, 9)  # min_side
    assert plan_passes((0, 10), 1e4, config) == []


@pytest.mark.parametrize("height", [1, 7, 48, 301])
def test_bands_cover_every_row_once(height):
    bands = plan_bands(64, height, rays_per_second=1000, band_seconds=0.1)
    rows = [r for start, stop in bands for r in range(start, stop)]
    assert rows == list(range(height))


def test_band_intrinsics_shift_the_principal_point():
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    assert band_intrinsics(K, 10)[1, 2] == 14 and K[1, 2] == 24


def test_busy_budget_and_throughput():
    assert pause_after(0.1, 1.0) == 0.0
    assert pause_after(0.1, 0.1) == pytest.approx(0.9)
    rate = Throughput(initial=10.0)
    rate.update(1000, 1.0)
    assert rate.rays_per_second == 1000  # the first measurement replaces the guess
    rate.update(3000, 1.0)
    assert rate.rays_per_second == 2000 and rate.seconds_for(4000) == 2.0


def fake_view(width: int, height: int, value: float) -> RenderedView:
    return RenderedView(
        rgb=np.full((height, width, 3), value, np.float32), depth=np.ones((height, width), np.float32),
        opacity=np.ones((height, width), np.float32), classes=np.ones((height, width), np.int64),
        ids=np.zeros((height, width), np.int64),
    )  # fmt: skip


class Recorder:
    def __init__(self, delay: float = 0.0):
        self.calls, self.frames, self.delay = [], [], delay
        self.event = threading.Event()

    def render(self, K, c2w, width, height, preview):
        self.calls.append((width, height, preview, float(c2w[0, 3])))
        time.sleep(self.delay)
        return fake_view(width, height, float(c2w[0, 3]))

    def publish(self, frame):
        self.frames.append(frame)
        if frame.final:
            self.event.set()


def request_at(x: float, canvas=(64, 48)) -> ViewRequest:
    c2w = np.eye(4)
    c2w[0, 3] = x
    return ViewRequest(c2w, 1.0, canvas)


def test_the_renderer_thread_publishes_growing_frames_then_a_sharp_one():
    rec = Recorder()
    config = ProgressiveConfig(max_side=64, min_side=8)
    renderer = ProgressiveRenderer(rec.render, rec.publish, config, Throughput(initial=200.0)).start()
    try:
        renderer.request(request_at(1.0))
        assert rec.event.wait(10)
    finally:
        renderer.stop()
    sizes = [f.view.size for f in rec.frames]
    assert sizes[-1] == (64, 48) and len(sizes) >= 2
    assert [f.final for f in rec.frames] == [False] * (len(sizes) - 1) + [True]
    assert all(preview for (w, h, preview, _) in rec.calls[:-1]) and not rec.calls[-1][2]
    assert rec.frames[-1].view.rgb.shape == (48, 64, 3)  # the bands stacked into one image
    assert renderer.idle


def test_specks_are_merged_on_the_whole_stacked_pass_as_panolift_render_does():
    """A thing segment cut by band edges is judged on the whole image: the finish hook sees the stack."""

    bands = []

    def render(K, c2w, width, height, preview):  # every band: wall, and a chair in its first two rows
        bands.append(height)
        view = fake_view(width, height, 0.5)
        view.classes[:2], view.ids[:2] = 5, 3
        view.classes[0, 0], view.ids[0, 0] = 5, 9  # a one-pixel chair of its own in each band
        return view

    seen, frames, done = [], [], threading.Event()
    config = ProgressiveConfig(max_side=64, min_side=64, band_seconds=0.1)  # one pass, bands of 15 rows

    def finish(view):
        seen.append(view.size)
        return view.without_specks(5 / (64 * 48))  # under 5 pixels: the four one-pixel chairs are one speck

    def publish(frame):
        frames.append(frame)
        done.set()

    renderer = ProgressiveRenderer(render, publish, config, Throughput(initial=1e4), finish=finish).start()
    try:
        renderer.request(request_at(1.0))
        assert done.wait(10)
    finally:
        renderer.stop()
    assert seen == [(64, 48)] and len(bands) == 4  # the hook got the whole image once, not each band
    view = frames[-1].view
    assert 9 not in view.ids and (view.ids[view.classes == 5] == 3).all()  # one-pixel chairs joined chair 3
    raw = fake_view(8, 8, 0.5)
    assert raw.without_specks(0.0) is raw  # 0 keeps every segment


def test_a_finished_view_is_labelled_as_panolift_render_labels_a_frame():
    """Specks merged, then the segments snapped to the colour's edges, by the run's render settings."""
    view = fake_view(32, 8, 0.2)
    view.rgb[:, 16:] = 0.9  # a light object on the right half
    view.classes[:, 15:], view.ids[:, 15:] = 5, 3  # its chair label a pixel too fat
    view.classes[0, 0], view.ids[0, 0] = 5, 9  # and a one-pixel chair in the dark corner
    assert view.finished(RenderConfig()) is view  # `paper`'s settings: nothing to do
    specks = view.finished(RenderConfig(min_segment_share=2 / view.classes.size))
    assert specks.ids[0, 0] == 0 and (specks.classes[:, 15] == 5).all()
    done = view.finished(RenderConfig(min_segment_share=2 / view.classes.size, label_snap_radius=1 / 16))
    assert done.ids[0, 0] == 0 and (done.classes[:, :16] == 1).all() and (done.ids[:, 16:] == 3).all()
    assert done.rgb is view.rgb and done.depth is view.depth


def test_a_new_camera_abandons_the_pass_in_progress():
    rec = Recorder(delay=0.05)
    config = ProgressiveConfig(max_side=64, min_side=8, band_seconds=0.01)
    renderer = ProgressiveRenderer(rec.render, rec.publish, config, Throughput(initial=100.0)).start()
    try:
        renderer.request(request_at(1.0))
        time.sleep(0.12)
        renderer.request(request_at(2.0))
        assert rec.event.wait(20)
    finally:
        renderer.stop()
    assert rec.frames[-1].request.c2w[0, 3] == 2.0 and rec.frames[-1].final
    assert not any(f.final for f in rec.frames if f.request.c2w[0, 3] == 1.0)
    assert all(f.view.rgb[0, 0, 0] == f.request.c2w[0, 3] for f in rec.frames)  # no mixed bands


def test_refresh_renders_the_same_camera_again_and_the_busy_budget_spaces_renders():
    rec = Recorder(delay=0.02)
    config = ProgressiveConfig(max_side=16, min_side=16, max_busy_fraction=0.2)
    renderer = ProgressiveRenderer(rec.render, rec.publish, config, Throughput(initial=1e6)).start()
    try:
        renderer.request(request_at(3.0, canvas=(16, 12)))
        assert rec.event.wait(10)
        rec.event.clear()
        start = time.perf_counter()
        renderer.refresh()
        assert rec.event.wait(10)
        while not renderer.idle:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
    finally:
        renderer.stop()
    assert [f.request.c2w[0, 3] for f in rec.frames] == [3.0, 3.0]
    assert elapsed >= 0.02 * (1 / 0.2 - 1) * 0.9  # the pause after the first render came before idle
