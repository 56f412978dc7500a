"""A synthesized scene read back through `Scene`: layout, splits, cameras, depth, labels."""

from __future__ import annotations

import json

import numpy as np

from panolift.scene import SCANNET21, Scene
from panolift.synth import SYNTH_PRESETS

TINY = SYNTH_PRESETS["tiny"]


def test_tiny_scene_reads_back_and_validates(tiny_scene):
    scene = Scene(tiny_scene)
    scene.validate()
    assert len(scene.frame_names) == TINY.num_frames
    assert scene.native_size == (TINY.width, TINY.height)
    assert scene.test_frames == [str(i) for i in range(0, TINY.num_frames, 4)]
    assert set(scene.train_frames).isdisjoint(scene.test_frames)
    assert len(scene.train_frames) + len(scene.test_frames) == TINY.num_frames
    assert scene.class_set == SCANNET21
    data = json.loads((tiny_scene / "segmentation_data.json").read_text())
    assert data["synth_config"]["seed"] == 0
    for name in scene.frame_names[:3]:
        rgb = scene.rgb(name)
        assert rgb.shape == (TINY.height, TINY.width, 3)
        assert rgb.std() > 0.05  # textured and shaded, not flat
        labels = scene.machine_labels(name)
        assert labels.probability.shape == (TINY.height, TINY.width, SCANNET21.num_classes)
        assert 0.0 <= labels.confidence.min() and labels.confidence.max() <= 1.0
        gt = scene.ground_truth(name)
        assert gt is not None and (gt.semantics > 0).all()  # a closed room: every ray hits something
        # ground-truth instances only on thing classes, scene-consistent ids listed in segmentation data
        things = np.isin(gt.semantics, SCANNET21.thing_ids)
        assert np.all(gt.instance[~things] == 0) and np.all(gt.instance[things] > 0)
        for k in np.unique(gt.instance[things]):
            assert data["gt_instance_to_semantic"][str(k)] == int(
                np.unique(gt.semantics[gt.instance == k])[0]
            )


def test_depth_and_poses_put_every_pixel_inside_the_room(tiny_scene):
    scene = Scene(tiny_scene)
    K = scene.intrinsics
    X, Y, Z = TINY.room_size
    ys, xs = np.mgrid[0 : scene.height, 0 : scene.width] + 0.5
    for name in scene.frame_names[::3]:
        depth = scene.depth(name)
        assert depth.min() > 0.2
        cam = np.stack([(xs - K[0, 2]) / K[0, 0] * depth, (ys - K[1, 2]) / K[1, 1] * depth, depth], axis=-1)
        c2w = scene.pose(name)
        world = cam.reshape(-1, 3) @ c2w[:3, :3].T + c2w[:3, 3]
        tol = 0.01  # millimetre depth quantisation
        assert world.min(axis=0).min() > -tol
        assert np.all(world.max(axis=0) < np.array([X, Y, Z]) + tol)
        # floor pixels back-project onto z = 0, ceiling pixels onto z = Z
        gt = scene.ground_truth(name).semantics.reshape(-1)
        floor = gt == SCANNET21.names.index("floor")
        if floor.any():
            assert np.abs(world[floor, 2]).max() < tol


def test_machine_labels_are_noisy_but_mostly_right(tiny_scene):
    scene = Scene(tiny_scene)
    agree, ids = [], []
    for name in scene.frame_names:
        labels, gt = scene.machine_labels(name), scene.ground_truth(name)
        agree.append((labels.semantics == gt.semantics).mean())
        ids.append(set(np.unique(labels.instance[labels.instance > 0]).tolist()))
    assert 0.6 < np.mean(agree) < 0.995
    assert len(set.intersection(*ids)) == 0  # no 2D instance id is shared by every view


def test_every_thing_is_well_visible(tiny_scene):
    scene = Scene(tiny_scene)
    data = json.loads((tiny_scene / "segmentation_data.json").read_text())
    views = {int(k): 0 for k in data["gt_instance_to_semantic"]}
    assert len(views) >= 3
    for name in scene.frame_names:
        ids, counts = np.unique(scene.ground_truth(name).instance, return_counts=True)
        for k, c in zip(ids.tolist(), counts.tolist(), strict=True):
            if k > 0 and c >= 20:
                views[k] += 1
    assert min(views.values()) >= 3, views
