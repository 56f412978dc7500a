"""What a run folder's files hold, checked beyond their syntax: a configuration's ranges, a checkpoint's
metadata and tensors against its configuration, and the optimizer state a resumed run has loaded.

Every check raises :class:`~panolift.scene.SceneError` (a PanoliftError) whose message names the file (or
the option) and the problem, so that no malformed run reaches code that would fail with a traceback, hang,
or render garbage silently (NaN parameters).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import torch

from panolift.config import LiftConfig
from panolift.errors import OptionError
from panolift.field import PanopticField
from panolift.field.precision import PRECISIONS
from panolift.scene import SceneError

MAX_CHECKPOINT_BYTES = 4 << 30  # the paper preset's checkpoints are ~100 MB
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on its JSON header
OPTIM_TENSOR = re.compile(r"optim\.([A-Za-z_]\w*)\.(\d+)\.(\w+)")
SAFETENSORS_DTYPE = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bool: "BOOL",
    torch.uint8: "U8",
    torch.int64: "I64",
}


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------- configuration
def _at_least(low):
    return lambda v: v >= low, f"at least {low}"


def _positive():
    return lambda v: v > 0, "positive"


def _fraction():
    return lambda v: 0 <= v < 1, "in [0, 1)"


# (group, field) -> (predicate, what it accepts). What is not listed takes any value of its type.
def _within(low, high):
    return lambda v: low <= v <= high, f"in {low}..{high}"


# Sizes are bounded too, so that a field of a configuration read from a file can be built to compare with.
CONFIG_RANGES: dict[tuple[str, str], tuple[Callable, str]] = {
    **{("field", k): _within(2, 4096) for k in ("grid_resolution_init", "grid_resolution_final", "head_grid_resolution")},
    ("field", "instance_grid_resolution"): _within(0, 4096),
    **{("field", k): _within(1, 1024) for k in ("density_components", "appearance_components", "appearance_features")},
    **{("field", k): _within(1, 4096) for k in ("color_mlp_width", "semantic_width", "instance_width")},
    **{("field", k): _within(1, 16) for k in ("semantic_layers", "instance_layers")},
    **{("field", k): _within(0, 32) for k in ("color_pe_features", "color_pe_view", "head_pe_freqs")},
    ("field", "head_grid_components"): _within(0, 1024),
    ("field", "num_slots"): _within(1, 4096),
    ("field", "instance_embedding"): _within(0, 256),
    ("field", "cluster_radius"): _positive(),
    ("field", "cluster_min_share"): _fraction(),
    ("field", "cluster_draws"): _within(1, 64),
    ("field", "label_votes"): _within(0, 1),
    ("field", "label_vote_voxels"): _within(0, 1024),
    ("field", "label_vote_rays"): _at_least(1),
    ("loss", "embedding_pull"): _at_least(0),
    ("loss", "embedding_push"): _positive(),
    ("loss", "embedding_bank"): _within(0, 1 << 20),
    ("loss", "embedding_apart"): _at_least(0),
    ("loss", "embedding_touching"): _at_least(0),
    ("loss", "embedding_together"): _at_least(0),
    ("field", "distance_scale"): _positive(),
    ("field", "color_logit_bound"): _at_least(0),
    ("render", "step_ratio"): (lambda v: v >= 0.01, "at least 0.01"),
    ("render", "near"): _at_least(0),
    ("render", "occupancy_resolution"): _within(2, 4096),
    ("render", "occupancy_threshold"): _fraction(),
    ("render", "weight_threshold"): _fraction(),
    ("render", "max_evaluated_per_ray"): _at_least(0),
    ("render", "max_head_samples_per_ray"): _at_least(0),
    ("render", "termination_threshold"): _fraction(),
    ("render", "march_segment"): _at_least(1),
    ("render", "chunk_rays"): _at_least(1),
    ("render", "min_segment_share"): _fraction(),
    ("render", "unlabelled_class_share"): _fraction(),
    ("render", "label_snap_radius"): _within(0, 0.25),
    ("render", "label_snap_color"): _within(1e-4, 10),
    ("render", "label_snap_iterations"): _within(0, 16),
    ("render", "image_precision"): (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    **{("loss", k): _at_least(0) for k in (
        "weight_rgb", "weight_semantic", "weight_instance", "weight_consistency", "tv_density", "tv_density_sparse",
        "tv_appearance", "l1_density", "distortion", "matched_depth", "matched_band", "planarity", "planarity_flat", "exposure_prior", "instance_start",
        "consistency_start",
    )},
    ("loss", "ramp"): _fraction(),
    ("loss", "matched_depth_start"): _fraction(),
    ("loss", "min_class_views"): _at_least(1),
    ("train", "iterations"): _at_least(0),
    ("train", "head_steps"): _at_least(0),
    ("train", "rays_scene"): _at_least(1),
    ("train", "rays_image"): _at_least(1),
    ("train", "rays_matched"): _at_least(0),
    ("train", "rays_planar"): _at_least(0),
    ("train", "planar_step"): _at_least(1),
    ("train", "edge_rays"): _within(0, 1),
    ("train", "cameras_start"): _within(0, 1),
    **{("train", k): _at_least(0) for k in ("lr_grid", "lr_mlp", "lr_instance", "lr_exposure", "lr_cameras", "lr_camera_shift", "image_width", "keep_checkpoints")},
    ("train", "lr_decay"): _positive(),
    ("train", "lr_decay_geometry"): _at_least(0),
    ("train", "shrink_step"): _at_least(-1),
    ("train", "box_from_matches"): _within(0, 4),
    ("train", "max_depth"): _positive(),
    ("train", "checkpoint_every"): _at_least(1),
    ("train", "log_every"): _at_least(1),
    ("train", "seed"): (lambda v: 0 <= v < 2**63, "in 0..2**63-1"),
    ("train", "upsample_steps"): (lambda v: all(s >= 0 for s in v), "a list of steps >= 0"),
    ("train", "occupancy_steps"): (lambda v: all(s >= 0 for s in v), "a list of steps >= 0"),
}  # fmt: skip


def config_problems(config: LiftConfig) -> list[tuple[str, object, str]]:
    """(dotted field name, value, what it accepts) of every configuration value out of range."""
    problems = []
    for (group, name), (ok, accepts) in CONFIG_RANGES.items():
        value = getattr(getattr(config, group), name, None)
        if value is None:  # a field this table has not caught up with (tests check that none is missing)
            continue
        if isinstance(value, float) and not math.isfinite(value) or not ok(value):
            problems.append((f"{group}.{name}", value, accepts))
    train = config.train
    if 0 < train.iterations <= train.head_steps:  # the geometry needs steps of its own
        problems.append(
            ("train.head_steps", train.head_steps, f"below train.iterations ({train.iterations})")
        )
    return problems


def check_config(config: LiftConfig, source: str | Path | None = None) -> None:
    """Refuse a configuration value out of range. ``source`` is the file it was read from (the message
    names it and the field); None means it came from the command line (the message names the option)."""
    problems = config_problems(config)
    if not problems:
        return
    name, value, accepts = problems[0]
    if source is None:
        group, field = name.split(".", 1)
        option = f"--{group}.{field.replace('_', '-')}"
        raise OptionError(f"{option} {value}: must be {accepts}")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise SceneError(f"{source}: config field {name} is {value!r}; it must be {accepts}{more}")


def config_from_dict(data, source: Path) -> LiftConfig:
    """A configuration read from ``source`` (run.json or a checkpoint's metadata), types and ranges checked."""
    try:
        config = LiftConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise SceneError(f"{source}: malformed configuration ({exc})") from None
    check_config(config, source)
    return config


# ------------------------------------------------------------------------------------- checkpoint metadata
def check_checkpoint_meta(path: Path, meta, format_version: int) -> LiftConfig:
    """The metadata of a checkpoint: what loading and resuming read, with its types; returns its config."""
    if not isinstance(meta, dict):
        raise SceneError(f"{path}: not a panolift checkpoint (its metadata is not a JSON object)")
    version = meta.get("format_version", 0)
    if not is_int(version) or version > format_version:
        raise SceneError(f"{path}: checkpoint format {version!r} is not one this panolift reads")
    if "step" not in meta or "config" not in meta:
        raise SceneError(f"{path}: not a panolift checkpoint (no step or config in its metadata)")
    if not is_int(meta["step"]) or meta["step"] < 0:
        raise SceneError(f"{path}: checkpoint step {meta['step']!r} is not a non-negative integer")
    config = config_from_dict(meta["config"], path)
    history = meta.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and is_int(h.get("step")) and all(is_number(v) for v in h.values())
        for h in history
    ):
        raise SceneError(f"{path}: checkpoint history is not a list of {{'step': int, loss: number}} records")
    elapsed = meta.get("elapsed", 0.0)
    if not is_number(elapsed) or not math.isfinite(elapsed) or elapsed < 0:
        raise SceneError(f"{path}: checkpoint 'elapsed' {elapsed!r} is not a non-negative number of seconds")
    optimizers = meta.get("optimizers", {})
    if not isinstance(optimizers, dict) or not all(
        isinstance(name, str)
        and isinstance(saved, dict)
        and isinstance(saved.get("param_groups"), list)
        and all(
            isinstance(g, dict) and isinstance(g.get("params"), list) and all(is_int(i) for i in g["params"])
            for g in saved["param_groups"]
        )
        and isinstance(saved.get("scalars", {}), dict)
        for name, saved in optimizers.items()
    ):
        raise SceneError(
            f"{path}: malformed optimizer state in the metadata (each optimizer needs 'param_groups', a "
            "list of objects with integer 'params', and 'scalars')"
        )
    if not isinstance(meta.get("rng_device", "cpu"), str):
        raise SceneError(f"{path}: checkpoint 'rng_device' {meta['rng_device']!r} is not a device name")
    return config


