"""`panolift export` on the trained tiny scene: a valid PLY whose labels agree with the renderer."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from panolift.cli import main
from panolift.render import panoptic_from_rendering, render_image
from panolift.scene import Scene, scale_intrinsics


@pytest.fixture(scope="module", params=["slots", "embedding"])
def export_run(request):
    """The tiny run with slots, then with the instance embedding."""
    return request.getfixturevalue("tiny_run" if request.param == "slots" else "tiny_embed_run")


@pytest.fixture(scope="module")
def exported(export_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "scene.ply"
    main(
        [
            "export",
            str(export_run),
            "--format",
            "ply",
            "--what",
            "points",
            "--resolution",
            "64",
            "--out",
            str(out),
        ]
    )
    return out


def test_exported_ply_is_valid_and_labelled(exported, export_run):
    cloud = trimesh.load(exported)
    assert isinstance(cloud, trimesh.PointCloud) and len(cloud.vertices) > 1000
    raw = exported_labels(exported)
    assert raw["class"].max() < 22 and (raw["instance"] > 0).any()


def exported_labels(path):
    return trimesh.load(path).metadata["_ply_raw"]["vertex"]["data"]


def test_labels_agree_with_rendered_ids_at_the_projections(exported, export_run):
    """Points seen in a test view (their depth within two export voxels of the rendered surface) carry
    the instance id rendered at their pixel.

    The tiny run is a 600-iteration field whose training is chaotic: float-level differences (torch's
    thread count, the CPU's vector instruction set, the seed) move the exact agreement between 0.89 and
    0.96 (measured over 14 such variants). Every disagreement lies on the rim of a thing, where the point
    query and the rendered pixel disagree on thing vs stuff, so the bars below are set with a margin under
    the measured minimum, and the structure that an export bug would break is checked on its own: each
    exported thing's points render mostly as that very id, stuff points render as stuff, and almost every
    point finds its id within one pixel of its projection. Measured minimum (maximum) over the 14 variants:
    exact 0.891 (0.959), within one pixel 0.932 (0.974), things 0.759 (0.933), stuff 0.902 (0.986).
    """
    from panolift.runs import instance_table_of_run, load_run

    loaded = load_run(export_run)
    scene = Scene(loaded.scene_path)
    width, height = scene.native_size
    K = scale_intrinsics(scene.intrinsics, scene.size, (width, height))
    raw = exported_labels(exported)
    points = np.stack([raw["x"], raw["y"], raw["z"]], axis=-1).astype(np.float64)
    box = loaded.field.aabb.cpu().numpy()
    tolerance = 2 * float((box[1] - box[0]).max()) / 64 / loaded.normalization.scale
    table = instance_table_of_run(loaded)  # the ids `panolift render` writes (pieces of slots)
    exported_ids, rendered_ids, near = [], [], []
    for name in scene.test_frames:
        pose = scene.pose(name)
        out = render_image(loaded.field, K, pose, width, height, loaded.normalization, loaded.config.render)
        ids = panoptic_from_rendering(out, loaded.class_set, table)[1]
        surface = (out["depth"] / out["opacity"].clamp_min(1e-3)).numpy()
        w2c = np.linalg.inv(pose)
        cam = points @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2]
        px = np.floor(cam[:, 0] / z * K[0, 0] + K[0, 2]).astype(int)
        py = np.floor(cam[:, 1] / z * K[1, 1] + K[1, 2]).astype(int)
        seen = (z > 0) & (px >= 0) & (px < width) & (py >= 0) & (py < height)
        seen[seen] = np.abs(z[seen] - surface[py[seen], px[seen]]) < tolerance
        x, y, mine = px[seen], py[seen], raw["instance"][seen].astype(np.int64)
        padded = np.pad(ids, 1, mode="edge")
        found = np.zeros(mine.shape, dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                found |= padded[y + 1 + dy, x + 1 + dx] == mine
        exported_ids.append(mine)
        rendered_ids.append(ids[y, x])
        near.append(found)
    mine, theirs, near = np.concatenate(exported_ids), np.concatenate(rendered_ids), np.concatenate(near)
    agree = mine == theirs
    thing = mine > 0
    print(
        f"visible points {agree.size}: agree {agree.mean():.3f}, within one pixel {near.mean():.3f}; "
        f"thing points {thing.sum()}: {agree[thing].mean():.3f}; stuff points: {agree[~thing].mean():.3f}"
    )
    assert agree.size > 200 and thing.sum() > 20
    assert agree.mean() > 0.85 and near.mean() > 0.9
    assert agree[thing].mean() > 0.65 and agree[~thing].mean() > 0.85
    for k in np.unique(mine[thing]):
        points_of_k = mine == k
        if points_of_k.sum() >= 20:  # an exported thing renders, at its points, mostly as itself
            values, counts = np.unique(theirs[points_of_k], return_counts=True)
            assert values[counts.argmax()] == k, (k, dict(zip(values.tolist(), counts.tolist(), strict=True)))


def test_split_instances_as_glb_nodes_and_ply_files(tiny_run, tmp_path):
    glb = tmp_path / "parts.glb"
    main(
        [
            "export",
            str(tiny_run),
            "--format",
            "glb",
            "--split-instances",
            "--resolution",
            "48",
            "--out",
            str(glb),
        ]
    )
    scene = trimesh.load(glb)
    names = sorted(scene.geometry)
    assert "stuff" in names and any(n.startswith("instance_") for n in names)
    for name in names:
        mesh = scene.geometry[name]
        assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) > 0
        assert mesh.visual.vertex_colors.shape == (len(mesh.vertices), 4)
    folder = tmp_path / "parts"
    main(
        [
            "export",
            str(tiny_run),
            "--split-instances",
            "--what",
            "points",
            "--resolution",
            "48",
            "--out",
            str(folder),
        ]
    )
    files = sorted(p.stem for p in folder.glob("*.ply"))
    assert {n[:12] for n in names} <= {f[:12] for f in files}  # "stuff", "instance_007": same grid and level
    for path in folder.glob("instance_*.ply"):
        k = int(path.stem.split("_")[1])
        assert set(np.unique(exported_labels(path)["instance"]).tolist()) == {k}
