"""Export of the analytic box field: marching cubes, labels per vertex, PLY / GLB files, split parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from panolift.export import extract_labelled_surface, read_ply_labels, split_by_instance, write_glb, write_ply
from panolift.scene import SceneNormalization

CHAIR, SOFA = 1, 4
SIGMA = 200.0  # the box field's density inside boxes


@pytest.fixture(scope="module")
def surface(box_field, thing_mask):
    return extract_labelled_surface(box_field, thing_mask, resolution=64, level=SIGMA / 2)


def inside_box(points: np.ndarray, lo, hi, margin: float) -> np.ndarray:
    return np.all((points >= np.array(lo) - margin) & (points <= np.array(hi) + margin), axis=-1)


def test_vertices_carry_the_label_of_the_box_they_lie_on(surface, box_field):
    assert surface.faces.shape[0] > 1000
    voxel = 2.0 / 64
    for lo, hi, cls, slot, colour in box_field.boxes[2:]:
        near = inside_box(surface.vertices, lo, hi, voxel)
        labelled = surface.instances == slot + 1
        assert labelled.sum() > 100
        assert near[labelled].all()  # every vertex labelled k lies on box k
        assert (surface.classes[labelled] == cls).all()
        # vertices on the box away from other geometry (not its bottom on the floor) carry its id
        clear = inside_box(surface.vertices, lo, hi, 0.3 * voxel) & (surface.vertices[:, 2] > lo[2] + voxel)
        assert (surface.instances[clear] == slot + 1).mean() > 0.95
        expected_rgb = np.array(colour) * 255
        assert np.abs(surface.colors[labelled].mean(axis=0) - expected_rgb).max() < 20


def test_labels_agree_with_the_rendered_ids_at_the_vertex_projections(surface, box_field, camera, render_fn):
    K, c2w, width, height = camera
    rendering = render_fn(box_field, K, c2w, width, height)
    w2c = torch.linalg.inv(c2w).numpy()
    cam = surface.vertices @ w2c[:3, :3].T + w2c[:3, 3]
    pix = cam @ K.numpy().T
    x, y = pix[:, 0] / pix[:, 2], pix[:, 1] / pix[:, 2]
    px, py = np.floor(x).astype(int), np.floor(y).astype(int)
    inside = (cam[:, 2] > 0) & (px >= 0) & (px < width) & (py >= 0) & (py < height)
    rendered_t = rendering["depth"].numpy()  # distance along the ray in this marcher
    dist = np.linalg.norm(cam, axis=-1)
    visible = inside.copy()
    visible[inside] = np.abs(dist[inside] - rendered_t[py[inside], px[inside]]) < 0.03
    assert visible.sum() > 500
    rendered_ids = rendering["instance"].numpy()[py[visible], px[visible]]
    agree = (rendered_ids == surface.instances[visible]).mean()
    assert agree > 0.95
    for k in (CHAIR, SOFA):  # both instances are seen and agree
        seen = surface.instances[visible] == k
        assert seen.sum() > 20 and (rendered_ids[seen] == k).mean() > 0.9


def test_ply_round_trip_is_readable_by_trimesh(surface, tmp_path):
    write_ply(tmp_path / "scene.ply", surface, ["test"])
    mesh = trimesh.load(tmp_path / "scene.ply", process=False)
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.vertices.shape == surface.vertices.shape and len(mesh.faces) == len(surface.faces)
    assert np.allclose(mesh.vertices, surface.vertices)
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    assert np.array_equal(raw["instance"], surface.instances) and np.array_equal(
        raw["class"], surface.classes
    )
    assert np.array_equal(mesh.visual.vertex_colors[:, :3], surface.colors)
    vertices, faces = read_ply_labels(tmp_path / "scene.ply")
    assert np.array_equal(faces, surface.faces) and np.array_equal(vertices["instance"], surface.instances)
    write_ply(tmp_path / "points.ply", surface.as_points())
    cloud = trimesh.load(tmp_path / "points.ply")
    assert isinstance(cloud, trimesh.PointCloud) and len(cloud.vertices) == surface.num_vertices


def test_split_parts_partition_the_faces_and_glb_keeps_them(surface, tmp_path):
    parts = split_by_instance(surface)
    assert sorted(parts) == [0, CHAIR, SOFA]
    assert sum(p.faces.shape[0] for p in parts.values()) == surface.faces.shape[0]
    for k, part in parts.items():
        assert (part.faces < part.num_vertices).all()
        assert np.bincount(part.instances).argmax() == k
    write_glb(tmp_path / "scene.glb", {f"part_{k}": p for k, p in parts.items()})
    scene = trimesh.load(tmp_path / "scene.glb")
    assert sorted(scene.geometry) == ["part_0", "part_1", "part_4"]
    chair = scene.geometry["part_1"]
    assert len(chair.faces) == parts[CHAIR].faces.shape[0]
    assert chair.visual.vertex_colors[:, 0].mean() > 200  # the chair is red
    points = split_by_instance(surface.as_points())
    assert sum(p.num_vertices for p in points.values()) == surface.num_vertices


def test_world_units_undo_the_normalisation(box_field, thing_mask, surface):
    norm = SceneNormalization(center=np.array([1.0, 2.0, 3.0]), scale=0.5)
    world = extract_labelled_surface(
        box_field, thing_mask, normalization=norm, resolution=64, level=SIGMA / 2
    )
    assert np.allclose(world.vertices, surface.vertices / 0.5 + np.array([1.0, 2.0, 3.0]), atol=1e-5)


def test_surface_level_is_the_density_where_rays_become_half_opaque(box_field, camera):
    from panolift.field.outputs import FieldOutputs
    from panolift.render import estimate_surface_density
    from panolift.scene import generate_rays

    K, c2w, width, height = camera
    origins, dirs = generate_rays(K, c2w, width, height)
    assert estimate_surface_density(box_field, origins, dirs) == pytest.approx(SIGMA)

    class Fog(torch.nn.Module):  # density 3 everywhere: rays reach T = 1/2 inside the box, at sigma 3
        def forward(self, points, dirs):
            n = points.shape[0]
            return FieldOutputs(points.new_full((n,), 3.0), points.new_zeros(n, 3))

    assert estimate_surface_density(Fog(), origins, dirs) == pytest.approx(3.0)

    class Empty(Fog):
        def forward(self, points, dirs):
            out = super().forward(points, dirs)
            return FieldOutputs(out.density * 0, out.rgb)

    assert estimate_surface_density(Empty(), origins, dirs) is None
