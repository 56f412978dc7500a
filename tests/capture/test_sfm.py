"""Structure from motion (pycolmap, CPU) on a synthetic room: poses recovered up to a similarity."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from PIL import Image

from panolift.capture.colmap_sfm import SfmConfig, check_registration, run_structure_from_motion
from panolift.capture.poses import compare_trajectories
from panolift.capture.world_scale import read_points3d
from panolift.cli import main
from panolift.scene import Scene, SceneError

# 16 frames at 240x180 over 0.4 turns: enough texture and overlap for SIFT, ~3 s of SfM on one thread.
SFM_SIZE, SFM_FRAMES, SFM_TURNS = (240, 180), 16, 0.4


@pytest.fixture(scope="module")
def sfm_room(tmp_path_factory) -> Path:
    from panolift.synth import SYNTH_PRESETS, synthesize_scene

    config = dataclasses.replace(
        SYNTH_PRESETS["tiny"], width=SFM_SIZE[0], height=SFM_SIZE[1], num_frames=SFM_FRAMES, turns=SFM_TURNS
    )
    root = tmp_path_factory.mktemp("sfm") / "room"
    synthesize_scene(root, config)
    return root


def test_structure_from_motion_recovers_the_trajectory(sfm_room, tmp_path, caplog):
    out = tmp_path / "imported"
    caplog.set_level(logging.INFO, logger="panolift.capture.colmap_sfm")
    main(["import", "images", str(sfm_room / "color"), str(out), "--test-every", "4"])
    assert "estimated a horizontal field of view of" in caplog.text  # for the user to check against theirs
    scene = Scene(out)
    reference = Scene(sfm_room)
    record = json.loads((out / "capture.json").read_text())
    # scene frame -> extracted frame (colmap/images/00003.jpg) -> original file (color/3.png)
    sources = [Path(record["origins"][Path(p).name]).stem for p in record["frames"].values()]
    assert len(sources) >= 0.75 * SFM_FRAMES, f"only {len(sources)} of {SFM_FRAMES} frames registered"
    errors = compare_trajectories(scene.poses, np.stack([reference.pose(s) for s in sources]))
    print(f"\nSfM on {SFM_FRAMES} frames {SFM_SIZE[0]}x{SFM_SIZE[1]}: {len(sources)} registered, {errors}")
    # measured (2-core CPU, 1 thread, synth seeds 0-3): 16/16 registered, rotation 0.24-1.3 deg median and
    # 0.46-2.7 deg max, translation 0.4-1.6 % median and 0.7-6 % max of the trajectory's extent
    assert errors["rotation_error_deg_median"] < 2.0 and errors["rotation_error_deg_max"] < 5.0
    assert errors["translation_error_rel_median"] < 0.05 and errors["translation_error_rel_max"] < 0.15
    # the focal length is estimated too (SIMPLE_RADIAL), close to the renderer's
    assert scene.intrinsics[0, 0] == pytest.approx(reference.intrinsics[0, 0], rel=0.05)
    assert scene.native_size == reference.native_size and scene.test_frames == scene.frame_names[::4]
    assert (out / "colmap" / "sparse").is_dir() and record["source"] == "images"
    # the world was rescaled to room size: measured 0.95-1.01 x metres (the synthetic room is metric)
    assert record["world_scale"] != 1.0 and 0.6 < errors["scale"] < 1.6
    # and turned upright with its walls along x and y, as the synth's box room is (up to quarter turns)
    source_of = {n: Path(record["origins"][Path(p).name]).stem for n, p in record["frames"].items()}
    turn = sum(reference.pose(source_of[n])[:3, :3] @ scene.pose(n)[:3, :3].T for n in source_of)
    u, _, vt = np.linalg.svd(turn)
    turn = u @ vt  # the imported world -> the synth's, a rotation about z by a multiple of 90 degrees
    tilt, yaw = np.degrees(np.arccos(min(1.0, turn[2, 2]))), np.degrees(np.arctan2(turn[1, 0], turn[0, 0]))
    print(f"imported world: {tilt:.2f} deg from upright, walls {(yaw + 45) % 90 - 45:+.2f} deg off the axes")
    assert tilt < 2.0 and abs((yaw + 45) % 90 - 45) < 3.0
    assert np.asarray(record["world_rotation"]).shape == (3, 3)
    scene.validate()
    check_points_against_pycolmap(Path(record["colmap_model"]), tmp_path / "as_text")


def check_points_against_pycolmap(model_dir: Path, text_dir: Path) -> None:
    """Our points3D reader (binary, and text as pycolmap writes it) agrees with pycolmap's."""
    reconstruction = pycolmap.Reconstruction(str(model_dir))
    text_dir.mkdir()
    reconstruction.write_text(str(text_dir))
    expected = sorted(
        (*np.round(p.xyz, 6).tolist(), *sorted(el.image_id for el in p.track.elements))
        for p in reconstruction.points3D.values()
    )
    assert len(expected) > 100
    for folder in (model_dir, text_dir):
        xyz, rows, image_ids = read_points3d(folder)
        tracks: list[list[int]] = [[] for _ in xyz]
        for row, image_id in zip(rows.tolist(), image_ids.tolist(), strict=True):
            tracks[row].append(image_id)
        got = sorted((*np.round(p, 6).tolist(), *sorted(t)) for p, t in zip(xyz, tracks, strict=True))
        assert got == expected


