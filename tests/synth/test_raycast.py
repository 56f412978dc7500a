"""Ray casting: exact depth of a known plane, ids of known boxes, rays like the scene module's."""

from __future__ import annotations

import numpy as np
import torch

from panolift.scene import generate_rays
from panolift.synth.furniture import Part
from panolift.synth.geometry import SceneMesh, part_mesh
from panolift.synth.raycast import RayCaster, light_visibility, pixel_rays, render_frame, shade_hits
from panolift.synth.shading import make_material, stack_materials

W, H = 80, 60
K = np.array([[70.0, 0.0, W / 2], [0.0, 70.0, H / 2], [0.0, 0.0, 1.0]])


def boxes_mesh(boxes: list[tuple[tuple, tuple, int, int]]) -> SceneMesh:
    """A SceneMesh of boxes given as (center, extents, class_id, instance_id)."""
    rng = np.random.default_rng(0)
    verts, faces, cls, inst = [], [], [], []
    offset = 0
    for center, extents, c, i in boxes:
        v, f = part_mesh(Part("box", center, extents))
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
        cls.append(np.full(len(f), c))
        inst.append(np.full(len(f), i))
    n = sum(len(f) for f in faces)
    return SceneMesh(
        vertices=np.concatenate(verts), faces=np.concatenate(faces), face_class=np.concatenate(cls),
        face_instance=np.concatenate(inst), face_material=np.zeros(n, dtype=np.int64),
        face_object=np.zeros(n, dtype=np.int64), materials=stack_materials([make_material("wall", 0, rng)]),
        objects=[], lights=np.array([[0.0, -1.0, 0.0]]),
    )  # fmt: skip


def test_pixel_rays_match_scene_generate_rays():
    c2w = np.eye(4)
    c2w[:3, :3] = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    c2w[:3, 3] = [0.3, -1.0, 2.0]
    o, d = pixel_rays(K, c2w, W, H)
    o_ref, d_ref = generate_rays(torch.from_numpy(K), torch.from_numpy(c2w), W, H)
    np.testing.assert_allclose(d, d_ref.numpy(), atol=1e-9)
    np.testing.assert_allclose(o, o_ref.numpy(), atol=1e-12)


def test_cast_reports_first_hit_and_misses():
    mesh = boxes_mesh([((0, 0, 5), (2, 2, 2), 1, 0)])  # front face at z = 4
    caster = RayCaster(mesh)
    origins = np.zeros((2, 3))
    dirs = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    hits = caster.cast(origins, dirs)
    assert hits.face[0] >= 0 and hits.face[1] == -1
    assert abs(hits.distance[0] - 4.0) < 1e-5
    np.testing.assert_allclose(hits.points[0], [0, 0, 4], atol=1e-5)
    assert np.isinf(hits.distance[1])


def test_depth_of_plane_and_ids_of_boxes():
    # Camera at the origin looking along +z (identity pose). A wall whose front face is the plane z = 3,
    # and a box (class 5, instance 7) whose front face is the plane z = 1.9.
    box_center, box_ext = np.array([0.3, -0.2, 2.0]), np.array([0.4, 0.3, 0.2])
    mesh = boxes_mesh([((0, 0, 3.5), (20, 20, 1), 1, 0), (tuple(box_center), tuple(box_ext), 5, 7)])
    frame = render_frame(RayCaster(mesh), K, np.eye(4), W, H)
    u = np.arange(W) + 0.5
    v = np.arange(H) + 0.5
    uu, vv = np.meshgrid(u, v)

    def inside(lo, hi, z, margin):
        x0, y0 = K[0, 0] * lo[0] / z + K[0, 2], K[1, 1] * lo[1] / z + K[1, 2]
        x1, y1 = K[0, 0] * hi[0] / z + K[0, 2], K[1, 1] * hi[1] / z + K[1, 2]
        return (uu > x0 + margin) & (uu < x1 - margin) & (vv > y0 + margin) & (vv < y1 - margin)

    lo, hi = box_center - box_ext / 2, box_center + box_ext / 2
    front = inside(lo, hi, lo[2], 0.5)
    # the silhouette lies within the front face's projection grown to that of the back face (z = 2.1)
    silhouette = inside(np.minimum(lo * lo[2] / hi[2], lo), np.maximum(hi, hi * hi[2] / lo[2]), lo[2], -0.5)
    assert front.sum() > 50 and (~silhouette).sum() > 1000
    assert np.all(frame.semantics[front] == 5) and np.all(frame.instance[front] == 7)
    np.testing.assert_allclose(frame.depth[front], 1.9, atol=1e-4)
    assert np.all(frame.semantics[~silhouette] == 1) and np.all(frame.instance[~silhouette] == 0)
    np.testing.assert_allclose(frame.depth[~silhouette], 3.0, atol=1e-4)  # z-depth, not ray length
    assert frame.rgb.shape == (H, W, 3) and 0.0 <= frame.rgb.min() and frame.rgb.max() <= 1.0