# ------------------------------------------------------------------------------------- checkpoint tensors
Headers = dict[str, tuple[tuple[int, ...], str]]  # tensor name -> (shape, safetensors dtype)


def _grid_resolution(path: Path, headers: Headers, prefix: str, voxels: int) -> tuple[int, int, int]:
    """The (x, y, z) resolution of the VM grid ``prefix`` read from its planes' shapes (as the field does),
    refused when it is not a grid or holds far more voxels than ``voxels``^3."""
    p0, p1 = headers.get(f"field.{prefix}.planes.0"), headers.get(f"field.{prefix}.planes.1")
    if p0 is None or p1 is None:
        missing = f"field.{prefix}.planes.{0 if p0 is None else 1}"
        raise SceneError(f"{path}: checkpoint tensor {missing} is missing")
    for name, (shape, _) in ((f"field.{prefix}.planes.0", p0), (f"field.{prefix}.planes.1", p1)):
        if len(shape) != 4 or shape[0] != 1:
            raise SceneError(f"{path}: checkpoint tensor {name} has shape {shape}, not (1, C, H, W)")
    resolution = (p0[0][3], p0[0][2], p1[0][2])
    n = max(voxels, 2)
    if min(resolution) < 2 or max(resolution) > 8 * n or math.prod(resolution) > 8 * n**3:
        raise SceneError(
            f"{path}: the {prefix} of the checkpoint is {resolution[0]}x{resolution[1]}x{resolution[2]}, "
            f"not a grid of about {voxels}^3 voxels as its configuration says"
        )
    return resolution