def test_too_few_registered_images_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "noise"
    images.mkdir()
    for i in range(4):  # independent noise: nothing to match, no initial pair
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"{i}.png")
    with pytest.raises(
        SceneError, match=r"noise: structure from motion registered only 0 of 4 images \(need at least 3\)"
    ):
        run_structure_from_motion(images, tmp_path / "work", SfmConfig(max_num_features=500))
    with pytest.raises(SystemExit) as exc:  # the CLI turns it into a clean exit
        main(["import", "images", str(images), str(tmp_path / "out")])
    assert exc.value.code == 2


def test_check_registration_threshold():
    check_registration(8, 16, 0.5, "x")
    with pytest.raises(SceneError, match="x: structure from motion registered only 7 of 16 images"):
        check_registration(7, 16, 0.5, "x")
    with pytest.raises(SceneError, match="need at least 3"):
        check_registration(2, 3, 0.5, "x")


def test_a_known_field_of_view_fixes_the_focal_length(sfm_room, tmp_path):
    reference = Scene(sfm_room)
    width = reference.native_size[0]
    fov = 2.0 * np.degrees(np.arctan(0.5 * width / reference.intrinsics[0, 0]))
    out = tmp_path / "imported"
    main(["import", "images", str(sfm_room / "color"), str(out), "--camera-model", "SIMPLE_PINHOLE"]
         + ["--fov", repr(float(fov))])  # fmt: skip
    scene = Scene(out)
    # exactly the given focal length (estimated, it lands within a few percent), the centre as COLMAP's
    assert scene.intrinsics[0, 0] == pytest.approx(reference.intrinsics[0, 0], rel=1e-6)
    assert scene.intrinsics[:2, 2] == pytest.approx([0.5 * width, 0.5 * reference.native_size[1]])
    record = json.loads((out / "capture.json").read_text())
    sources = [Path(record["origins"][Path(p).name]).stem for p in record["frames"].values()]
    errors = compare_trajectories(scene.poses, np.stack([reference.pose(s) for s in sources]))
    assert errors["translation_error_rel_median"] < 0.05


def test_a_field_of_view_is_checked_before_any_work(tmp_path):
    from panolift.capture import import_images
    from panolift.errors import OptionError

    for fov, model, message in (
        (200.0, "SIMPLE_PINHOLE", "--fov must lie between 0 and 180 degrees"),
        (60.0, "FULL_OPENCV", "--fov with --camera-model FULL_OPENCV: choose one of SIMPLE_PINHOLE"),
    ):
        with pytest.raises(OptionError, match=message):
            import_images(
                tmp_path / "nothing", tmp_path / "out", config=SfmConfig(camera_model=model, fov_deg=fov)
            )
    assert not (tmp_path / "out").exists()  # refused before a frame was written
