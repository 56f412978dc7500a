"""The viewer's panels (viser GUI): view controls, class legend, instance list, selection and edits.

Every control acts on the shared :class:`~.session.ViewerSession` and asks the viewer to redraw (mode,
selection: no rendering) or to render again (edits). Edits take a second or two (each finds the
instances' regions in the field), so they show a notification while they run; input errors (an instance
that no longer exists, a folder that is taken) are shown, not raised.
"""

from __future__ import annotations

import logging
from pathlib import Path

from panolift.edit import Edit
from panolift.errors import PanoliftError

from .images import MODES, legend_html, swatch
from .layer import LAYER_COLORINGS, LAYER_MODES

log = logging.getLogger(__name__)

NO_IMAGE = "none (3D layer only)"


def default_save_path(run_dir: Path) -> Path:
    """RUN-edit beside RUN, or RUN-edit-2, -3, ... when taken."""
    candidate, n = run_dir.parent / f"{run_dir.name}-edit", 2
    while candidate.exists():
        candidate, n = run_dir.parent / f"{run_dir.name}-edit-{n}", n + 1
    return candidate


class Panels:
    """The GUI of a :class:`~.server.Viewer` (built on construction, shared by all tabs)."""

    def __init__(self, viewer):
        self.viewer, self.session = viewer, viewer.session
        self.gui = viewer.server.gui
        self.gui.configure_theme(control_width="large", dark_mode=False)
        self.instance_buttons: list = []
        self._build_view()
        self._build_instances()
        self._build_edits()
        viewer.spawn(self.refresh_instances)

    # ------------------------------------------------------------------ view
    def _build_view(self) -> None:
        gui, viewer = self.gui, self.viewer
        with gui.add_folder("View"):
            self.mode = gui.add_dropdown("Render mode", (*MODES, NO_IMAGE), initial_value="rgb")
            self.layer = gui.add_dropdown("3D layer", LAYER_MODES, initial_value=viewer.layer_mode)
            self.coloring = gui.add_dropdown("Layer colours", LAYER_COLORINGS, initial_value="class")
            self.sharpest = gui.add_slider(
                "Sharpest (px)", min=64, max=2048, step=32, initial_value=viewer.config.progressive.max_side
            )
            self.frusta = gui.add_checkbox("Training cameras", initial_value=True)
            names = [c.name for c in viewer.cameras] or ["-"]
            self.goto = gui.add_dropdown("Go to view", names, initial_value=names[0])
            self.status = gui.add_markdown("rendering ...")
        with gui.add_folder("Classes", expand_by_default=False):
            gui.add_html(legend_html(self.session.class_set))

        @self.mode.on_update
        def _(_) -> None:
            viewer.mode = "none" if self.mode.value == NO_IMAGE else self.mode.value
            viewer.redraw()

        @self.layer.on_update
        def _(_) -> None:
            viewer.layer_mode = self.layer.value
            viewer.redraw()

        @self.coloring.on_update
        def _(_) -> None:
            viewer.layer_coloring = self.coloring.value
            viewer.redraw()

        @self.sharpest.on_update
        def _(_) -> None:
            viewer.config.progressive.max_side = int(self.sharpest.value)
            viewer.field_changed()

        @self.frusta.on_update
        def _(_) -> None:
            for handle in viewer.frusta:
                handle.visible = self.frusta.value

        @self.goto.on_update
        def _(event) -> None:
            camera = next((c for c in viewer.cameras if c.name == self.goto.value), None)
            if camera is not None and event.client is not None:
                viewer.go_to(event.client, camera)

    def show_status(self, text: str) -> None:
        self.status.content = text

    # ------------------------------------------------------------------ instances
    def _build_instances(self) -> None:
        gui = self.gui
        self.instance_folder = gui.add_folder("Instances")
        with self.instance_folder:
            self.selected_text = gui.add_markdown("Click an object in the scene, or an entry below.")
            self.instances_text = gui.add_markdown("finding the 3D instances ...")
            if not self.session.editable:
                find = gui.add_button("Find instances (on the field being trained)")
                find.on_click(lambda _: self._in_background(self.refresh_instances))
                layer = gui.add_button("Refresh the 3D layer")
                layer.on_click(lambda _: self._in_background(self.viewer.update_layer))

    def refresh_instances(self) -> None:
        """Recompute the instance list (after an edit) and rebuild its entries."""
        try:
            rows = self.session.instances()
        except PanoliftError as exc:
            self.instances_text.content = f"no instances: {exc}"
            return
        for button in self.instance_buttons:
            button.remove()
        self.instance_buttons = []
        with self.instance_folder:
            for row in rows:
                button = self.gui.add_button(row.label(), color=row.color, hint=f"select instance {row.id}")
                button.on_click(lambda _, k=row.id: self.select(k))
                self.instance_buttons.append(button)
        count = f"{len(rows)} 3D instance{'s' if len(rows) != 1 else ''}"
        hidden = f", {len(self.session.hidden)} hidden" if self.session.hidden else ""
        self.instances_text.content = f"{count}{hidden} (id, class, size)"
        self.select(self.session.selected)

    def select(self, instance_id: int | None) -> None:
        """Select an instance (None: nothing) and show it in the image, the layer and the panel."""
        row = self.session.select(instance_id)
        if row is None:
            self.selected_text.content = "Nothing selected. Click an object in the scene, or an entry below."
        else:
            state = " (hidden)" if row.id in self.session.hidden else ""
            self.selected_text.content = f"**Selected:** {swatch(row.color)} {row.label()}{state}"
        if hasattr(self, "hide"):
            self.hide.label = "Show" if row is not None and row.id in self.session.hidden else "Hide"
        self.viewer.redraw()

    # ------------------------------------------------------------------ edits
    def _build_edits(self) -> None:
        gui, session = self.gui, self.session
        with gui.add_folder("Edit"):
            if not session.editable:
                gui.add_markdown("Editing is available on the finished run: `panolift view RUN`.")
                return
            self.hide = gui.add_button("Hide", hint="hide in the viewer only (not saved)")
            self.delete = gui.add_button("Delete", color="red")
            self.offset = gui.add_vector3("Offset (world)", initial_value=(0.5, 0.0, 0.0), step=0.05)
            self.yaw = gui.add_number("Yaw (degrees)", initial_value=0.0, step=5.0)
            self.duplicate = gui.add_button("Duplicate to offset")
            self.move = gui.add_button("Move by offset")
            self.undo = gui.add_button("Undo last edit")
            self.edits_text = gui.add_markdown("No edits yet.")
            self.save_path = gui.add_text("Save as", initial_value=str(default_save_path(session.run_dir)))
            self.save = gui.add_button("Save as edited run", color="green")
        self.hide.on_click(lambda event: self._in_background(self._toggle_hidden, event.client))
        for button, op in ((self.delete, "delete"), (self.duplicate, "duplicate"), (self.move, "move")):
            button.on_click(lambda event, op=op: self._in_background(self._edit, event.client, op))
        self.undo.on_click(lambda event: self._in_background(self._undo, event.client))
        self.save.on_click(lambda event: self._in_background(self._save, event.client))

    def _in_background(self, action, *args) -> None:
        self.viewer.spawn(action, *args)

    def _notify(self, client, title: str, body: str, error: bool = False, loading: bool = False):
        if client is None:
            return None
        return client.add_notification(
            title, body, loading=loading, with_close_button=not loading, color="red" if error else None,
            auto_close_seconds=None if loading else 6.0,
        )  # fmt: skip

    def _selected_or_tell(self, client) -> int | None:
        if self.session.selected is None:
            self._notify(client, "Nothing selected", "Click an object (or an instance entry) first.", True)
        return self.session.selected

    def _toggle_hidden(self, client) -> None:
        instance = self._selected_or_tell(client)
        if instance is not None:
            self._changing(client, "Hiding" if instance not in self.session.hidden else "Showing", lambda: (
                self.session.set_hidden(instance, instance not in self.session.hidden)
            ))  # fmt: skip

    def _edit(self, client, op: str) -> None:
        instance = self._selected_or_tell(client)
        if instance is None:
            return
        translation = tuple(float(v) for v in self.offset.value) if op != "delete" else (0.0, 0.0, 0.0)
        yaw = float(self.yaw.value) if op != "delete" else 0.0
        self._changing(client, f"{op.capitalize()} #{instance}", lambda: self.session.apply(
            Edit(op, instance, translation, yaw)  # type: ignore[arg-type]
        ))  # fmt: skip

    def _undo(self, client) -> None:
        self._changing(client, "Undo", self.session.undo)

    def _changing(self, client, title: str, change) -> None:
        """Run a change of the shown field with a notification, then render, re-list and re-layer."""
        note = self._notify(client, title, "finding the regions and applying ...", loading=True)
        try:
            change()
        except PanoliftError as exc:
            self._notify(client, f"{title}: not done", str(exc), error=True)
            return
        finally:
            if note is not None:
                note.remove()
        self.viewer.field_changed()
        self.viewer.drop_from_layer(
            self.session.hidden | {e.instance for e in self.session.pending if e.op == "delete"}
        )
        self.select(self.session.selected)
        self.show_edits()
        self.refresh_instances()
        self.viewer.update_layer()

    def show_edits(self) -> None:
        lines = [f"{n + 1}. {e.op} #{e.instance}" for n, e in enumerate(self.session.pending)]
        self.edits_text.content = "Unsaved edits:\n\n" + "\n".join(lines) if lines else "No unsaved edits."

    def _save(self, client) -> None:
        out = Path(self.save_path.value).expanduser()
        if out.exists():
            self._notify(client, "Not saved", f"{out} exists: choose another folder", error=True)
            return
        note = self._notify(client, "Saving", f"writing {out} ...", loading=True)
        try:
            self.session.save(out)
        except PanoliftError as exc:
            self._notify(client, "Not saved", str(exc), error=True)
            return
        finally:
            if note is not None:
                note.remove()
        self._notify(client, "Saved", f"edited run {out} (render it with `panolift render {out}`)")
        self.save_path.value = str(default_save_path(out))
        self.show_edits()
