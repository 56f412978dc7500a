"""Lifting from the poses a user's capture gets: structure from motion instead of the synth's exact cameras.

    .venv/bin/python benchmarks/capture_path.py --seeds heldout [--preset fast] [--threads 1]
        [--cache /tmp/suite-cache] [--out /tmp/panolift-capture] [--camera-model SIMPLE_PINHOLE] [--reuse]
        [--scenes DIR,DIR (scene folders with ground truth instead of --seeds)]

Every room of the suite is rendered from exact cameras, but a user's photos come with no poses at all:
`panolift import images` estimates them (pycolmap: SIFT, exhaustive matching, incremental mapping), with
their errors, their own scale and a focal length of their own. For each scene (suite seeds, as
`benchmarks/suite.py` takes them, synthesized into the same cache):

1. its colour frames alone, as files in a folder, go through `panolift import images` (``--camera-model``:
   SIMPLE_PINHOLE by default, the synth's camera: one focal length, square pixels, no distortion, so that
   no frame is resampled and the pixels stay the synth's; with a distortion model the import's undistorted
   frames are replaced by the originals too, which ignores SfM's small distortion estimate);
2. the scene's 2D labels, confidences, ground truth and split are carried over to the registered frames
   by name (the colour files too, so that the poses and the focal length are the only difference), the
   depth scaled into the SfM world;
3. the room is trained, rendered and scored by `benchmarks/suite.py`'s own steps twice, on the same
   frames and split: once with the synth's poses ("exact") and once with SfM's ("sfm").

The table gives how many frames registered, the SfM poses' errors after a similarity alignment to the
true cameras (Umeyama: rotation in degrees, camera centre in centimetres), the focal length's error, and
both trainings' test-view scores beside the 2D labels'. Each scene's runs are in ``--out``/<scene>/;
``--reuse`` keeps finished imports and scored runs.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import lift_scene, panolift_command, parse_seeds, run_logged, synthesize  # noqa: E402

# per-frame folders of the scene layout that travel with a frame (depth is scaled separately)
CARRIED = (
    "m2f_semantics", "m2f_instance", "m2f_segments", "m2f_probabilities", "m2f_notta_semantics",
    "m2f_notta_instance", "invalid", "rs_semantics", "rs_instance",
)  # fmt: skip
CARRIED_FILES = ("segmentation_data.json", "segmentation_data.pkl")


def pose_errors(true_c2w: np.ndarray, sfm_c2w: np.ndarray) -> dict:
    """Errors of SfM cameras (N, 4, 4, in the frames' order) against the true ones: camera centres after
    the best similarity (:func:`~panolift.capture.poses.compare_trajectories`), in the true world's units
    (the suite's rooms are in metres); orientations after the best rotation and between consecutive frames
    (:func:`~panolift.capture.poses.rotation_errors_deg`); and the similarity's scale (true units per SfM
    unit)."""
    from panolift.capture.poses import compare_trajectories, rotation_errors_deg

    errors = compare_trajectories(sfm_c2w, true_c2w)
    rotation = rotation_errors_deg(sfm_c2w[:, :3, :3], true_c2w[:, :3, :3])
    centres = true_c2w[:, :3, 3]
    extent = float(np.linalg.norm(centres - centres.mean(0), axis=-1).max())
    return {
        "scale": errors["scale"],
        "rotation_median_deg": rotation["aligned_median"],
        "rotation_max_deg": rotation["aligned_max"],
        "step_rotation_max_deg": rotation["step_max"],
        "centre_median_m": errors["translation_error_rel_median"] * extent,
        "centre_max_m": errors["translation_error_rel_max"] * extent,
    }


def frame_origins(imported: Path) -> dict[str, str]:
    """Imported frame name -> the name of the frame it came from (from the import's capture.json)."""
    record = json.loads((imported / "capture.json").read_text())
    return {name: Path(record["origins"][Path(path).name]).stem for name, path in record["frames"].items()}


def carry_over(source: Path, imported: Path, origins: dict[str, str], depth_scale: float) -> None:
    """Copy ``source``'s labels, ground truth, colour and split onto the imported frames, renamed; depth
    multiplied by ``depth_scale`` (true units -> the SfM world's)."""
    from PIL import Image

    # the import's own frames go (re-encoded, or undistorted with an `invalid/` mask for their uncovered
    # borders): the synth's pixels take their place, with the synth's mask if it has one
    shutil.rmtree(imported / "invalid", ignore_errors=True)
    for old in (imported / "color").iterdir():
        old.unlink()
    for folder in (*CARRIED, "color"):
        if not (source / folder).is_dir():
            continue
        (imported / folder).mkdir(exist_ok=True)
        for name, origin in origins.items():
            for path in (source / folder).glob(f"{origin}.*"):
                shutil.copyfile(path, imported / folder / f"{name}{path.suffix}")
    for filename in CARRIED_FILES:
        if (source / filename).exists():
            shutil.copyfile(source / filename, imported / filename)
    if (source / "depth").is_dir():
        (imported / "depth").mkdir(exist_ok=True)
        for name, origin in origins.items():
            path = source / "depth" / f"{origin}.png"
            if path.exists():
                depth = np.asarray(Image.open(path)).astype(np.float64) * depth_scale
                Image.fromarray(np.clip(np.round(depth), 0, 65535).astype(np.uint16)).save(
                    imported / "depth" / f"{name}.png"
                )
    splits = json.loads((source / "splits.json").read_text())
    test = set(splits.get("test") or splits.get("val") or [])
    train = set(splits["train"])
    renamed = {
        "train": [n for n, o in origins.items() if o in train],
        "test": [n for n, o in origins.items() if o in test],
    }
    (imported / "splits.json").write_text(json.dumps(renamed, indent=1))


def exact_copy(source: Path, target: Path, registered: set[str]) -> Path:
    """``source`` with its split limited to the ``registered`` frames (the frames the SfM run kept)."""
    if not target.exists():
        shutil.copytree(source, target)
    splits = json.loads((source / "splits.json").read_text())
    limited = {key: [n for n in names if n in registered] for key, names in splits.items()}
    (target / "splits.json").write_text(json.dumps(limited, indent=1))
    return target


def read_poses(scene) -> dict[str, np.ndarray]:
    return {name: scene.pose(name) for name in scene.frame_names}


def import_scene(info: dict, args: argparse.Namespace, work: Path) -> dict:
    """The colour frames through `panolift import images`, then the labels carried over; returns what the
    import measured (frames registered, pose and focal errors, seconds)."""
    from panolift.scene import Scene

    source = info["scene"]
    imported = work / "sfm"
    summary_path = work / "import.json"
    if args.reuse and summary_path.exists():  # a failed import too: SfM would fail the same way again
        summary = json.loads(summary_path.read_text())
        if summary["status"] == "ok":  # measured again: cheap, and the measures may be newer than the run
            summary.update(measure_import(source, imported))
        return summary
    shutil.rmtree(work, ignore_errors=True)
    images = work / "images"
    images.mkdir(parents=True)
    for path in sorted((source / "color").iterdir()):
        shutil.copyfile(path, images / path.name)
    cmd = [*panolift_command(), "import", "images", str(images), str(imported)]
    cmd += ["--camera-model", args.camera_model, "--threads", "1", *shlex.split(args.extra_import_args)]
    if args.known_fov:  # the camera's field of view, as a user who knows it would give it
        truth = Scene(source)
        fov = 2.0 * math.degrees(math.atan(0.5 * truth.native_size[0] / float(truth.intrinsics[0, 0])))
        cmd += ["--fov", repr(fov)]
    print(f"[{info['key']}] structure from motion on {len(list(images.iterdir()))} frames", flush=True)
    rc, seconds = run_logged(cmd, work / "import.log", 1)
    if rc != 0:
        summary = {"status": f"import failed ({rc}): see {work / 'import.log'}", "import_seconds": seconds}
        summary_path.write_text(json.dumps(summary))
        return summary
    measured = measure_import(source, imported)
    origins = frame_origins(imported)
    carry_over(source, imported, origins, 1.0 / measured["scale"])
    summary = {
        "status": "ok",
        "import_seconds": seconds,
        "registered_names": sorted(origins.values()),
        **measured,
    }
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def measure_import(source: Path, imported: Path) -> dict:
    """Frames registered, the SfM poses' errors (:func:`pose_errors`) and the focal length's, of the
    scene imported from ``source``'s frames."""
    from panolift.scene import Scene

    origins = frame_origins(imported)
    truth, estimated = Scene(source), Scene(imported)
    true_poses = np.stack([truth.pose(origins[name]) for name in estimated.frame_names])
    sfm_poses = np.stack([estimated.pose(name) for name in estimated.frame_names])
    focal_true, focal_sfm = float(truth.intrinsics[0, 0]), float(estimated.intrinsics[0, 0])
    return {
        "frames": len(truth.frame_names),
        "registered": len(origins),
        "focal_error": focal_sfm / focal_true - 1.0,
        **pose_errors(true_poses, sfm_poses),
    }


def refined_errors(source: Path, imported: Path, run: Path) -> dict | None:
    """The training cameras' errors (:func:`pose_errors`) as SfM gave them and as the run refined them
    (``--train.refine-cameras``), against the true cameras; None for a run that did not refine them."""
    from panolift.runs import load_run
    from panolift.scene import Scene

    loaded = load_run(run)
    cameras = loaded.frame_cameras
    if cameras is None:
        return None
    origins = frame_origins(imported)
    truth, estimated = Scene(source), Scene(imported)
    names = list(estimated.train_frames)
    true_poses = np.stack([truth.pose(origins[name]) for name in names])
    given = np.stack([estimated.pose(name) for name in names])
    refined = np.stack(
        [cameras.refine_world_pose(pose, i, loaded.normalization) for i, pose in enumerate(given)]
    )
    return {"given": pose_errors(true_poses, given), "refined": pose_errors(true_poses, refined)}


def fmt_scores(row: dict) -> str:
    if row.get("status") != "ok":
        return row.get("status", "-")
    return f"{100 * row['miou']:.1f} / {100 * row['pq']:.1f} / {row['psnr']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="heldout", help="suite seeds (as benchmarks/suite.py takes them)")
    parser.add_argument(
        "--scenes", default="", help="scene folders with ground truth, comma separated (instead of --seeds)"
    )
    parser.add_argument("--preset", default="fast", help="training preset for both trainings")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training (0: default)")
    parser.add_argument("--extra-train-args", default="", help="more `panolift train` arguments")
    parser.add_argument(
        "--extra-import-args",
        default="",
        help='more `panolift import images` arguments, e.g. --extra-import-args="--no-orient"',
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/suite-cache"), help="synthesized scenes")
    parser.add_argument("--out", type=Path, default=Path("/tmp/panolift-capture"), help="work folder")
    parser.add_argument("--camera-model", default="SIMPLE_PINHOLE", help="COLMAP camera model of the import")
    parser.add_argument(
        "--known-fov",
        action="store_true",
        help="give the import the true field of view (`--fov`): a fixed focal",
    )
    parser.add_argument(
        "--only",
        choices=("both", "sfm", "exact", "import"),
        default="both",
        help="trainings to run (import: none)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep finished imports and scored runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    if args.scenes:
        folders = [Path(p) for p in args.scenes.split(",") if p]
        infos = [{"key": p.name, "scene": p, "descriptor": p.name} for p in folders]
    else:
        infos = [synthesize(key, args.cache, args.threads) for key in parse_seeds(args.seeds)]
    rows = []
    for info in infos:
        key = info["key"]
        work = args.out / info["scene"].name
        summary = import_scene(info, args, work)
        row = {"key": key, "descriptor": info["descriptor"], **summary}
        if summary["status"] == "ok":
            sfm_info = dict(info, scene=work / "sfm")
            exact_info = dict(
                info, scene=exact_copy(info["scene"], work / "exact", set(summary["registered_names"]))
            )
            for name, what in (("exact", exact_info), ("sfm", sfm_info)):
                if args.only in ("both", name):
                    row[name] = lift_scene(what, args, work / f"runs-{name}")
            if row.get("sfm", {}).get("status") == "ok":
                row["sfm"]["cameras"] = refined_errors(info["scene"], work / "sfm", work / "runs-sfm" / "sfm")
        rows.append(row)
        print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


def print_table(rows: list[dict]) -> None:
    print(
        "\n| scene | room | registered | SfM rotation median / max (deg) | step max (deg) | centre median / max (cm) |"
        " focal |"
        " 2D labels mIoU / PQ^scene | exact poses: mIoU / PQ^scene / PSNR | SfM poses | SfM - exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    deltas = []
    for row in rows:
        if row["status"] != "ok":
            print(f"| {row['key']} | {row['descriptor']} | {row['status']} | | | | | | | | |")
            continue
        exact, sfm = row.get("exact", {}), row.get("sfm", {})
        labels = next((r for r in (exact, sfm) if r.get("status") == "ok"), None)
        label_cell = f"{100 * labels['miou_2d']:.1f} / {100 * labels['pq_2d']:.1f}" if labels else "-"
        delta = "-"
        if exact.get("status") == "ok" and sfm.get("status") == "ok":
            d = (
                100 * (sfm["miou"] - exact["miou"]),
                100 * (sfm["pq"] - exact["pq"]),
                sfm["psnr"] - exact["psnr"],
            )
            deltas.append(d)
            delta = f"{d[0]:+.1f} / {d[1]:+.1f} / {d[2]:+.2f}"
        cm = 100.0  # the suite's rooms are in metres
        print(
            f"| {row['key']} | {row['descriptor']} | {row['registered']} / {row['frames']} | "
            f"{row['rotation_median_deg']:.2f} / {row['rotation_max_deg']:.2f} | {row['step_rotation_max_deg']:.2f} | "
            f"{cm * row['centre_median_m']:.1f} / {cm * row['centre_max_m']:.1f} | {100 * row['focal_error']:+.2f}% | "
            f"{label_cell} | {fmt_scores(exact) if exact else '-'} | {fmt_scores(sfm) if sfm else '-'} | {delta} |"
        )
    if len(deltas) > 1:
        med = [statistics.median(d[i] for d in deltas) for i in range(3)]
        worst = [min(d[i] for d in deltas) for i in range(3)]
        print(
            f"\nSfM - exact over {len(deltas)} scenes: median {med[0]:+.1f} mIoU / {med[1]:+.1f} PQ^scene / "
            f"{med[2]:+.2f} dB; worst {worst[0]:+.1f} / {worst[1]:+.1f} / {worst[2]:+.2f}"
        )
    refined = [row for row in rows if (row.get("sfm") or {}).get("cameras")]
    if refined:
        print(
            "\n| scene | training cameras from SfM: rotation median / max (deg), centre median (cm) | refined |"
        )
        print("|---|---|---|")
        for row in refined:
            cells = [
                f"{e['rotation_median_deg']:.2f} / {e['rotation_max_deg']:.2f}, {100 * e['centre_median_m']:.1f}"
                for e in (row["sfm"]["cameras"]["given"], row["sfm"]["cameras"]["refined"])
            ]
            print(f"| {row['key']} | {cells[0]} | {cells[1]} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
