"""The web viewer: a viser server that shows a :class:`~.session.ViewerSession` to every open browser tab.

Each tab ("client") has its own camera and its own :class:`~.render_loop.ProgressiveRenderer` thread;
the field's image is the tab's background image (with its depth, so that the 3D layer and the training
cameras hide behind surfaces). The render mode, the 3D layer's mode and colouring and the selection are
shared by all tabs. The panels are built by :mod:`.panels`. viser is imported on construction only: it is
an optional dependency (``pip install 'panolift[viewer]'``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from panolift.errors import PanoliftError

from .cameras import fov_from_intrinsics, look_at_point, pose_from_viser, up_direction_of, viser_from_pose
from .images import RenderedView, draw_view, render_view
from .layer import compute_layer, layer_cache_path, layer_colors
from .panels import Panels
from .picking import pick_along_ray, pick_shown
from .progressive import ProgressiveConfig, Throughput, preview_render_config
from .render_loop import Frame, ProgressiveRenderer, ViewRequest
from .session import TrainingCamera, ViewerSession

log = logging.getLogger(__name__)

FAR_DEPTH = 1.0e3  # depth sent for transparent pixels: nothing of the scene is behind them


def import_viser():
    """The viser module, or a PanoliftError that says how to install it."""
    try:
        import viser  # heavy, optional: the `viewer` extra
    except ImportError as exc:
        raise PanoliftError(
            f"the viewer needs viser ({exc}); install it with: pip install 'panolift[viewer]'"
        ) from None
    return viser


@dataclass
class ViewerConfig:
    """Where the viewer listens and how it renders."""

    host: str = "127.0.0.1"
    port: int = 8080
    layer_resolution: int = 96
    """Voxels along the longest side of the box for the 3D layer (the labelled surface)."""
    progressive: ProgressiveConfig = field(default_factory=ProgressiveConfig)
    jpeg_quality: int = 90


class ClientView:
    """One browser tab: its renderer thread, its last frame and its copy of the 3D layer."""

    def __init__(self, viewer: Viewer, client):
        self.viewer, self.client = viewer, client
        self.last_frame: Frame | None = None
        self.layer_handle, self.layer_key = None, None
        self.moving = False
        self.renderer = ProgressiveRenderer(
            viewer.render, self._publish, viewer.config.progressive, viewer.throughput,
            name=f"panolift-view-{client.client_id}", finish=viewer.finish_view,
        ).start()  # fmt: skip
        client.camera.on_update(self._camera_moved)

    def go_to(self, camera: TrainingCamera) -> None:
        """Put the browser's camera at a training view (its position, orientation and field of view)."""
        c2w = camera.c2w
        distance = max(0.3, float(np.dot(self.viewer.session.normalization.center - c2w[:3, 3], c2w[:3, 2])))
        with self.client.atomic():
            self.client.camera.fov = fov_from_intrinsics(camera.K, camera.height)
            self.client.camera.position = c2w[:3, 3]
            self.client.camera.look_at = look_at_point(c2w, distance)
            self.client.camera.up_direction = up_direction_of(c2w)

    def view_request(self) -> ViewRequest:
        camera = self.client.camera
        c2w = pose_from_viser(camera.wxyz, camera.position)
        return ViewRequest(c2w, float(camera.fov), (int(camera.image_width), int(camera.image_height)))

    def _camera_moved(self, _camera) -> None:
        self.renderer.request(self.view_request())
        if self.viewer.layer_mode == "while moving" and not self.moving:
            self.moving = True
            self.show_layer()

    def _publish(self, frame: Frame) -> None:
        self.last_frame = frame
        if frame.generation < self.renderer.camera_generation and self.viewer.layer_mode == "while moving":
            return  # stale: the camera moved on while this pass rendered; the layer shows meanwhile
        self.moving = False
        self.show_frame()
        self.show_layer()
        self.viewer.frame_shown(self, frame)

    def show_frame(self) -> None:
        """(Re)draw the last frame in the current mode and selection (no rendering)."""
        frame = self.last_frame
        if frame is None:
            return
        if self.viewer.mode == "none":
            self.client.scene.set_background_image(None)
            return
        view = frame.view
        image = draw_view(view, self.viewer.mode, self.viewer.session.class_set, self.viewer.session.selected)
        depth = np.where(view.opacity > 0.5, view.depth / np.maximum(view.opacity, 1e-6), FAR_DEPTH)
        self.client.scene.set_background_image(
            image, format="jpeg", jpeg_quality=self.viewer.config.jpeg_quality, depth=depth.astype(np.float32)
        )

    def show_layer(self) -> None:
        """Show, hide or recolour this tab's 3D layer after a change of mode, layer or selection."""
        viewer = self.viewer
        visible = viewer.layer_mode == "always" or viewer.mode == "none"
        visible |= viewer.layer_mode == "while moving" and self.moving
        surface = viewer.surface
        if surface is None or not visible:
            if self.layer_handle is not None:
                self.layer_handle.visible = False
            return
        if self.layer_handle is None or self.layer_key != viewer.layer_key():
            colors = layer_colors(
                surface, viewer.layer_coloring, viewer.session.class_set, viewer.session.selected
            )
            handle = self.client.scene.add_point_cloud(
                "/layer", surface.vertices, colors, point_size=viewer.point_size, point_shape="circle"
            )
            self.layer_handle, self.layer_key = handle, viewer.layer_key()
        self.layer_handle.visible = True

    def close(self) -> None:
        self.renderer.stop(timeout=0.0)


