"""`panolift view` in a real browser: headless Chromium (Debian's, installed by `make test`) driven by
Playwright loads the page, and the screenshots must show the scene as the field renders it, change with
the render mode, highlight the instance a click selects, and a delete must save as an edited run.

Skipped, saying why, where Chromium or the Python packages cannot be had."""

from __future__ import annotations

import io
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTH, HEIGHT = 1000, 640
SCENE = (slice(160, HEIGHT - 20), slice(20, 640))  # the canvas left of the panel, below notifications

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium here (`make test` installs Debian's with apt-get)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command:
    """`panolift view` as a subprocess whose output lines are read in a thread."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "panolift.cli", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # a job started in the background by a shell (`make test &`) inherits SIGINT ignored, and then
            # Python installs no KeyboardInterrupt handler: give the viewer a terminal's Ctrl-C
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; output:\n{''.join(self.output)}")

    def stop(self) -> int:
        """Ctrl-C, then the exit status; killed (and failing the test) only if it has not ended after the
        viewer's own 60 s budget for its threads (a busy render pass on one thread can take seconds).

        If Ctrl-C is unanswered for 45 s, the viewer's threads are dumped (SIGUSR1, faulthandler) into a
        warning before the wait goes on, so that a hang says where it is."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.wait_for("viewer stopping", timeout=45)
            except AssertionError:
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGUSR1)
                    time.sleep(2.0)
                    warnings.warn(
                        "Ctrl-C unanswered for 45 s; the viewer's threads:\n" + "".join(self.output[-80:]),
                        stacklevel=2,
                    )
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def screenshot(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(np.float32)


def wait_for_text(page, text: str, timeout: float = 30.0) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the viser dropdown labelled ``label``."""
    target = page.locator("label", has_text=label).first.get_attribute("for")
    page.locator(f"[id='{target}']").click()
    page.get_by_role("option", name=option, exact=True).click()


def expected_view(run: Path) -> np.ndarray:
    """The first training view rendered by the run's field at the canvas's aspect, grey, (20, 32)."""
    from panolift.runs import load_run
    from panolift.view import fov_from_intrinsics, intrinsics_from_fov, render_view
    from panolift.view.session import training_cameras

    loaded = load_run(run)
    camera = training_cameras(loaded)[0]
    K = intrinsics_from_fov(fov_from_intrinsics(camera.K, camera.height), WIDTH // 10, HEIGHT // 10)
    view = render_view(
        loaded.field, K, camera.c2w, WIDTH // 10, HEIGHT // 10, loaded.normalization, loaded.thing_mask
    )
    return view.rgb.mean(axis=-1)


def grey_blocks(image: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """The image's region, grey, averaged over 10x10 blocks."""
    grey = image.mean(axis=-1)[region]
    h, w = grey.shape[0] // 10 * 10, grey.shape[1] // 10 * 10
    return grey[:h, :w].reshape(h // 10, 10, w // 10, 10).mean(axis=(1, 3))


def test_view_a_run_in_chromium(tiny_run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the `playwright` package is not installed")
    pytest.importorskip("viser", reason="the `viewer` extra (viser) is not installed")
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # the viewer caches its 3D layer in the run; the shared run stays as it is
    command = Command(["view", str(run), "--port", str(free_port()), "--threads", "1", "--sharpest", "256"])
    try:
        url = re.search(r"http://\S+", command.wait_for("http://", timeout=60)).group(0)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                page.goto(url)
                check_the_page(page, run)
            finally:
                browser.close()
    finally:
        code = command.stop()
    assert code == 0, "".join(command.output)
    assert "viewer stopped" in "".join(command.output)


def check_the_page(page, run: Path) -> None:
    wait_for_text(page, "(sharp)", timeout=40)  # the last pass of the first view
    time.sleep(0.5)
    with_cameras = screenshot(page)
    target = page.locator("label", has_text="Training cameras").first.get_attribute("for")
    page.locator(f"[id='{target}']").click()  # hide the training cameras' frusta
    time.sleep(1.0)
    rgb = screenshot(page)
    assert np.abs(rgb - with_cameras).max() > 50, "the training cameras were not drawn"
    shown = grey_blocks(rgb, (slice(0, HEIGHT), slice(0, WIDTH)))
    assert rgb[SCENE].std() > 8, "the canvas is blank"
    # the image is the field's rendering of the first training view: compare away from the panel
    expected = expected_view(run)[: shown.shape[0], : shown.shape[1]] * 255
    keep = (slice(16, shown.shape[0] - 2), slice(2, 64))
    correlation = np.corrcoef(shown[keep].reshape(-1), expected[keep].reshape(-1))[0, 1]
    assert correlation > 0.7, f"the canvas does not show the run's first view (correlation {correlation:.2f})"

    choose(page, "Render mode", "instances")
    time.sleep(1.5)
    instances = screenshot(page)
    assert np.abs(instances[SCENE] - rgb[SCENE]).mean() > 8, "the instance mode looks like rgb"
    saturation = instances[SCENE].max(axis=-1) - instances[SCENE].min(axis=-1)
    ys, xs = np.nonzero(saturation > 80)  # instance colours are saturated; stuff is grey in this mode
    assert len(xs) > 50, "no instance colour on the canvas"

    # click the middle pixel of an instance: the panel says what is selected, the rest is dimmed
    middle = len(xs) // 2
    page.mouse.click(int(xs[middle]) + SCENE[1].start, int(ys[middle]) + SCENE[0].start)
    wait_for_text(page, "Selected:", timeout=20)
    time.sleep(1.0)
    selected = screenshot(page)
    outside = saturation <= 80
    assert selected[SCENE][outside].mean() < 0.75 * instances[SCENE][outside].mean(), "no highlight"

    page.get_by_role("button", name="Delete").click()
    wait_for_text(page, "Unsaved edits", timeout=30)
    page.get_by_role("button", name="Save as edited run").click()
    edited = run.parent / "run-edit"
    wait_for_text(page, "render it with `panolift render", timeout=30)  # the notification of the save
    from panolift.runs import read_edit_list  # (tests/view/test_session.py loads such runs and renders them)

    assert [e.op for e in read_edit_list(edited).edits] == ["delete"]
