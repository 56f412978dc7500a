"""`panolift view RUN [--port 8080]`: the interactive 3D viewer in the browser."""

from __future__ import annotations

from pathlib import Path


def view(
    run: Path,
    /,
    port: int = 8080,
    host: str = "127.0.0.1",
    device: str = "auto",
    threads: int = 0,
    sharpest: int = 0,
    layer_resolution: int = 96,
) -> None:
    """Open a run in a 3D viewer in the browser: fly around, switch between rgb, depth, semantics,
    instances and the panoptic overlay, click an object to select it, hide, delete, duplicate or move it,
    and save the edits as an edited run (the same folder `panolift edit` writes).

    The field renders the view progressively (coarse while the camera moves, sharper when it rests); a
    3D layer of the labelled surface turns with the camera instantly. A run that is still training is
    followed: each new checkpoint is shown. Needs the `viewer` extra: pip install 'panolift[viewer]'.

    Args:
        run: a run folder (trained, edited, or still training).
        port: the port to serve on.
        host: the address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface, or use
            an SSH tunnel: ssh -L 8080:localhost:8080 MACHINE).
        device: auto (cuda if available, else cpu), cpu, cuda, ...
        threads: CPU threads for torch (0: torch's default).
        sharpest: longest side in pixels of the sharpest image (0: 1024 on a GPU, 512 on a CPU).
        layer_resolution: voxels along the scene's longest side for the 3D layer.
    """
    import faulthandler
    import logging
    import signal
    import time

    from panolift.commands.common import pick_device, set_threads
    from panolift.runs import is_edited_run, latest_checkpoint, read_run_info
    from panolift.view import ProgressiveConfig, Viewer, ViewerConfig, ViewerSession, import_viser

    import_viser()  # says how to install it before any work
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints every thread's stack (a viewer that hangs)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if threads:  # 0: torch's default (the viewer's renders are too irregular to time)
        set_threads(threads)
    device = pick_device(device)
    read_run_info(run)  # a folder that is no run is reported now
    if latest_checkpoint(run) is None and not is_edited_run(run):
        print(f"waiting for the first checkpoint of {run} (is it training?) ...", flush=True)
        while latest_checkpoint(run) is None:
            time.sleep(2.0)
    session = ViewerSession.open(run, device=device)
    sharpest = sharpest or (1024 if str(device).startswith("cuda") else 512)
    config = ViewerConfig(host=host, port=port, layer_resolution=layer_resolution)
    config.progressive = ProgressiveConfig(max_side=sharpest)
    viewer = Viewer(session, config)
    print(f"viewer of {run} (step {session.step}): {viewer.url}   (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3.0)
            if viewer.reload_if_newer():
                print(f"showing step {session.step}", flush=True)
    except KeyboardInterrupt:
        print("viewer stopping (waiting for the renderers) ...", flush=True)
    finally:
        viewer.close()
    print("viewer stopped", flush=True)


def start_live_viewer(training, port: int, host: str = "127.0.0.1"):
    """`panolift train --viewer`: a viewer of the field being trained (prints its URL)."""
    import logging

    from panolift.view import LiveViewer, import_viser, live_viewer_config

    import_viser()
    logging.getLogger("websockets").setLevel(logging.WARNING)
    live = LiveViewer(training, live_viewer_config(host, port))
    print(f"viewer of the training: {live.url}   (updated every few seconds; read-only)", flush=True)
    return live


def keep_live_viewer_open(live) -> None:
    """After training: show the final field and serve until Ctrl-C."""
    import time

    live.update(force=True)
    live.refresh_layer()
    print(
        f"training finished; the viewer shows the final field at {live.url} (Ctrl-C to stop; "
        f"`panolift view {live.training.run_dir}` to edit it)",
        flush=True,
    )
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("viewer stopped")
    finally:
        live.close()