class Viewer:
    """The viser server of a session. Use :meth:`close` (or the process's end) to stop it."""

    def __init__(self, session: ViewerSession, config: ViewerConfig | None = None):
        viser = import_viser()
        self.session, self.config = session, config or ViewerConfig()
        self.mode, self.layer_mode, self.layer_coloring = "rgb", "while moving", "class"
        self.throughput = Throughput()
        self.surface, self.point_size = None, 0.02
        self.clients: dict[int, ClientView] = {}
        self.cameras = session.cameras()
        self.status = ""
        self._layer_version = 0
        self._threads: list[threading.Thread] = []
        try:
            with contextlib.redirect_stdout(
                io.StringIO()
            ):  # viser prints a banner; the command prints the URL
                self.server = viser.ViserServer(host=self.config.host, port=self.config.port, verbose=False)
        except OSError as exc:
            raise PanoliftError(
                f"cannot serve the viewer on {self.config.host}:{self.config.port} ({exc})"
            ) from None
        self._set_up_scene()
        self.panels = Panels(self)
        self.server.on_client_connect(self._connect)
        self.server.on_client_disconnect(self._disconnect)
        self.server.scene.on_click()(self._clicked)
        self.spawn(self.update_layer)

    @property
    def url(self) -> str:
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "localhost"
        return f"http://{host}:{self.server.get_port()}"

    # ------------------------------------------------------------------ scene
    def _set_up_scene(self) -> None:
        scene = self.server.scene
        up = self.session.up
        scene.set_up_direction(tuple(float(v) for v in up))
        scene.world_axes.visible = False
        start = self.cameras[0] if self.cameras else None
        if start is not None:
            initial = self.server.initial_camera
            initial.fov = fov_from_intrinsics(start.K, start.height)
            initial.position = tuple(start.c2w[:3, 3])
            initial.look_at = tuple(look_at_point(start.c2w, 1.0))
            initial.up = tuple(up_direction_of(start.c2w))
        spacing = self._camera_spacing()
        self.frusta = []
        for camera in self.cameras:
            wxyz, position = viser_from_pose(camera.c2w)
            handle = scene.add_camera_frustum(
                f"/training_cameras/{camera.name}", fov=fov_from_intrinsics(camera.K, camera.height),
                aspect=camera.width / camera.height, scale=0.3 * spacing, thickness=1.5, thickness_units="screen",
                color=(220, 120, 40), wxyz=wxyz, position=position,
            )  # fmt: skip
            handle.on_click(self._frustum_clicked(camera))
            self.frusta.append(handle)
        self.point_size = 0.5 * self._layer_spacing()

    def _camera_spacing(self) -> float:
        """A length that suits the training cameras' spacing (median distance to the nearest other)."""
        if len(self.cameras) < 2:
            return 0.3
        centres = np.stack([c.c2w[:3, 3] for c in self.cameras])
        distances = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(centres)) * 1e9
        return float(np.clip(np.median(distances.min(axis=1)), 0.05, 1.0))

    def _layer_spacing(self) -> float:
        """The layer's voxel size in world units (the scene's box / layer resolution)."""
        aabb = self.session.base.field.aabb.detach().cpu().numpy()
        return (
            float((aabb[1] - aabb[0]).max()) / self.session.normalization.scale / self.config.layer_resolution
        )

    def _frustum_clicked(self, camera: TrainingCamera):
        def jump(event) -> None:
            view = self.clients.get(event.client.client_id) if event.client is not None else None
            if view is not None:
                self._last_frustum_click = time.monotonic()
                view.go_to(camera)

        return jump

    def go_to(self, client, camera: TrainingCamera) -> None:
        view = self.clients.get(client.client_id)
        if view is not None:
            view.go_to(camera)

    # ------------------------------------------------------------------ clients
    def _connect(self, client) -> None:
        view = ClientView(self, client)
        self.clients[client.client_id] = view
        if self.cameras:
            view.go_to(self.cameras[0])
        view.renderer.request(view.view_request())

    def _disconnect(self, client) -> None:
        view = self.clients.pop(client.client_id, None)
        if view is not None:
            view.close()

    def render(self, K: np.ndarray, c2w: np.ndarray, width: int, height: int, preview: bool):
        """Render a view of the session's shown field (the renderer threads' render function)."""
        session = self.session
        config = session.base.config.render
        if preview:
            config = preview_render_config(config, self.config.progressive)
        return render_view(
            session.field, K, c2w, width, height, session.normalization, session.thing_mask, config,
            instances=session.instance_table(),
        )  # fmt: skip

    def finish_view(self, view: RenderedView) -> RenderedView:
        """A whole rendered pass as `panolift render` would label it: specks merged, segments snapped to the
        colour's edges (the run's ``RenderConfig``; :meth:`RenderedView.finished`)."""
        return view.finished(self.session.base.config.render)

    def frame_shown(self, view: ClientView, frame: Frame) -> None:
        width, height = frame.view.size
        sharp = "sharp" if frame.final else "refining"
        self.status = f"step {self.session.step} · {width}x{height} in {frame.seconds:.2f} s ({sharp})"
        self.panels.show_status(self.status)

    # ------------------------------------------------------------------ what every tab shows
    def redraw(self) -> None:
        """Redraw every tab's image and layer (mode or selection changed; nothing is rendered again)."""
        for view in list(self.clients.values()):
            view.show_frame()
            view.show_layer()

    def field_changed(self) -> None:
        """The shown field changed (an edit, a newer checkpoint): render every tab again."""
        for view in list(self.clients.values()):
            view.renderer.refresh()

    def layer_key(self) -> tuple:
        return (self._layer_version, self.layer_coloring, self.session.selected)

    def drop_from_layer(self, instance_ids: set[int]) -> None:
        """Remove instances from the 3D layer at once (a delete or hide; the layer is recomputed next)."""
        surface = self.surface
        if surface is None or not instance_ids:
            return
        keep = ~np.isin(surface.instances, np.asarray(sorted(instance_ids), dtype=np.int64))
        self.surface = surface.as_points().subset(keep, np.zeros(0, dtype=bool))
        self._layer_version += 1
        for view in list(self.clients.values()):
            view.show_layer()

    def update_layer(self) -> None:
        """(Re)compute the 3D layer from the shown field (cached in the run folder without pending edits)."""
        session = self.session
        cache = None
        if not session.pending and not session.hidden and session.editable:
            edits = [e.to_dict() for e in session.edit_list.edits]
            cache = layer_cache_path(session.run_dir, session.step, edits, self.config.layer_resolution)
        started = time.perf_counter()
        surface = compute_layer(
            session.loaded(), self.config.layer_resolution, cache, session.device, session.instance_table()
        )
        if surface is not None:
            log.info("3D layer: %d points in %.2f s", surface.num_vertices, time.perf_counter() - started)
        self.surface = surface
        self._layer_version += 1
        for view in list(self.clients.values()):
            view.show_layer()

    # ------------------------------------------------------------------ picking
    def _clicked(self, event) -> None:
        if time.monotonic() - getattr(self, "_last_frustum_click", 0.0) < 0.5:
            return  # that click jumped to a training camera
        session = self.session
        view = self.clients.get(event.client_id)
        pick = None
        if view is not None:  # the shown image, when it is the current camera's sharpest pass
            pick = pick_shown(view.last_frame, view.renderer.generation, getattr(event, "screen_pos", None))
        if pick is None:  # else the field along the click's ray
            pick = pick_along_ray(
                session.field, np.asarray(event.ray_origin), np.asarray(event.ray_direction),
                session.normalization, session.thing_mask, instances=session.instance_table(),
            )  # fmt: skip
        self.panels.select(pick.instance_id if pick is not None and pick.is_instance else None)

    def reload_if_newer(self) -> bool:
        """Show the trained run's newer checkpoint if it has one (a run still training); True if it did."""
        if not self.session.newer_checkpoint():
            return False
        self.session.reload()
        self.field_changed()
        self.panels.refresh_instances()
        self.update_layer()
        return True

    def spawn(self, target, *args) -> threading.Thread:
        """Run ``target(*args)`` in a worker thread that :meth:`close` waits for."""
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(
            target=target, args=args, name=f"panolift-view-{target.__name__}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return thread

    def close(self, timeout: float = 60.0) -> None:
        """Stop serving, then wait for the renderers and workers: a thread killed inside torch at the
        interpreter's exit aborts the process."""
        with contextlib.redirect_stdout(io.StringIO()):
            self.server.stop()
        views = list(self.clients.values())
        for view in views:
            view.renderer.stop(timeout=0.0)
        deadline = time.monotonic() + timeout
        for thread in [v.renderer.thread for v in views] + self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