def expected_field_tensors(
    path: Path, config: LiftConfig, num_classes: int, headers: Headers
) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, safetensors dtype) of every field tensor a checkpoint of ``config`` holds, with the
    grid resolutions it was saved at (after upsampling or shrinking). The field is built on the CPU (the
    meta device would import torch._dynamo: seconds): its grids are bounded by the file's size (safetensors
    checks that the data covers the shapes of its header), its MLPs by :data:`CONFIG_RANGES`."""
    field_config = config.field
    voxels = max(field_config.grid_resolution_init, field_config.grid_resolution_final)
    resolution = _grid_resolution(path, headers, "density_grid", voxels)
    head_resolution = instance_resolution = (2, 2, 2)  # unused without head grids
    if field_config.head_grid_components > 0:
        head_resolution = _grid_resolution(path, headers, "semantic_grid", field_config.head_grid_resolution)
        instance_resolution = _grid_resolution(
            path, headers, "instance_grid", field_config.instance_grid_voxels
        )
    try:
        with torch.random.fork_rng(devices=[]):  # the field's initialisation draws from the global RNG
            field = PanopticField(
                field_config, num_classes, aabb=torch.tensor([[-1.0] * 3, [1.0] * 3]), resolution=resolution,
                bounded=config.loss.bounded, head_resolution=head_resolution,
                instance_resolution=instance_resolution,
            )  # fmt: skip
    except (RuntimeError, ValueError) as exc:  # memory
        raise SceneError(f"{path}: cannot make a field of its configuration ({exc})") from None
    expected = {
        f"field.{k}": (tuple(v.shape), SAFETENSORS_DTYPE[v.dtype]) for k, v in field.state_dict().items()
    }
    occupancy = headers.get("field.occupancy_mask")
    if occupancy is not None and len(occupancy[0]) == 3:  # (0, 0, 0) before the first occupancy update
        voxels = config.render.occupancy_resolution
        if math.prod(occupancy[0]) > 8 * max(voxels, 2) ** 3:
            raise SceneError(
                f"{path}: checkpoint tensor field.occupancy_mask is {_shape_text(*occupancy)}, not an "
                f"occupancy grid of about {voxels}^3 voxels as its configuration says"
            )
        expected["field.occupancy_mask"] = (occupancy[0], "BOOL")
    # instance clusters: as many as were found (none before the end of training, none in older runs)
    names = ("field.instance_centres", "field.instance_of_centre", "field.instance_class_prior")
    centres, classes = headers.get(names[0]), headers.get(names[2])
    if all(name not in headers for name in names):
        for name in names:
            expected.pop(name)
    elif centres is not None and len(centres[0]) == 2 and classes is not None and len(classes[0]) == 2:
        count = centres[0][0]
        expected[names[0]] = ((count, *expected[names[0]][0][1:]), "F32")
        expected[names[1]] = ((count,), "I64")
        expected[names[2]] = ((classes[0][0], *expected[names[2]][0][1:]), "F32")
    # label votes: as many voted nodes as were fused (none before the end of training, none in older runs)
    names = (
        "field.label_vote_shape",
        "field.label_vote_nodes",
        "field.label_vote_mass",
        "field.label_vote_classes",
    )
    if all(name not in headers for name in names):
        for name in names:
            expected.pop(name)
    else:
        nodes = headers.get(names[1])
        count = nodes[0][0] if nodes is not None and len(nodes[0]) == 1 else -1
        expected[names[1]] = ((count,), "I64")
        expected[names[2]] = ((count,), "F32")
        expected[names[3]] = ((count, expected[names[3]][0][1]), "F16")
    # the share of the voting rays that ended on no surface: counted since stop 73, one value or none
    open_share = headers.get("field.label_vote_open")
    if open_share is None:
        expected.pop("field.label_vote_open")
    elif open_share[0] in ((0,), (1,)):
        expected["field.label_vote_open"] = (open_share[0], "F32")
    return expected


def _shape_text(shape: tuple[int, ...], dtype: str) -> str:
    return f"{'x'.join(str(n) for n in shape) or 'scalar'} {dtype}"


def check_checkpoint_headers(
    path: Path, config: LiftConfig, headers: Headers, num_classes: int | None
) -> None:
    """Names, shapes and dtypes of a checkpoint's tensors, before any is read: the field's against its
    configuration (and ``num_classes``, from run.json, when given), the optimizer moments and the random
    state against what they can be."""
    for name, (shape, dtype) in headers.items():
        if name.startswith("optim."):
            if not OPTIM_TENSOR.fullmatch(name) or dtype != "F32":
                raise SceneError(
                    f"{path}: checkpoint tensor {name} ({_shape_text(shape, dtype)}) is not optimizer state"
                )
    bank_means, bank_classes = headers.get("embedding_bank.means"), headers.get("embedding_bank.classes")
    if bank_means is not None or bank_classes is not None:
        dim = config.field.instance_embedding
        rows = (bank_means or bank_classes)[0][:1]
        if (
            bank_means is None
            or bank_classes is None
            or bank_means != ((*rows, dim), "F32")
            or (bank_classes != (tuple(rows), "I64"))
        ):
            got = ", ".join(_shape_text(*h) if h else "missing" for h in (bank_means, bank_classes))
            raise SceneError(
                f"{path}: checkpoint tensors embedding_bank.means, embedding_bank.classes are {got}; an "
                f"embedding of {dim} dimensions keeps (n, {dim}) F32 means and (n,) I64 classes"
            )
    bank_places = headers.get("embedding_bank.places")  # absent in checkpoints written before stop 30
    if bank_places is not None and (bank_means is None or bank_places != ((*bank_means[0][:1], 4), "F32")):
        raise SceneError(
            f"{path}: checkpoint tensor embedding_bank.places is {_shape_text(*bank_places)}; the bank keeps "
            f"one (n, 4) F32 place (centre, radius) per mean"
        )
    rng = headers.get("rng.torch")
    if rng is not None and (len(rng[0]) != 1 or rng[1] != "U8"):
        raise SceneError(
            f"{path}: checkpoint tensor rng.torch is {_shape_text(*rng)}, not the bytes of a random state"
        )
    if num_classes is None:
        return
    expected = expected_field_tensors(path, config, num_classes, headers)
    saved = {k: v for k, v in headers.items() if k.startswith("field.")}
    missing = sorted(set(expected) - set(saved))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SceneError(f"{path}: checkpoint tensor {missing[0]} is missing{more}")
    unexpected = sorted(set(saved) - set(expected))
    if unexpected:
        raise SceneError(
            f"{path}: checkpoint tensor {unexpected[0]} is not part of a field of its configuration"
        )
    for name, want in expected.items():
        if saved[name] != want:
            classes = (
                f" and the {num_classes} classes of run.json"
                if "semantic" in name or "class_prior" in name
                else ""
            )
            raise SceneError(
                f"{path}: checkpoint tensor {name} is {_shape_text(*saved[name])}; its configuration{classes} "
                f"need{'' if classes else 's'} {_shape_text(*want)}"
            )


def check_checkpoint_values(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Every floating-point tensor finite; the field's boxes proper boxes; each instance cluster centre
    names one of the instances."""
    centre_of = tensors.get("field.instance_of_centre")
    classes = tensors.get("field.instance_class_prior")
    if centre_of is not None and classes is not None and centre_of.numel():
        if int(centre_of.min()) < 0 or int(centre_of.max()) >= classes.shape[0]:
            raise SceneError(
                f"{path}: checkpoint tensor field.instance_of_centre names instances outside 0..{classes.shape[0] - 1}"
            )
    for name, tensor in tensors.items():
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise SceneError(
                    f"{path}: checkpoint tensor {name} has {bad} NaN or infinite values (a diverged run or a "
                    "corrupt file)"
                )
    shape, nodes = tensors.get("field.label_vote_shape"), tensors.get("field.label_vote_nodes")
    if shape is not None and nodes is not None and shape.shape == (3,) and nodes.numel():
        count = int(shape.prod())
        if int(shape.min()) < 2 or int(nodes.min()) < 0 or int(nodes.max()) >= count:
            raise SceneError(
                f"{path}: checkpoint tensor field.label_vote_nodes names nodes outside the "
                f"{'x'.join(str(int(n)) for n in shape)} lattice of field.label_vote_shape"
            )
    open_share = tensors.get("field.label_vote_open")
    if (
        open_share is not None
        and open_share.numel()
        and not bool(((open_share >= 0) & (open_share <= 1)).all())
    ):
        raise SceneError(
            f"{path}: checkpoint tensor field.label_vote_open is {open_share.tolist()}, not a share in [0, 1]"
        )
    for name in ("field.aabb", "field.occupancy_aabb"):
        box = tensors.get(name)
        if box is not None and box.shape == (2, 3) and not bool((box[0] < box[1]).all()):
            raise SceneError(f"{path}: checkpoint tensor {name} {box.tolist()} is not a box (min < max)")