def test_supersampling_keeps_labels_and_averages_colour():
    mesh = boxes_mesh([((0, 0, 3.5), (20, 20, 1), 1, 0), ((0, 0, 2), (0.5, 0.5, 0.2), 5, 3)])
    caster = RayCaster(mesh)
    one = render_frame(caster, K, np.eye(4), W, H, supersample=1)
    two = render_frame(caster, K, np.eye(4), W, H, supersample=2)
    np.testing.assert_array_equal(one.semantics, two.semantics)
    np.testing.assert_array_equal(one.depth, two.depth)
    assert np.abs(one.rgb - two.rgb).mean() < 0.05


def test_shadow_rays_find_occluders():
    # floor top at z = 0, a table-like slab at z in [1, 1.1] over x, y in [-0.5, 0.5], light at z = 2
    mesh = boxes_mesh([((0, 0, -0.5), (20, 20, 1), 2, 0), ((0, 0, 1.05), (1, 1, 0.1), 7, 0)])
    mesh.lights = np.array([[0.0, 0.0, 2.0]])
    caster = RayCaster(mesh)
    points = np.array([[0.0, 0.0, 0.0], [0.2, -0.3, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.1]])
    up = np.tile([0.0, 0.0, 1.0], (4, 1))
    visible = light_visibility(caster, points, up)
    np.testing.assert_array_equal(visible[:, 0], [False, False, True, True])
    # the shadowed floor pixel straight below the slab is darker than it would be unshadowed
    o, d = np.array([[0.0, 0.0, 0.5]]), np.array([[0.0, 0.0, -1.0]])
    hits = caster.cast(o, d)
    shadowed = shade_hits(caster, hits, d, shadows=True)
    unshadowed = shade_hits(caster, hits, d, shadows=False)
    assert np.all(shadowed < unshadowed)


def test_a_mirror_coated_floor_shows_what_stands_on_it_and_a_matte_one_does_not():
    # A floor (z = 0 top face, material 0) and a wall box standing on it 3 m ahead (material 1, red); the
    # camera 1 m above the floor looks along +y, slightly down, so its lower rays hit the floor at grazing
    # angles whose mirror images run into the red box.
    rng = np.random.default_rng(4)
    floor, red = make_material("floor", 0, rng), make_material("wall", 0, rng)
    red.update(color=np.array([1.0, 0.05, 0.05]), contrast=0.0, detail=0.0)
    floor.update(color=np.array([0.3, 0.3, 0.3]), contrast=0.0, detail=0.0)
    parts = [((0, 3, -0.5), (20, 20, 1)), ((0, 3.5, 1.0), (4, 1, 2))]
    verts, faces, material = [], [], []
    for index, (center, extents) in enumerate(parts):
        v, f = part_mesh(Part("box", center, extents))
        faces.append(f + sum(len(x) for x in verts))
        verts.append(v)
        material.append(np.full(len(f), index))
    n = sum(len(f) for f in faces)

    def mesh_with(reflect: float) -> SceneMesh:
        table = stack_materials([dict(floor, reflect=reflect), red])
        return SceneMesh(
            vertices=np.concatenate(verts), faces=np.concatenate(faces), face_class=np.ones(n, dtype=np.int64),
            face_instance=np.zeros(n, dtype=np.int64), face_material=np.concatenate(material),
            face_object=np.zeros(n, dtype=np.int64), materials=table, objects=[],
            lights=np.array([[0.0, 1.0, 2.5]]),
        )  # fmt: skip

    origins = np.tile([0.0, 0.0, 1.0], (3, 1))
    dirs = np.array([[0.0, 1.0, -0.45], [0.0, 1.0, -0.6], [0.0, 1.0, -3.0]])  # two grazing, one steep
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    shaded = {}
    for reflect in (0.0, 0.1):
        caster = RayCaster(mesh_with(reflect))
        shaded[reflect] = shade_hits(caster, caster.cast(origins, dirs), dirs, shadows=False)
    np.testing.assert_array_equal(shaded[0.0][:, 0], shaded[0.0][:, 1])  # a grey floor is grey
    redder = (shaded[0.1][:, 0] - shaded[0.1][:, 1]) - (shaded[0.0][:, 0] - shaded[0.0][:, 1])
    assert redder[0] > 0.05 and redder[1] > 0.05  # the box's image in the floor
    # steeply down the mirror ray passes over the box: the floor darkens by its share and stays grey
    assert abs(redder[2]) < 1e-9 and shaded[0.1][2, 1] < shaded[0.0][2, 1]
    caster = RayCaster(mesh_with(0.1))  # no bounces: the coat is ignored
    np.testing.assert_allclose(
        shade_hits(caster, caster.cast(origins, dirs), dirs, shadows=False, bounces=0), shaded[0.0]
    )
