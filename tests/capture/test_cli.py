"""`panolift import colmap|nerfstudio` end to end on the synthetic tiny scene: exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.capture import export_scene_to_colmap, export_scene_to_transforms
from panolift.cli import main
from panolift.scene import Scene


@pytest.mark.parametrize("fmt", ["colmap-text", "colmap-binary", "nerfstudio"])
def test_synth_scene_round_trip_through_the_cli(tiny_scene, tmp_path, fmt, capsys):
    scene = Scene(tiny_scene)
    out = tmp_path / "imported"
    if fmt == "nerfstudio":
        export_scene_to_transforms(scene, tmp_path / "transforms.json")
        main(["import", "nerfstudio", str(tmp_path / "transforms.json"), str(out), "--test-every", "4"])
    else:
        export_scene_to_colmap(scene, tmp_path / "sparse", binary=fmt == "colmap-binary")
        main(
            [
                "import",
                "colmap",
                str(tmp_path / "sparse"),
                str(tiny_scene / "color"),
                str(out),
                "--test-every",
                "4",
            ]
        )
    assert "next: panolift segment" in capsys.readouterr().out
    back = Scene(out)
    assert back.frame_names == scene.frame_names and back.native_size == scene.native_size
    np.testing.assert_allclose(back.poses, scene.poses, atol=1e-5)
    np.testing.assert_allclose(back.intrinsics, scene.intrinsics, atol=1e-5)
    assert back.test_frames == scene.test_frames  # every 4th frame, as the synth scene's own split
    assert back.class_set == scene.class_set and not back.has_machine_labels
    np.testing.assert_array_equal(back.rgb("5"), scene.rgb("5"))
    back.validate()


def test_cli_reports_bad_input_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import", "colmap", str(tmp_path / "nope"), str(tmp_path), str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "COLMAP model folder does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["import", "nerfstudio", str(tmp_path / "transforms.json"), str(tmp_path / "out")])
    assert exc.value.code == 2 and "transforms.json: file does not exist" in capsys.readouterr().err


def test_import_help_lists_the_three_sources(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in ("images", "colmap", "nerfstudio"))