# ------------------------------------------------------------------------------------- optimizer state
ADAM_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _group_problem(group: dict, defaults: dict) -> str | None:
    missing = sorted(set(defaults) - set(group))
    if missing:
        return f"no '{missing[0]}'"
    for key, value in group.items():
        if key not in defaults:  # "params", and what a scheduler adds
            continue
        default = defaults[key]
        if key == "betas":
            if not (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(is_number(b) and 0 <= b < 1 for b in value)
            ):
                return f"betas {value!r}"
        elif isinstance(default, bool) or default is None:
            if not (value is None or isinstance(value, bool)):
                return f"{key} {value!r}"
        elif is_number(default) or isinstance(default, torch.Tensor):
            if not (is_number(value) and math.isfinite(value) and value >= 0):
                return f"{key} {value!r}"
    return None


def check_optimizer_state(path: Path, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """After a resumed trainer loaded a checkpoint: every optimizer's hyper-parameters usable and every
    moment the shape of its parameter (torch does not check either; a mismatch would fail at the next step
    or broadcast silently)."""
    for name, optimizer in optimizers.items():
        for group in optimizer.param_groups:
            problem = _group_problem(group, optimizer.defaults)
            if problem is not None:
                raise SceneError(
                    f"{path}: optimizer '{name}' of the checkpoint has a bad setting ({problem})"
                )
            for index, param in enumerate(group["params"]):
                for key, value in optimizer.state.get(param, {}).items():
                    what = f"optim.{name}.{index}.{key}"
                    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                    if key in ADAM_MOMENTS and not (
                        isinstance(value, torch.Tensor) and value.shape == param.shape
                    ):
                        raise SceneError(
                            f"{path}: optimizer state {what} is {shape}, which does not fit its parameter "
                            f"{tuple(param.shape)}"
                        )
                    if key == "step" and not (
                        is_number(value) or (isinstance(value, torch.Tensor) and value.numel() == 1)
                    ):
                        raise SceneError(f"{path}: optimizer state {what} is {shape}, not a step count")
