"""The benchmark suite: deterministic configurations that cover the ranges, a tiny suite scene that reads
back, label-noise levels, restyled materials, and the independent preset."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest

from panolift.evaluate.score import machine_label_miou
from panolift.scene import SCANNET21, Scene
from panolift.scene.io import write_image
from panolift.synth import (
    HELD_OUT_SEEDS,
    SUITE_SEEDS,
    SYNTH_PRESETS,
    TUNING_SEEDS,
    AppearanceConfig,
    LabelNoiseConfig,
    SynthConfig,
    describe_config,
    suite_config,
    synthesize_scene,
)
from panolift.synth.layout import CORE_CLASSES, choose_classes, class_weights_of, layout_room
from panolift.synth.quality import check_scene
from panolift.synth.shading import ALL_PATTERNS, evaluate_pattern, make_material, stack_materials
from panolift.synth.suite import CLUTTER_SEEDS, aspect_name, clutter_config, seed_split
from panolift.synth.trajectory import camera_trajectory, intrinsics_for

CONFIGS = [suite_config(s) for s in SUITE_SEEDS]


def test_suite_configs_are_deterministic_and_distinct():
    assert all(suite_config(s) == c for s, c in zip(SUITE_SEEDS, CONFIGS, strict=True))
    assert len({describe_config(c) for c in CONFIGS}) == len(CONFIGS)
    assert all(c.seed == s for s, c in zip(SUITE_SEEDS, CONFIGS, strict=True))


def test_suite_splits():
    assert len(SUITE_SEEDS) >= 24 and not set(TUNING_SEEDS) & set(HELD_OUT_SEEDS)
    assert set(TUNING_SEEDS) | set(HELD_OUT_SEEDS) == set(SUITE_SEEDS)
    assert abs(len(HELD_OUT_SEEDS) / len(SUITE_SEEDS) - 1 / 3) < 0.05
    held = [CONFIGS[s] for s in HELD_OUT_SEEDS]
    assert {c.trajectory for c in held} == {"orbit", "outward", "walk", "forward"}
    assert {c.room_shape for c in held} >= {"box", "L"}


def test_suite_covers_the_ranges():
    assert {c.room_shape for c in CONFIGS} == {"box", "L", "open"}
    assert {c.trajectory for c in CONFIGS} == {"orbit", "outward", "walk", "forward"}
    assert {aspect_name(c.width, c.height) for c in CONFIGS} == {"4:3", "16:9", "1:1", "3:4"}
    assert {describe_config(c).split()[5] for c in CONFIGS} == {"mild", "moderate", "harsh", "severe"}
    sizes = np.array([c.room_size for c in CONFIGS])
    assert sizes[:, :2].min() >= 3.0 and sizes[:, :2].max() <= 9.0 and np.ptp(sizes[:, :2]) > 4.0
    assert sizes[:, 2].min() >= 2.3 and sizes[:, 2].max() <= 3.5
    frames = np.array([c.num_frames for c in CONFIGS])
    assert frames.min() >= 30 and frames.max() <= 300 and 60 <= np.median(frames) <= 150
    assert all(128 <= c.width <= 192 for c in CONFIGS)
    assert all(55.0 <= c.hfov_deg <= 90.0 for c in CONFIGS)
    looks = [c.appearance for c in CONFIGS]
    assert all(80 <= a.jpeg_quality <= 97 and 1 <= len(a.lights) <= 3 for a in looks)
    assert {a.plain_walls for a in looks} == {True, False} and {c.shadows for c in CONFIGS} == {True, False}
    density = [a.texture_density for a in looks]
    assert min(density) < 0.8 and max(density) > 2.0
    assert all(c.image_suffix == ".jpg" for c in CONFIGS)


def test_every_suite_path_is_drawn():
    for config in CONFIGS:  # raises when a path cannot keep clear of the walls
        poses = camera_trajectory(config)
        assert poses.shape == (config.num_frames, 4, 4)


def test_descriptor_reads_like_a_room():
    text = describe_config(suite_config(5))
    assert re.fullmatch(
        r"(box|L|open) \d\.\dx\d\.\dx\d\.\d (orbit|outward|walk|forward) \d+f \S+ \w+( plain)?", text
    )
    assert describe_config(SYNTH_PRESETS["independent"]) == "box 6.2x5.6x2.6 outward 60f 4:3 harsh"


def test_exposure_rooms_are_suite_rooms_seen_by_a_varying_camera():
    from panolift.synth.suite import EXPOSURE_SEEDS, exposure_config

    for seed in EXPOSURE_SEEDS:
        room, seen = suite_config(seed), exposure_config(seed)
        assert seen.appearance.exposure_jitter == 0.2 and seen.appearance.white_balance_jitter == 0.05
        assert dataclasses.replace(seen, appearance=room.appearance) == room  # only the camera differs
        assert describe_config(seen) == describe_config(room) + " exposure 20% white balance 5%"
    assert set(EXPOSURE_SEEDS) & set(HELD_OUT_SEEDS)  # some are held out


def test_glossy_rooms_are_suite_rooms_with_highlights(tmp_path):
    from panolift.synth.suite import (
        GLOSS,
        GLOSS_HELD_OUT,
        GLOSS_SEEDS,
        REFLECTION,
        gloss_config,
        gloss_split,
        mirror_config,
    )

    for seed in GLOSS_SEEDS:
        room, glossy = suite_config(seed), gloss_config(seed)
        assert glossy.appearance.gloss == GLOSS and room.appearance.gloss == 0.0
        assert dataclasses.replace(glossy, appearance=room.appearance) == room  # only the materials differ
        assert describe_config(glossy) == describe_config(room) + f" gloss {GLOSS:.1f}"
    assert [gloss_split(s) for s in GLOSS_SEEDS].count("held-out") == len(GLOSS_HELD_OUT) == 4
    mirror = mirror_config(214)
    assert dataclasses.replace(mirror.appearance, reflection=0.0) == gloss_config(214).appearance
    assert describe_config(mirror) == describe_config(gloss_config(214)) + f" mirror {REFLECTION:.2f}"
    # the same small frames with and without gloss: labels and depth alike, colour brighter where it shines
    small = {}
    for name, config in (("matte", suite_config(214)), ("gloss", gloss_config(214))):
        config = dataclasses.replace(
            config, width=64, height=48, num_frames=6, supersample=1, test_every=3, image_suffix=".png"
        )
        synthesize_scene(tmp_path / name, config)
        small[name] = Scene(tmp_path / name)
    brighter = []
    for frame in small["matte"].train_frames:
        matte, glossy = (small[k].ground_truth(frame) for k in ("matte", "gloss"))
        np.testing.assert_array_equal(matte.semantics, glossy.semantics)
        np.testing.assert_array_equal(matte.instance, glossy.instance)
        a, b = (small[k].rgb(frame) for k in ("matte", "gloss"))
        assert (b >= a - 1e-6).all()  # a highlight only adds light
        brighter.append((b > a + 0.05).mean())
    assert max(brighter) > 0.0


def test_clutter_rooms_are_large_and_full_of_one_class():
    configs = [clutter_config(s) for s in CLUTTER_SEEDS]
    assert configs == [clutter_config(s) for s in CLUTTER_SEEDS]  # deterministic
    assert len({describe_config(c) for c in configs}) == len(configs)
    assert {seed_split(s) for s in CLUTTER_SEEDS} == {"tuning", "held-out"}
    for c in configs:
        assert 10.0 <= c.room_size[0] <= 12.0 and 7.5 <= c.room_size[1] <= 9.0 and c.num_things >= 260
        assert 120 <= c.num_frames <= 180 and c.class_weights and c.trajectory in ("orbit", "walk")
        assert camera_trajectory(c).shape == (c.num_frames, 4, 4)
    # the real layout of clutter-0 (an orbit: its objects keep clear of the orbit's box, not of each camera)
    config = configs[0]
    things = {SCANNET21.names[k] for k in SCANNET21.thing_ids}
    objects = layout_room(config, np.random.default_rng([config.seed, 0xA11]), things, None)
    counts = Counter(o.name for o in objects if o.instance_id > 0)
    assert sum(counts.values()) >= 120 and counts["bag"] >= 50, counts
    assert sorted(o.instance_id for o in objects if o.instance_id > 0) == list(
        range(1, sum(counts.values()) + 1)
    )


def test_class_weights_choose_the_extra_objects():
    config = dataclasses.replace(suite_config(1), num_things=30, class_weights=(("bag", 1.0),))
    names = choose_classes(config.num_things, np.random.default_rng(0), class_weights_of(config))
    assert names[: len(CORE_CLASSES)] == list(CORE_CLASSES) and set(names[len(CORE_CLASSES) :]) == {"bag"}
    with pytest.raises(ValueError, match="class_weights"):
        class_weights_of(dataclasses.replace(config, class_weights=(("unicorn", 1.0),)))
    with pytest.raises(ValueError, match="class_weights"):
        class_weights_of(dataclasses.replace(config, class_weights=(("bag", 0.0),)))


def test_label_noise_levels():
    assert LabelNoiseConfig.at_level(1.0) == LabelNoiseConfig()
    mild, harsh, severe = (LabelNoiseConfig.at_level(v) for v in (0.5, 1.5, 2.0))
    for name in ("flip_prob", "miss_small_prob", "split_prob", "merge_prob", "boundary_noise"):
        assert (
            getattr(mild, name)
            < getattr(LabelNoiseConfig(), name)
            < getattr(harsh, name)
            < getattr(severe, name)
        )
    assert severe.flip_prob < 1.0 and severe.level == 2.0


def test_grain_pattern_and_jpeg_quality(tmp_path):
    rng = np.random.default_rng(0)
    material = make_material("table", 0, rng)
    material["pattern"] = ALL_PATTERNS.index("grain")
    points = rng.uniform(0, 2, (500, 3))
    value = evaluate_pattern(points, np.zeros(500, dtype=np.int64), stack_materials([material]))
    assert value.min() >= 0.0 and value.max() <= 1.0 and value.std() > 0.1
    image = (rng.uniform(0, 255, (64, 64, 3))).astype(np.uint8)
    write_image(tmp_path / "low.jpg", image, quality=80)
    write_image(tmp_path / "high.jpg", image, quality=97)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size


def test_tiny_suite_scene_reads_back(tmp_path):
    # an L-shaped room with a hand-held walk, cut down to a few small frames
    config = suite_config(6)
    assert config.room_shape == "L" and config.trajectory == "walk"
    small = dataclasses.replace(config, width=48, height=36, num_frames=10, supersample=1, test_every=4)
    result = synthesize_scene(tmp_path / "scene", small)
    scene = Scene(tmp_path / "scene")
    scene.validate()
    assert scene.color_path("0").suffix == ".jpg" and len(scene.test_frames) == 3
    assert (scene.width, scene.height) == (48, 36)
    for name in scene.test_frames:
        semantics, instance = scene.machine_label_maps(name)
        gt = scene.ground_truth(name)
        assert semantics.shape == gt.semantics.shape == (36, 48)
        assert semantics.max() < scene.class_set.num_classes and (gt.semantics > 0).all()
    problems, numbers = check_scene(scene, machine_label_miou(scene)[0])
    assert not [p for p in problems if "not closed" in p or "ground truth" in p]
    assert 0.0 < numbers["machine_miou"] < 1.0
    assert len(result.objects) >= 3


@pytest.mark.parametrize("preset", ["independent"])
def test_independent_preset_matches_the_failing_scene(preset):
    config = SYNTH_PRESETS[preset]
    assert config.room_size == (6.2, 5.6, 2.6) and config.trajectory == "outward"
    assert (config.width, config.height, config.num_frames, config.test_every) == (192, 144, 60, 4)
    assert config.hfov_deg == 70.0 and config.image_suffix == ".jpg" and len(config.appearance.lights) == 2
    heights = camera_trajectory(config)[:, 2, 3]
    assert heights.min() >= 1.25 - 1e-9 and heights.max() <= 1.65 + 1e-9


def test_platform_rooms_have_a_floor_at_two_heights_and_raise_what_stands_on_it(tmp_path):
    from panolift.evaluate.coverage import backproject
    from panolift.synth import SynthConfig
    from panolift.synth.layout import raise_onto_platform
    from panolift.synth.suite import PLATFORM_HELD_OUT, PLATFORM_SEEDS, platform_config, platform_split

    for seed in PLATFORM_SEEDS:
        room, raised = suite_config(seed), platform_config(seed)
        height, depth = raised.platform
        assert 0.15 <= height <= 0.45 and 0.3 <= depth <= room.room_size[1] - 1.0
        assert dataclasses.replace(raised, platform=(0.0, 0.0)) == room  # only the floor differs
        assert describe_config(raised).startswith(describe_config(room) + f" platform {height:.2f}x")
    assert [platform_split(s) for s in PLATFORM_SEEDS].count("held-out") == len(PLATFORM_HELD_OUT) == 2
    with pytest.raises(ValueError, match="platform"):
        dataclasses.replace(suite_config(226), platform=(0.9, 2.0))  # higher than 0.6 m
    # the same layout, raised: objects over the platform (and what stands on them) move up by its height
    config = platform_config(228)
    flat = layout_room(suite_config(228), np.random.default_rng(5), {"chair", "bag", "television"})
    lifted = layout_room(suite_config(228), np.random.default_rng(5), {"chair", "bag", "television"})
    raise_onto_platform(lifted, config)
    height, depth = config.platform
    edge = config.room_size[1] - depth
    moved = [b.position[2] - a.position[2] for a, b in zip(flat, lifted, strict=True)]
    assert set(np.round(moved, 9)) <= {0.0, round(height, 9)} and any(moved)
    for a, m in zip(flat, moved, strict=True):
        if a.bounds[0, 2] < 1e-6 and a.furniture.mode != "on_top":
            assert (m > 0) == (a.bounds[1, 1] > edge)  # on the floor: raised where it reaches the platform
    # small frames: the floor's true surface lies at z = 0 and at the platform's height (and between, on
    # its riser); nothing of the floor elsewhere
    config = dataclasses.replace(
        config, width=64, height=48, num_frames=12, supersample=1, test_every=3, image_suffix=".png"
    )
    synthesize_scene(tmp_path / "platform", config)
    scene = Scene(tmp_path / "platform")
    floor = SCANNET21.names.index("floor")
    heights = []
    for frame in scene.frame_names:
        points, valid = backproject(scene.depth(frame), scene.intrinsics, scene.pose(frame))
        is_floor = scene.ground_truth(frame).semantics[valid] == floor
        heights.append(points[is_floor, 2])
    heights = np.concatenate(heights)
    assert (np.abs(heights) < 0.01).mean() > 0.05 and (np.abs(heights - height) < 0.01).mean() > 0.05
    assert ((heights > -0.01) & (heights < height + 0.01)).all()
    assert SynthConfig(room_size=(5.0, 4.0, 2.7), platform=(0.3, 1.5)).platform == (0.3, 1.5)


def test_shutter_poses_follow_the_path_centred_on_the_frame():
    from scipy.spatial.transform import Rotation

    from panolift.synth.trajectory import camera_velocity, motion_pixels, shutter_poses

    config = suite_config(234)  # a hand-held walk: the camera turns and moves
    poses = camera_trajectory(config)
    focal = intrinsics_for(config)[0, 0]
    i = 10
    assert np.array_equal(shutter_poses(poses, i, 0.0, focal), poses[i : i + 1])
    turn, shift = camera_velocity(poses, i)
    # a full frame interval of motion carries the camera from half-way back to half-way on
    half_back, half_on = (
        0.5 * (poses[i - 1, :3, 3] + poses[i, :3, 3]),
        0.5 * (poses[i, :3, 3] + poses[i + 1, :3, 3]),
    )
    assert np.allclose(shift, half_on - half_back)
    # the turn (in frame i's axes) carries the previous camera to the next in two frame intervals
    two_steps = Rotation.from_rotvec(2 * poses[i, :3, :3] @ turn).as_matrix()  # about world axes
    assert np.allclose(two_steps @ poses[i - 1, :3, :3], poses[i + 1, :3, :3], atol=1e-9)
    assert np.linalg.norm(turn) > 1e-3
    fraction = 0.4
    shutter = shutter_poses(poses, i, fraction, focal)
    n = len(shutter)
    assert n == min(int(np.ceil(fraction * motion_pixels(poses, i, focal))), 16) and n > 1
    assert np.allclose(shutter[:, :3, 3].mean(axis=0), poses[i, :3, 3])  # centred on the frame's pose
    span = shutter[-1, :3, 3] - shutter[0, :3, 3]
    assert np.allclose(span, fraction * shift * (n - 1) / n)
    for pose in shutter:  # rotations stay rotations
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)
    swept = Rotation.from_matrix(shutter[0, :3, :3].T @ shutter[-1, :3, :3]).as_rotvec()
    assert np.allclose(swept, fraction * turn * (n - 1) / n, atol=1e-9)


def test_blur_rooms_blur_the_colour_and_nothing_else(tmp_path):
    from panolift.synth.suite import BLUR_HELD_OUT, BLUR_SEEDS, blur_config, blur_split
    from panolift.synth.synthesize import shutter_fractions

    for seed in BLUR_SEEDS:
        room, blurred = suite_config(seed), blur_config(seed)
        assert 0.01 <= blurred.appearance.motion_blur <= 0.025
        assert dataclasses.replace(blurred, appearance=room.appearance) == room  # only the camera blurs
        assert (
            describe_config(blurred)
            == describe_config(room) + f" blur {100 * blurred.appearance.motion_blur:.1f}%"
        )
    assert [blur_split(s) for s in BLUR_SEEDS].count("held-out") == len(BLUR_HELD_OUT) == 2
    with pytest.raises(ValueError, match="motion_blur"):
        AppearanceConfig(motion_blur=0.2)
    # per frame: more than the median blur where the camera moves faster, a spread of its own, at most 1
    config = blur_config(233)
    poses = camera_trajectory(config)
    fractions = shutter_fractions(config, poses)
    assert fractions.min() > 0.0 and fractions.max() <= 1.0 and fractions.std() > 0.3 * fractions.mean()
    assert not shutter_fractions(suite_config(233), poses).any()
    # small frames with and without blur: the same depth, ground truth and labels; softer colour
    small = dict(width=64, height=48, num_frames=12, num_things=7, supersample=1, image_suffix=".png")
    sharp = SynthConfig(**small, seed=3)
    blurry = dataclasses.replace(sharp, appearance=AppearanceConfig(motion_blur=0.04))
    synthesize_scene(tmp_path / "sharp", sharp)
    synthesize_scene(tmp_path / "blurry", blurry)
    a, b = Scene(tmp_path / "sharp"), Scene(tmp_path / "blurry")
    softer = 0
    for frame in a.frame_names:
        assert np.array_equal(a.depth(frame), b.depth(frame))
        assert np.array_equal(a.ground_truth(frame).semantics, b.ground_truth(frame).semantics)
        assert np.array_equal(a.pose(frame), b.pose(frame))
        ca, cb = a.rgb(frame), b.rgb(frame)
        assert abs(ca.mean() - cb.mean()) < 0.02  # blur moves light around, it does not add or remove it
        softer += np.abs(np.diff(cb, axis=1)).mean() < np.abs(np.diff(ca, axis=1)).mean()
    assert softer >= 10  # of 12 frames: the blur takes the edges' contrast
