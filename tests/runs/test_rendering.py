"""Reading camera trajectories for `panolift render --trajectory`, and stray classes of a rendered split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panolift.runs import read_trajectory
from panolift.scene import SceneError


def test_read_trajectory_from_json_or_folder(tmp_path):
    poses = [np.eye(4), np.diag([1.0, -1.0, -1.0, 1.0])]
    (tmp_path / "t.json").write_text(json.dumps([p.tolist() for p in poses]))
    folder = tmp_path / "poses"
    folder.mkdir()
    for i, p in enumerate(poses):
        np.savetxt(folder / f"{i * 10}.txt", p)  # "0", "10": numeric order
    for source in (tmp_path / "t.json", folder):
        got = read_trajectory(source)
        assert len(got) == 2 and np.allclose(got[1], poses[1])
    (tmp_path / "bad.json").write_text(json.dumps([[[1, 2], [3, 4]]]))
    with pytest.raises(SceneError, match="bad.json"):
        read_trajectory(tmp_path / "bad.json")
    (tmp_path / "ragged.json").write_text(json.dumps([[[1, 2], [3]]]))
    with pytest.raises(SceneError, match="ragged.json"):
        read_trajectory(tmp_path / "ragged.json")


def test_stray_classes_of_a_rendered_split_merge_into_their_surroundings(tmp_path):
    """A class that a whole split shows on a handful of pixels (a stray class, a whole class of PQ^scene's
    mean) takes its surroundings' class and id in every file of the frames that show it; larger classes,
    void and frames without it are left as they were."""
    from panolift.render import remove_classes
    from panolift.runs.rendering import drop_stray_classes, stray_classes
    from panolift.scene import SCANNET21
    from panolift.scene.io import read_label, read_rgb, write_image

    wall, floor, chair, otherprop = (
        SCANNET21.names.index(n) for n in ("wall", "floor", "chair", "otherprop")
    )
    frames = {}
    for name in ("a", "b"):
        sem = np.full((6, 8), wall)
        ins = np.zeros((6, 8), dtype=np.int64)
        sem[4:], sem[:, 6:], ins[:, 6:] = floor, chair, 3
        sem[0, 0] = 0  # void
        frames[name] = (sem, ins)
    frames["a"][0][1, 2] = otherprop  # one stray pixel in frame a, next to wall
    class_pixels = sum(np.bincount(s.ravel(), minlength=SCANNET21.num_classes) for s, _ in frames.values())
    assert stray_classes(class_pixels, min_pixels=3) == [otherprop]
    assert stray_classes(class_pixels, min_pixels=1) == []
    for name, (sem, ins) in frames.items():
        for folder, image in (("semantics", sem.astype(np.uint8)), ("instance", ins.astype(np.uint16))):
            write_image(tmp_path / folder / f"{name}.png", image)
        write_image(tmp_path / "rgb" / f"{name}.png", np.full((6, 8, 3), 90, dtype=np.uint8))
        write_image(tmp_path / "overlay" / f"{name}.png", np.zeros((6, 16, 3), dtype=np.uint8))
    video = [np.zeros((6, 16, 3), dtype=np.uint8) for _ in frames]
    shown = [np.bincount(s.ravel(), minlength=SCANNET21.num_classes) > 0 for s, _ in frames.values()]
    assert drop_stray_classes(tmp_path, ["a", "b"], [otherprop], SCANNET21, [], [shown[1], shown[1]]) == 0
    assert drop_stray_classes(tmp_path, ["a", "b"], [otherprop], SCANNET21, video, shown) == 1
    sem_a = read_label(tmp_path / "semantics" / "a.png")
    assert sem_a[1, 2] == wall and otherprop not in sem_a
    expected = frames["a"][0].copy()
    expected[1, 2] = wall
    assert (sem_a == expected).all()  # void, floor and chair as they were
    assert (read_label(tmp_path / "instance" / "a.png") == frames["a"][1]).all()
    assert (
        read_rgb(tmp_path / "overlay" / "a.png").any() and not read_rgb(tmp_path / "overlay" / "b.png").any()
    )
    assert video[0].any() and not video[1].any()  # only the changed frame's video frame is redrawn
    # the pixels take the nearest other pixel's class and id: a stray class inside a chair becomes the chair
    sem, ins = frames["b"]
    sem2, ins2 = sem.copy(), ins.copy()
    sem2[2, 7] = otherprop
    out_sem, out_ins = remove_classes(sem2, ins2, [otherprop])
    assert (out_sem[2, 7], out_ins[2, 7]) == (chair, 3)


def test_a_small_class_mostly_on_surfaces_no_view_labelled_is_stray_too():
    """Beside the handful-of-pixels rule: a class under ``max_unlabelled_pixels`` in the whole split with at
    least half of its pixels on unlabelled surfaces (the heads' guess where no training view looked) is
    stray; the same class mostly on labelled surfaces, or larger, or the rule off (0), is kept."""
    from panolift.runs.rendering import stray_classes

    class_pixels = np.array([50, 5000, 900, 300, 2])  # void, wall, chair, refrigerator, otherprop
    unlabelled = np.array([50, 400, 100, 150, 0])
    assert stray_classes(class_pixels, 3, unlabelled, 1000) == [3, 4]  # half of 300 unlabelled; 2 < 3 px
    assert stray_classes(class_pixels, 3, unlabelled, 250) == [4]  # 300 pixels are too many
    assert stray_classes(class_pixels, 3, unlabelled - np.array([0, 0, 0, 1, 0]), 1000) == [4]  # under half
    assert stray_classes(class_pixels, 3, unlabelled, 0.0) == [4]  # off
    assert stray_classes(class_pixels, 3) == [4]
    unlabelled[2] = 900  # a chair that no view labelled at all, but above the size: kept
    assert stray_classes(class_pixels, 3, unlabelled, 900) == [3, 4]


def test_a_small_class_drawn_where_no_view_labelled_or_on_no_surface_is_stray():
    """A small class with at most a tenth of its pixels on voted surfaces (the rest on unvoted surfaces or
    where the ray ends on no surface: a haze where no training view looked) is stray though under half
    of it is on unvoted surfaces; one with more of it on voted surfaces is kept (a real object partly in
    the haze), and without ``open_pixels`` the half-unvoted rule alone decides."""
    from panolift.runs.rendering import GUESSED_VOTED_SHARE, stray_classes

    class_pixels = np.array([50, 5000, 400, 400, 400])  # void, wall, television, cabinet, lamp
    unlabelled = np.array([0, 100, 100, 100, 100])  # a quarter of each small class on unvoted surfaces
    open_ = np.array([50, 0, 260, 200, 300])  # voted: television 40 (a tenth), cabinet 100, lamp 0
    assert GUESSED_VOTED_SHARE == 0.1
    assert stray_classes(class_pixels, 3, unlabelled, 1000, open_) == [2, 4]
    assert stray_classes(class_pixels, 3, unlabelled, 1000) == []  # no class half on unvoted surfaces
    assert stray_classes(class_pixels, 3, unlabelled, 300, open_) == []  # all above the size
    open_[2] -= 1  # 41 voted pixels: over a tenth
    assert stray_classes(class_pixels, 3, unlabelled, 1000, open_) == [4]
