"""A corpus of malformed run folders, generated at test time from the session's tiny run.

Not a test module: tests/fuzz/test_fuzz_runs.py loads it (and mutations.py) by path. The base folder holds
``run/`` (a copy of the `tiny_run` fixture: run.json, checkpoints/step_000400 and step_000600, latest.json)
and ``edited/`` (an edited run of it: one delete, small region settings). Each :class:`RunCase` turns a
copy of the base into one kind of bad (or unusual but valid) input, says which reader runs on it (``op``,
see the test module) and what the error message must contain: a piece of the offending file's path and,
where it matters, of the problem. ``expect=None`` means the input is valid and the reader must succeed
(and, for the loaders, load ``step``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

m = sys.modules["panolift_fuzz_mutations"]

RUN_JSON = "run/run.json"
LATEST = "run/checkpoints/latest.json"
CKPT = "run/checkpoints/step_000600.safetensors"
OLDER = "run/checkpoints/step_000400.safetensors"
EDITS = "edited/edits.json"
EDITED_RUN_JSON = "edited/run.json"
OPS = (
    "load",
    "render",
    "export",
    "describe",
    "resume",
    "edits",
    "load-edited",
    "render-edited",
    "resume-edited",
)


@dataclass(frozen=True)
class RunCase:
    name: str
    mutate: Callable[[Path], None]
    expect: str | None  # pieces the message must contain ("a|b": both); None: valid input
    op: str = "load"
    step: int | None = None  # valid input, a loader: the step it must load

    def __post_init__(self) -> None:
        assert self.op in OPS, self.op


def make_run_base(tiny_run: Path, root: Path) -> Path:
    """run/ (a copy of the tiny run) and edited/ (one instance deleted; small region grid)."""
    from panolift.config import RegionConfig
    from panolift.edit import Edit
    from panolift.runs import create_edited_run, describe_instances, load_run

    shutil.copytree(tiny_run, root / "run", ignore=shutil.ignore_patterns("render", "export"))
    small = {"resolution": 24, "visibility_rays": 1024}
    rows = describe_instances(load_run(root / "run"), RegionConfig(**small))
    assert rows, "the tiny run has no 3D instance to edit"
    create_edited_run(root / "run", root / "edited", [Edit("delete", rows[0]["id"])], **small)
    return root


# ----------------------------------------------------------------------------------- checkpoint surgery
def _read(path: Path) -> tuple[dict | None, dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("panolift")
        return (json.loads(raw) if raw else None), {k: f.get_tensor(k) for k in f.keys()}


def _clusters(centres: int, of_centre: list[int], instances: int, classes: int | None = None):
    """A checkpoint's tensors with instance clusters put in: ``centres`` centres of the embedding's width,
    the instance of each, ``instances`` class-prior rows of ``classes`` classes (default: the run's)."""

    def change(tensors: dict) -> dict:
        width = tensors["field.instance_centres"].shape[1]
        count = classes or tensors["field.instance_class_prior"].shape[1]
        return {
            **tensors,
            "field.instance_centres": torch.zeros(centres, width),
            "field.instance_of_centre": torch.tensor(of_centre, dtype=torch.int64),
            "field.instance_class_prior": torch.full((instances, count), 1.0 / count),
        }

    return change


def rewrite(
    rel: str, meta: Callable[[dict], object] | None = None, tensors: Callable[[dict], object] | None = None
) -> Callable[[Path], None]:
    """Rewrite a checkpoint with its metadata and/or tensors changed (each function may return a new value
    or change its argument in place)."""

    def mutate(root: Path) -> None:
        old_meta, old_tensors = _read(root / rel)
        new_meta = meta(old_meta) if meta else None
        new_meta = old_meta if new_meta is None else new_meta
        new_tensors = tensors(old_tensors) if tensors else None
        new_tensors = old_tensors if new_tensors is None else new_tensors
        save_file(new_tensors, str(root / rel), metadata={"panolift": json.dumps(new_meta)})

    return mutate


def raw_metadata(rel: str, metadata: dict[str, str] | None) -> Callable[[Path], None]:
    """The checkpoint's tensors with this safetensors metadata (None: none at all)."""

    def mutate(root: Path) -> None:
        _, tensors = _read(root / rel)
        save_file(tensors, str(root / rel), metadata=metadata)

    return mutate


def header_length(rel: str, value: int) -> Callable[[Path], None]:
    """Overwrite the 8-byte little-endian header length at the start of a safetensors file."""

    def mutate(root: Path) -> None:
        data = bytearray((root / rel).read_bytes())
        data[:8] = value.to_bytes(8, "little")
        (root / rel).write_bytes(bytes(data))

    return mutate


def corrupt_header(rel: str) -> Callable[[Path], None]:
    """Noise in the middle of the JSON header (the tensor offsets and metadata)."""

    def mutate(root: Path) -> None:
        data = bytearray((root / rel).read_bytes())
        length = int.from_bytes(data[:8], "little")
        mid = 8 + length // 2
        data[mid : mid + 16] = bytes(range(0xF0, 0x100))
        (root / rel).write_bytes(bytes(data))

    return mutate


def _set(path: str, value):
    """A change of a nested dict: set ``path`` ("a.b.c") to ``value`` (deleted when value is DELETE)."""

    def change(obj):
        *parents, last = path.split(".")
        target = obj
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return obj

    return change


DELETE = object()


def _tensor(name: str, value: Callable[[torch.Tensor], torch.Tensor] | None):
    """A change of the tensors: replace ``name`` by ``value(old)`` (deleted when value is None)."""

    def change(tensors):
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value(tensors[name]).contiguous()
        return tensors

    return change


def _with_nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[t.numel() // 2] = float("nan")
    return t


def _with_inf(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = float("inf")
    return t


# ----------------------------------------------------------------------------------- other building blocks
def scene_copy(change: Callable[[Path], None] | None) -> Callable[[Path], None]:
    """Point run.json at a copy of its scene inside the case folder (changed by ``change``)."""

    def mutate(root: Path) -> None:
        info = json.loads((root / RUN_JSON).read_text())
        shutil.copytree(info["scene"], root / "scene")
        if change is not None:
            change(root / "scene")
        info["scene"] = str(root / "scene")
        (root / RUN_JSON).write_text(json.dumps(info))

    return mutate


def move_scene_pose(root: Path) -> None:
    (root / "pose" / "1.txt").write_text((root / "pose" / "2.txt").read_text())


def edited_source(value: str | Callable[[Path], str]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        data = json.loads((root / EDITS).read_text())
        data["source_run"] = value(root) if callable(value) else value
        (root / EDITS).write_text(json.dumps(data))

    return mutate


def edited_loop(root: Path) -> None:
    """edited -> edited2 -> edited: two edited runs pointing at each other."""
    shutil.copytree(root / "edited", root / "edited2")
    for name, other in (("edited", "../edited2"), ("edited2", "../edited")):
        data = json.loads((root / name / "edits.json").read_text())
        data["source_run"] = other
        (root / name / "edits.json").write_text(json.dumps(data))


def _files(rel: str, op: str, missing_expect: str | None = None) -> list[RunCase]:
    """What can stand where a regular file should: a folder, a FIFO, devices, links, empty, garbage."""
    short = rel.split("/", 1)[1]
    return [
        RunCase(f"{short}:missing", m.remove(rel), missing_expect or rel, op),
        RunCase(f"{short}:dir", m.make_dir(rel), f"{rel}|folder", op),
        RunCase(f"{short}:fifo", m.make_fifo(rel), f"{rel}|FIFO", op),
        RunCase(f"{short}:dev-zero", m.link(rel, "/dev/zero"), f"{rel}|device", op),
        RunCase(f"{short}:dev-urandom", m.link(rel, "/dev/urandom"), f"{rel}|device", op),
        RunCase(f"{short}:broken-link", m.link(rel, "/nonexistent/file"), f"{rel}|broken", op),
        RunCase(f"{short}:link-loop", m.link(rel, os.path.basename(rel)), rel, op),
        RunCase(f"{short}:empty", m.put(rel, b""), f"{rel}|empty", op),
        RunCase(f"{short}:garbage", m.put(rel, bytes(range(256)) * 4), rel, op),
    ]


# ----------------------------------------------------------------------------------- the cases
def _run_json() -> list[RunCase]:
    R = RUN_JSON
    return _files(R, "load", f"{R}|no run.json") + [
        RunCase("run.json:link-to-regular", m.link_to_copy(R), None, step=600),
        RunCase("run.json:text", m.put_text(R, "scene = here\n"), f"{R}|invalid JSON"),
        RunCase("run.json:list", m.put_json(R, [1, 2]), f"{R}|a JSON object"),
        RunCase("run.json:truncated", m.truncate(R, 0.5), f"{R}|invalid JSON"),
        RunCase("run.json:sparse-20MB", m.sparse_file(R, 20 << 20), f"{R}|bytes"),
        RunCase("run.json:nested", m.put_text(R, "[" * 100000 + "]" * 100000), R),
        RunCase("run.json:version-99", m.edit_json(R, m._with("format_version", 99)), f"{R}|format version"),
        RunCase("run.json:version-string", m.edit_json(R, m._with("format_version", "1")), f"{R}|format version"),
        *(
            RunCase(f"run.json:no-{key}", m.edit_json(R, m._without(key)), f"{R}|'{key}'")
            for key in ("scene", "config", "class_set", "normalization", "image_size")
        ),
        RunCase("run.json:scene-number", m.edit_json(R, m._with("scene", 42)), f"{R}|scene"),
        RunCase("run.json:scene-empty", m.edit_json(R, m._with("scene", "")), f"{R}|scene"),
        RunCase("run.json:scene-nul", m.edit_json(R, m._with("scene", "/tmp/a\x00b")), f"{R}|scene"),
        RunCase("run.json:classes-not-list", m.edit_json(R, _set("class_set.names", "wall")), f"{R}|class_set"),
        RunCase("run.json:classes-one", m.edit_json(R, _set("class_set.names", ["void"])), f"{R}|classes"),
        RunCase("run.json:things-out-of-range", m.edit_json(R, _set("class_set.thing_ids", [5, 99])), f"{R}|thing_ids"),
        RunCase("run.json:things-bool", m.edit_json(R, _set("class_set.thing_ids", [True])), f"{R}|thing_ids"),
        RunCase("run.json:things-repeated", m.edit_json(R, _set("class_set.thing_ids", [5, 5])), f"{R}|thing_ids"),
        RunCase("run.json:one-class-more", m.edit_json(R, lambda d: d["class_set"]["names"].append("extra")), f"{CKPT}|23 classes of run.json"),
        RunCase("run.json:scale-zero", m.edit_json(R, _set("normalization.scale", 0)), f"{R}|scale"),
        RunCase("run.json:scale-string", m.edit_json(R, _set("normalization.scale", "1.0")), f"{R}|scale"),
        RunCase("run.json:center-nan", m.edit_json(R, _set("normalization.center.1", float("nan"))), f"{R}|center"),
        RunCase("run.json:center-2d", m.edit_json(R, _set("normalization.center", [0, 0])), f"{R}|center"),
        RunCase("run.json:image-size-zero", m.edit_json(R, m._with("image_size", [0, 48])), f"{R}|image_size"),
        RunCase("run.json:image-size-float", m.edit_json(R, m._with("image_size", [64.5, 48])), f"{R}|image_size"),
        RunCase("run.json:image-size-string", m.edit_json(R, m._with("image_size", "64x48")), f"{R}|image_size"),
        RunCase("run.json:config-list", m.edit_json(R, m._with("config", [])), f"{R}|configuration"),
        RunCase("run.json:config-slots-string", m.edit_json(R, _set("config.field.num_slots", "16")), f"{R}|field.num_slots"),
        RunCase("run.json:config-checkpoint-every-0", m.edit_json(R, _set("config.train.checkpoint_every", 0)), f"{R}|train.checkpoint_every"),
        RunCase("run.json:config-chunk-rays-0", m.edit_json(R, _set("config.render.chunk_rays", 0)), f"{R}|render.chunk_rays"),
        RunCase("run.json:fingerprint-list", m.edit_json(R, m._with("scene_fingerprint", [1])), f"{R}|scene_fingerprint"),
        RunCase("run.json:edited-from-number", m.edit_json(R, m._with("edited_from", 5)), f"{R}|edited_from"),
        RunCase("run.json:unknown-key", m.edit_json(R, m._with("comment", "made by hand")), None, step=600),
        RunCase("run.json:no-fingerprint", m.edit_json(R, m._without("scene_fingerprint")), None, step=600),
        RunCase("run.json:scene-gone", m.edit_json(R, m._with("scene", "/nonexistent/scene")), f"{R}|moved or deleted|\"scene\" entry", "render"),
        RunCase("run.json:scene-gone-export", m.edit_json(R, m._with("scene", "/nonexistent/scene")), f"{R}|moved or deleted", "export"),
        RunCase("run.json:scene-is-file", m.edit_json(R, m._with("scene", "/etc/hostname")), f"{R}|not a folder", "render"),
        RunCase("run.json:scene-moved-copy", scene_copy(None), None, "render"),
        RunCase("run.json:scene-changed", scene_copy(move_scene_pose), None, "render"),
    ]  # fmt: skip


def _latest() -> list[RunCase]:
    L = LATEST
    return _files(L, "load")[1:] + [
        RunCase("latest.json:missing", m.remove(L), None, step=600),
        RunCase("latest.json:older", m.put_json(L, {"step": 400, "file": "step_000400.safetensors"}), None, step=400),
        RunCase("latest.json:text", m.put_text(L, "step_000600"), f"{L}|invalid JSON"),
        RunCase("latest.json:list", m.put_json(L, ["step_000600.safetensors"]), f"{L}|JSON object"),
        RunCase("latest.json:outside", m.put_json(L, {"step": 600, "file": "../run.json"}), f"{L}|'file'"),
        RunCase("latest.json:absolute", m.put_json(L, {"step": 600, "file": "/etc/passwd"}), f"{L}|'file'"),
        RunCase("latest.json:dotdot-step", m.put_json(L, {"step": 600, "file": "../step_000600.safetensors"}), f"{L}|'file'"),
        RunCase("latest.json:missing-file", m.put_json(L, {"step": 999, "file": "step_000999.safetensors"}), f"{L}|missing"),
        RunCase("latest.json:file-number", m.put_json(L, {"step": 600, "file": 600}), f"{L}|'file'"),
        RunCase("latest.json:step-mismatch", m.put_json(L, {"step": 400, "file": "step_000600.safetensors"}), f"{L}|'step'"),
        RunCase("latest.json:step-string", m.put_json(L, {"step": "600", "file": "step_000600.safetensors"}), f"{L}|'step'"),
        RunCase("latest.json:no-step", m.put_json(L, {"file": "step_000600.safetensors"}), f"{L}|'step'"),
        RunCase("latest.json:resume-outside", m.put_json(L, {"step": 600, "file": "../run.json"}), f"{L}|'file'", "resume"),
    ]  # fmt: skip


def _checkpoint_files() -> list[RunCase]:
    C = CKPT
    return _files(C, "load", f"{LATEST}|missing") + [
        RunCase("ckpt:link-to-regular", m.link_to_copy(C), None, step=600),
        RunCase("ckpt:truncated-half", m.truncate(C, 0.5), C),
        RunCase("ckpt:truncated-8-bytes", m.truncate(C, 8 / 681864), C),
        RunCase("ckpt:truncated-4-bytes", m.put(C, b"\x10\x00\x00\x00"), C),
        RunCase("ckpt:trim-1", m.trim(C, 1), C),
        RunCase("ckpt:header-length-huge", header_length(C, 1 << 60), f"{C}|safetensors"),
        RunCase("ckpt:header-length-past-end", header_length(C, 10_000_000), f"{C}|safetensors"),
        RunCase("ckpt:header-length-zero", header_length(C, 0), f"{C}|safetensors"),
        RunCase("ckpt:header-corrupt", corrupt_header(C), C),
        RunCase("ckpt:sparse-5GiB", m.sparse_file(C, 5 << 30), f"{C}|bytes"),
        RunCase("ckpt:a-png", m.put(C, b"\x89PNG\r\n\x1a\n" + bytes(100)), C),
        RunCase("ckpt:no-metadata", raw_metadata(C, None), f"{C}|not a panolift checkpoint"),
        RunCase("ckpt:foreign-metadata", raw_metadata(C, {"format": "pt"}), f"{C}|not a panolift checkpoint"),
        RunCase("ckpt:metadata-not-json", raw_metadata(C, {"panolift": "{step: 600"}), f"{C}|not JSON"),
        RunCase("ckpt:metadata-list", raw_metadata(C, {"panolift": "[600]"}), f"{C}|metadata"),
        RunCase("ckpt:older-only", m.both(m.remove(LATEST), m.remove(C)), None, step=400),
        RunCase("ckpt:none-at-all", m.both(m.remove(LATEST), m.remove(C), m.remove(OLDER)), "run/checkpoints|no checkpoint yet"),
        RunCase("ckpt:folder-is-file", m.both(m.remove("run/checkpoints"), m.put("run/checkpoints", b"x")), "run/checkpoints|not a folder"),
        RunCase("ckpt:stale-temporaries", m.both(m.put("run/checkpoints/.step_000800.ab12.safetensors", b"partial"), m.put("run/checkpoints/.latest.cd34.json", b"{"), m.put("run/checkpoints/.tmpQ1w2E3", b"partial")), None, step=600),
        RunCase("ckpt:stray-files", m.both(m.put("run/checkpoints/notes.txt", b"x"), m.put("run/checkpoints/step_1.safetensors", b"x")), None, step=600),
        RunCase("ckpt:renamed-step", m.both(m.remove(C), lambda root: shutil.copy(root / OLDER, root / C)), f"{C}|step"),
    ]  # fmt: skip


def _checkpoint_meta() -> list[RunCase]:
    C = CKPT
    return [
        RunCase("meta:no-step", rewrite(C, meta=_set("step", DELETE)), f"{C}|no step"),
        RunCase("meta:no-config", rewrite(C, meta=_set("config", DELETE)), f"{C}|no step or config"),
        RunCase("meta:step-negative", rewrite(C, meta=_set("step", -1)), f"{C}|step"),
        RunCase("meta:step-string", rewrite(C, meta=_set("step", "600")), f"{C}|step"),
        RunCase("meta:step-float", rewrite(C, meta=_set("step", 600.5)), f"{C}|step"),
        RunCase("meta:version-99", rewrite(C, meta=_set("format_version", 99)), f"{C}|format"),
        RunCase("meta:config-string", rewrite(C, meta=_set("config", "tiny")), f"{C}|configuration"),
        RunCase("meta:config-bad-type", rewrite(C, meta=_set("config.field.grid_resolution_final", "32")), f"{C}|field.grid_resolution_final"),
        RunCase("meta:config-bad-range", rewrite(C, meta=_set("config.render.step_ratio", 0.0)), f"{C}|render.step_ratio"),
        RunCase("meta:slots-differ", rewrite(C, meta=_set("config.field.num_slots", 17)), f"{C}|instance_head"),
        RunCase("meta:embedding-differs", rewrite(C, meta=_set("config.field.instance_embedding", 6)), f"{C}|instance_centres|0x6"),
        RunCase("meta:history-dict", rewrite(C, meta=_set("history", {"0": 1})), f"{C}|history"),
        RunCase("meta:history-strings", rewrite(C, meta=_set("history.0.rgb", "low")), f"{C}|history"),
        RunCase("meta:elapsed-nan", rewrite(C, meta=_set("elapsed", float("nan"))), f"{C}|elapsed"),
        RunCase("meta:optimizers-list", rewrite(C, meta=_set("optimizers", [])), f"{C}|optimizer"),
        RunCase("meta:params-strings", rewrite(C, meta=_set("optimizers.grid.param_groups.0.params", ["a"])), f"{C}|optimizer"),
        RunCase("meta:rng-device-number", rewrite(C, meta=_set("rng_device", 5)), f"{C}|rng_device"),
        RunCase("meta:unknown-key", rewrite(C, meta=_set("comment", "hand-made")), None, step=600),
    ]  # fmt: skip


def _checkpoint_tensors() -> list[RunCase]:
    C = CKPT
    planes = "field.density_grid.planes"
    return [
        RunCase("tensor:missing-plane", rewrite(C, tensors=_tensor(f"{planes}.2", None)), f"{C}|{planes}.2|missing"),
        RunCase("tensor:missing-plane-0", rewrite(C, tensors=_tensor(f"{planes}.0", None)), f"{C}|{planes}.0|missing"),
        RunCase("tensor:missing-head", rewrite(C, tensors=_tensor("field.semantic_head.mlp.4.bias", None)), f"{C}|semantic_head"),
        RunCase("tensor:missing-aabb", rewrite(C, tensors=_tensor("field.aabb", None)), f"{C}|field.aabb"),
        RunCase("tensor:extra", rewrite(C, tensors=lambda t: {**t, "field.bogus": torch.zeros(3)}), f"{C}|field.bogus"),
        RunCase("tensor:cluster-instance-out-of-range", rewrite(C, tensors=_clusters(centres=1, of_centre=[5], instances=1)), f"{C}|instance_of_centre|0..0"),
        RunCase("tensor:cluster-centres-cut", rewrite(C, tensors=_clusters(centres=2, of_centre=[0], instances=1)), f"{C}|instance_of_centre"),
        RunCase("tensor:cluster-prior-classes", rewrite(C, tensors=_clusters(centres=1, of_centre=[0], instances=1, classes=3)), f"{C}|instance_class_prior"),
        RunCase("tensor:embedding-bank-width", rewrite(C, tensors=lambda t: {**t, "embedding_bank.means": torch.zeros(4, 3), "embedding_bank.classes": torch.zeros(4, dtype=torch.int64)}), f"{C}|embedding_bank.means|(n, "),
        RunCase("tensor:embedding-bank-places", rewrite(C, tensors=lambda t: {**t, "embedding_bank.means": torch.zeros(4, 0), "embedding_bank.classes": torch.zeros(4, dtype=torch.int64), "embedding_bank.places": torch.zeros(5, 4)}), f"{C}|embedding_bank.places|(n, 4)"),
        RunCase("tensor:head-rows", rewrite(C, tensors=_tensor("field.semantic_head.mlp.4.weight", lambda t: t[:-1])), f"{C}|semantic_head.mlp.4.weight"),
        RunCase("tensor:line-length", rewrite(C, tensors=_tensor("field.density_grid.lines.1", lambda t: t[:, :, :-3])), f"{C}|density_grid.lines.1"),
        RunCase("tensor:plane-3d", rewrite(C, tensors=_tensor(f"{planes}.0", lambda t: t[0])), f"{C}|{planes}.0"),
        RunCase("tensor:huge-grid", rewrite(C, tensors=_tensor(f"{planes}.0", lambda t: torch.zeros(1, 4, 400, 400))), f"{C}|density_grid"),
        RunCase("tensor:float64", rewrite(C, tensors=_tensor(f"{planes}.1", lambda t: t.double())), f"{C}|{planes}.1"),
        RunCase("tensor:int-weights", rewrite(C, tensors=_tensor("field.color_mlp.net.0.weight", lambda t: t.int())), f"{C}|color_mlp"),
        RunCase("tensor:occupancy-float", rewrite(C, tensors=_tensor("field.occupancy_mask", lambda t: t.float())), f"{C}|occupancy_mask"),
        RunCase("tensor:occupancy-huge", rewrite(C, tensors=_tensor("field.occupancy_mask", lambda t: torch.zeros(300, 300, 300, dtype=torch.bool))), f"{C}|occupancy_mask"),
        RunCase("tensor:occupancy-empty", rewrite(C, tensors=_tensor("field.occupancy_mask", lambda t: torch.zeros(0, 0, 0, dtype=torch.bool))), None, step=600),
        RunCase("tensor:nan-grid", rewrite(C, tensors=_tensor(f"{planes}.1", _with_nan)), f"{C}|{planes}.1|NaN"),
        RunCase("tensor:inf-mlp", rewrite(C, tensors=_tensor("field.instance_head.mlp.0.weight", _with_inf)), f"{C}|instance_head|NaN or infinite"),
        RunCase("tensor:aabb-inverted", rewrite(C, tensors=_tensor("field.aabb", lambda t: t.flip(0))), f"{C}|field.aabb|box"),
        RunCase("tensor:optim-float64", rewrite(C, tensors=_tensor("optim.mlp.0.exp_avg", lambda t: t.double())), f"{C}|optim.mlp.0.exp_avg"),
        RunCase("tensor:optim-bad-name", rewrite(C, tensors=lambda t: {**t, "optim.grid.x.exp_avg": torch.zeros(1)}), f"{C}|optim.grid.x"),
        RunCase("tensor:optim-nan", rewrite(C, tensors=_tensor("optim.grid.0.exp_avg_sq", _with_nan)), f"{C}|optim.grid.0.exp_avg_sq"),
        RunCase("tensor:rng-float", rewrite(C, tensors=_tensor("rng.torch", lambda t: t.float())), f"{C}|rng.torch"),
        RunCase("tensor:unknown-extra", rewrite(C, tensors=lambda t: {**t, "notes.version": torch.zeros(1)}), None, step=600),
    ]  # fmt: skip


def _resume() -> list[RunCase]:
    """What only `train --resume` reads: the optimizer state, the random state, run.json's config."""
    C = CKPT
    return [
        RunCase("resume:valid", lambda root: None, None, "resume", step=600),
        RunCase("resume:no-checkpoint-yet", m.remove("run/checkpoints"), None, "resume", step=0),
        RunCase("resume:stale-temporaries", m.both(m.put("run/checkpoints/.step_000800.ab12.safetensors", b"partial"), m.put("run/checkpoints/.tmpQ1w2E3", b"x"), m.make_dir("run/checkpoints/.step_000900.dir")), None, "resume", step=600),
        RunCase("resume:moment-shape", rewrite(C, tensors=_tensor("optim.mlp.1.exp_avg", lambda t: t[:-1])), f"{C}|optim.mlp.1.exp_avg|does not fit", "resume"),
        RunCase("resume:moment-transposed", rewrite(C, tensors=_tensor("optim.instance.0.exp_avg_sq", lambda t: t.T)), f"{C}|optim.instance.0.exp_avg_sq", "resume"),
        RunCase("resume:step-vector", rewrite(C, tensors=_tensor("optim.grid.3.step", lambda t: t.repeat(3))), f"{C}|optim.grid.3.step", "resume"),
        RunCase("resume:lr-string", rewrite(C, meta=_set("optimizers.mlp.param_groups.0.lr", "fast")), f"{C}|optimizer 'mlp'|lr", "resume"),
        RunCase("resume:betas-short", rewrite(C, meta=_set("optimizers.grid.param_groups.0.betas", [0.9])), f"{C}|betas", "resume"),
        RunCase("resume:no-eps", rewrite(C, meta=_set("optimizers.instance.param_groups.0.eps", DELETE)), f"{C}|eps", "resume"),
        RunCase("resume:params-fewer", rewrite(C, meta=_set("optimizers.grid.param_groups.0.params", [0, 1])), C, "resume"),
        RunCase("resume:no-grid-optimizer", rewrite(C, meta=_set("optimizers.grid", DELETE)), f"{C}|optimizer 'grid'", "resume"),
        RunCase("resume:rng-size", rewrite(C, tensors=_tensor("rng.torch", lambda t: t[:16])), f"{C}|rng.torch", "resume"),
        RunCase("resume:rng-missing", rewrite(C, tensors=_tensor("rng.torch", None)), f"{C}|rng.torch", "resume"),
        RunCase("resume:rng-device-cuda", rewrite(C, meta=_set("rng_device", "cuda:0")), f"{C}|--device cuda", "resume"),
        RunCase("resume:rng-device-junk", rewrite(C, meta=_set("rng_device", "toaster")), f"{C}|rng_device", "resume"),
        RunCase("resume:nan-grid", rewrite(C, tensors=_tensor("field.appearance_grid.planes.2", _with_nan)), f"{C}|NaN", "resume"),
        RunCase("resume:history-strings", rewrite(C, meta=_set("history.3", "x")), f"{C}|history", "resume"),
        RunCase("resume:config-every-0", m.both(m.remove("run/checkpoints"), m.edit_json(RUN_JSON, _set("config.train.checkpoint_every", 0))), f"{RUN_JSON}|train.checkpoint_every", "resume"),
        RunCase("resume:no-run-json", m.remove(RUN_JSON), f"{RUN_JSON}|no run.json", "resume"),
        RunCase("resume:lock-is-dir", m.make_dir("run/.lock"), "run/.lock|not a regular file", "resume"),
        RunCase("resume:lock-is-fifo", m.make_fifo("run/.lock"), "run/.lock", "resume"),
        RunCase("resume:run-is-file", m.both(m.remove("run"), m.put("run", b"x")), "run|not a folder", "resume"),
        RunCase("resume:latest-missing-file", m.put_json(LATEST, {"step": 999, "file": "step_000999.safetensors"}), f"{LATEST}|missing", "resume"),
        RunCase("resume:truncated", m.truncate(C, 0.7), C, "resume"),
        RunCase("resume:edited-run", lambda root: None, "edited|an edited run", "resume-edited"),
        RunCase("resume:other-classes", m.edit_json(RUN_JSON, lambda d: d["class_set"]["names"].append("extra")), "run|classes", "resume"),
    ]  # fmt: skip


def _edits() -> list[RunCase]:
    E = EDITS
    return _files(E, "edits")[1:] + [
        RunCase("edits.json:missing", m.remove(E), f"{E}|missing|edited run of", "load-edited"),
        RunCase("edits.json:valid", lambda root: None, None, "edits"),
        RunCase("edits.json:text", m.put_text(E, "delete 8"), f"{E}|invalid JSON", "edits"),
        RunCase("edits.json:list", m.put_json(E, []), f"{E}|JSON object", "edits"),
        RunCase("edits.json:no-source", m.edit_json(E, m._without("source_run")), f"{E}|source_run", "edits"),
        RunCase("edits.json:source-number", m.edit_json(E, m._with("source_run", 5)), f"{E}|source_run", "edits"),
        RunCase("edits.json:source-empty", m.edit_json(E, m._with("source_run", "")), f"{E}|source_run", "edits"),
        RunCase("edits.json:source-nul", m.edit_json(E, m._with("source_run", "../r\x00un")), f"{E}|source_run", "edits"),
        RunCase("edits.json:version-2", m.edit_json(E, m._with("version", 2)), f"{E}|version", "edits"),
        RunCase("edits.json:version-true", m.edit_json(E, m._with("version", True)), f"{E}|version", "edits"),
        RunCase("edits.json:up-zero", m.edit_json(E, m._with("up", [0, 0, 0])), f"{E}|'up'", "edits"),
        RunCase("edits.json:up-2d", m.edit_json(E, m._with("up", [0, 1])), f"{E}|'up'", "edits"),
        RunCase("edits.json:up-strings", m.edit_json(E, m._with("up", ["0", "0", "1"])), f"{E}|'up'", "edits"),
        RunCase("edits.json:up-nan", m.edit_json(E, m._with("up", [0, float("nan"), 1])), f"{E}|'up'", "edits"),
        RunCase("edits.json:region-list", m.edit_json(E, m._with("region", [64])), f"{E}|'region'", "edits"),
        RunCase("edits.json:region-unknown", m.edit_json(E, _set("region.voxels", 64)), f"{E}|voxels", "edits"),
        RunCase("edits.json:region-huge", m.edit_json(E, _set("region.resolution", 100000)), f"{E}|resolution", "edits"),
        RunCase("edits.json:region-string", m.edit_json(E, _set("region.resolution", "64")), f"{E}|resolution", "edits"),
        RunCase("edits.json:region-threshold-nan", m.edit_json(E, _set("region.density_threshold", float("nan"))), f"{E}|density_threshold", "edits"),
        RunCase("edits.json:region-dilation", m.edit_json(E, _set("region.dilation", 1000)), f"{E}|dilation", "edits"),
        RunCase("edits.json:region-rays", m.edit_json(E, _set("region.visibility_rays", 10**9)), f"{E}|visibility_rays", "edits"),
        RunCase("edits.json:region-fraction", m.edit_json(E, _set("region.min_component_fraction", 2)), f"{E}|min_component_fraction", "edits"),
        RunCase("edits.json:edits-dict", m.edit_json(E, m._with("edits", {"op": "delete"})), f"{E}|'edits'", "edits"),
        RunCase("edits.json:edits-2000", m.edit_json(E, m._with("edits", [{"op": "delete", "instance": 1}] * 2000)), f"{E}|'edits'", "edits"),
        RunCase("edits.json:edit-string", m.edit_json(E, m._with("edits", ["delete 8"])), f"{E}|edit 1", "edits"),
        RunCase("edits.json:op-unknown", m.edit_json(E, _set("edits.0.op", "explode")), f"{E}|'op'", "edits"),
        RunCase("edits.json:op-missing", m.edit_json(E, _set("edits.0.op", DELETE)), f"{E}|'op'", "edits"),
        RunCase("edits.json:id-string", m.edit_json(E, _set("edits.0.instance", "8")), f"{E}|'instance'", "edits"),
        RunCase("edits.json:id-float", m.edit_json(E, _set("edits.0.instance", 8.0)), f"{E}|'instance'", "edits"),
        RunCase("edits.json:id-bool", m.edit_json(E, _set("edits.0.instance", True)), f"{E}|'instance'", "edits"),
        RunCase("edits.json:id-zero", m.edit_json(E, _set("edits.0.instance", 0)), f"{E}|'instance'", "edits"),
        RunCase("edits.json:id-negative", m.edit_json(E, _set("edits.0.instance", -3)), f"{E}|'instance'", "edits"),
        RunCase("edits.json:id-huge", m.edit_json(E, _set("edits.0.instance", 10**30)), f"{E}|'instance'", "edits"),
        RunCase("edits.json:translation-nan", m.edit_json(E, m._with("edits", [{"op": "move", "instance": 8, "translation": [float("nan"), 0, 0]}])), f"{E}|'translation'", "edits"),
        RunCase("edits.json:translation-2d", m.edit_json(E, m._with("edits", [{"op": "move", "instance": 8, "translation": [1, 2]}])), f"{E}|'translation'", "edits"),
        RunCase("edits.json:translation-string", m.edit_json(E, m._with("edits", [{"op": "move", "instance": 8, "translation": "1 2 3"}])), f"{E}|'translation'", "edits"),
        RunCase("edits.json:yaw-inf", m.edit_json(E, m._with("edits", [{"op": "duplicate", "instance": 8, "translation": [1, 0, 0], "yaw_degrees": float("inf")}])), f"{E}|yaw_degrees", "edits"),
        RunCase("edits.json:yaw-string", m.edit_json(E, m._with("edits", [{"op": "duplicate", "instance": 8, "translation": [1, 0, 0], "yaw_degrees": "90"}])), f"{E}|yaw_degrees", "edits"),
        RunCase("edits.json:unknown-key", m.edit_json(E, m._with("comment", "by hand")), None, "load-edited", step=600),
        RunCase("edits.json:no-region", m.edit_json(E, m._without("region")), None, "load-edited", step=600),
        RunCase("edits.json:no-edits", m.edit_json(E, m._with("edits", [])), None, "load-edited", step=600),
        RunCase("edits.json:id-not-in-scene", m.edit_json(E, _set("edits.0.instance", 999)), f"{E}|no 3D instance 999", "load-edited"),
        RunCase("edits.json:source-self", edited_source("."), f"{E}|points back", "load-edited"),
        RunCase("edits.json:source-missing", edited_source("../nowhere"), f"{E}|nowhere|missing", "load-edited"),
        RunCase("edits.json:source-no-run-json", edited_source("../run/checkpoints"), f"{E}|has no run.json", "load-edited"),
        RunCase("edits.json:source-loop", edited_loop, f"{E}|itself an edited run", "load-edited"),
        RunCase("edits.json:source-long-name", edited_source("x" * 5000), E, "load-edited"),
        RunCase("edits.json:source-absolute", edited_source(lambda root: str(root / "run")), None, "load-edited", step=600),
        RunCase("edits.json:source-trailing-slash", edited_source("../run/"), None, "load-edited", step=600),
        RunCase("edited:source-retrained-config", m.edit_json(RUN_JSON, _set("config.train.seed", 1)), f"{EDITED_RUN_JSON}|retrained|config", "load-edited"),
        RunCase("edited:source-retrained-scene", m.edit_json(RUN_JSON, _set("scene_fingerprint.poses_sha1", "0" * 40)), f"{EDITED_RUN_JSON}|scene_fingerprint", "load-edited"),
        RunCase("edited:source-checkpoint-broken", m.truncate(CKPT, 0.5), CKPT, "load-edited"),
        RunCase("edited:run-json-missing", m.remove(EDITED_RUN_JSON), f"{EDITED_RUN_JSON}|no run.json", "load-edited"),
        RunCase("edited:run-json-garbage", m.put(EDITED_RUN_JSON, b"\x00garbage"), EDITED_RUN_JSON, "load-edited"),
        RunCase("edited:render", lambda root: None, None, "render-edited"),
        RunCase("edited:scene-gone", m.both(m.edit_json(RUN_JSON, m._with("scene", "/nonexistent/scene")), m.edit_json(EDITED_RUN_JSON, m._with("scene", "/nonexistent/scene"))), f"{RUN_JSON}|moved or deleted", "render-edited"),
    ]  # fmt: skip


def _readers() -> list[RunCase]:
    """The other readers on a few inputs each (export, the instance table)."""
    return [
        RunCase("export:valid", lambda root: None, None, "export"),
        RunCase("export:nan-grid", rewrite(CKPT, tensors=_tensor("field.density_grid.lines.0", _with_nan)), f"{CKPT}|NaN", "export"),
        RunCase("export:latest-outside", m.put_json(LATEST, {"step": 600, "file": "../run.json"}), f"{LATEST}|'file'", "export"),
        RunCase("describe:valid", lambda root: None, None, "describe"),
        RunCase("describe:empty-field", rewrite(CKPT, tensors=_tensor("field.density_grid.lines.0", torch.zeros_like)), "run|no training ray becomes opaque", "describe"),
        RunCase("describe:one-class-more", m.edit_json(RUN_JSON, lambda d: d["class_set"]["names"].append("extra")), f"{CKPT}|classes", "describe"),
        RunCase("render:valid", lambda root: None, None, "render"),
        RunCase("render:empty-field", rewrite(CKPT, tensors=_tensor("field.density_grid.lines.0", torch.zeros_like)), None, "render"),
    ]  # fmt: skip


def all_cases() -> list[RunCase]:
    cases = _run_json() + _latest() + _checkpoint_files() + _checkpoint_meta() + _checkpoint_tensors()
    cases += _resume() + _edits() + _readers()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    return cases
