"""Cameras between viser and panolift: both ways, and against the renderer's own ray convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panolift.scene import SceneNormalization, generate_rays
from panolift.view import (
    fov_from_intrinsics,
    intrinsics_from_fov,
    matrix_to_quaternion,
    pose_from_viser,
    quaternion_to_matrix,
    viser_from_pose,
    world_ray_to_field,
)
from panolift.view.cameras import fit_to_aspect, look_at_point, up_direction_of

unit = st.floats(-1.0, 1.0, allow_nan=False)


def random_rotation(values) -> np.ndarray:
    q = np.asarray(values, dtype=np.float64)
    if np.linalg.norm(q) < 1e-3:
        q = np.array([1.0, 0.0, 0.0, 0.0])
    return quaternion_to_matrix(q)


@settings(max_examples=200, deadline=None)
@given(st.tuples(unit, unit, unit, unit), st.tuples(unit, unit, unit))
def test_poses_cross_both_ways(q, t):
    R = random_rotation(q)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = R, np.asarray(t) * 5
    wxyz, position = viser_from_pose(c2w)
    assert wxyz[0] >= 0 and np.isclose(np.linalg.norm(wxyz), 1.0)
    assert np.allclose(pose_from_viser(wxyz, position), c2w, atol=1e-9)
    assert np.allclose(matrix_to_quaternion(quaternion_to_matrix(wxyz)), wxyz, atol=1e-9)


def test_rotations_of_half_turns_and_axes():
    """Shepperd's branches: half turns about each axis (trace -1) and the identity."""
    for axis in np.eye(3):
        q = np.concatenate([[0.0], axis])
        R = quaternion_to_matrix(q)
        assert np.allclose(R, 2 * np.outer(axis, axis) - np.eye(3))
        assert np.allclose(matrix_to_quaternion(R), q)
    assert np.allclose(matrix_to_quaternion(np.eye(3)), [1, 0, 0, 0])


def test_matches_viser_transforms():
    viser_tf = pytest.importorskip("viser.transforms")
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        assert np.allclose(viser_tf.SO3(q).as_matrix(), quaternion_to_matrix(q), atol=1e-9)
        R = viser_tf.SO3(q).as_matrix()
        ours = matrix_to_quaternion(R)
        assert np.allclose(viser_tf.SO3(ours).as_matrix(), R, atol=1e-9)


def test_a_viser_camera_looks_along_its_z_and_its_up_is_minus_y():
    """viser's cameras are OpenCV cameras (+z forward, -y up): the pose of a viser camera rotated to look
    along world +x with world +z up renders rays along +x, and its top rows look upward."""
    R = np.stack([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]], axis=1)  # columns: x, y, z axes
    c2w = pose_from_viser(matrix_to_quaternion(R), (1.0, 2.0, 3.0))
    K = intrinsics_from_fov(math.radians(60), 8, 6)
    import torch

    origins, dirs = generate_rays(torch.tensor(K), torch.tensor(c2w), 8, 6)
    centre = dirs.reshape(6, 8, 3)[2:4, 3:5].mean(dim=(0, 1))
    assert centre[0] > 0.95  # forward is world +x
    assert dirs.reshape(6, 8, 3)[0, :, 2].mean() > 0 > dirs.reshape(6, 8, 3)[-1, :, 2].mean()  # top looks up
    assert np.allclose(origins[0].numpy(), (1.0, 2.0, 3.0))
    assert np.allclose(up_direction_of(c2w), (0.0, 0.0, 1.0))
    assert np.allclose(look_at_point(c2w, 2.0), (3.0, 2.0, 3.0))


@pytest.mark.parametrize("size", [(640, 480), (300, 500), (1, 1)])
def test_field_of_view_and_intrinsics_agree(size):
    width, height = size
    fov = math.radians(55)
    K = intrinsics_from_fov(fov, width, height)
    assert K[0, 0] == K[1, 1] and (K[0, 2], K[1, 2]) == (width / 2, height / 2)
    assert math.isclose(fov_from_intrinsics(K, height), fov)
    # the image's top and bottom rays are fov apart
    top, bottom = np.array([0, -height / 2, K[1, 1]]), np.array([0, height / 2, K[1, 1]])
    angle = math.acos(top @ bottom / np.linalg.norm(top) / np.linalg.norm(bottom))
    assert math.isclose(angle, fov)


def test_world_rays_to_field_coordinates():
    norm = SceneNormalization(center=np.array([1.0, 2.0, 3.0]), scale=0.5)
    o, d = world_ray_to_field((3.0, 2.0, 3.0), (0.0, 0.0, 4.0), norm)
    assert np.allclose(o, (1.0, 0.0, 0.0)) and np.allclose(d, (0.0, 0.0, 1.0))


def test_fit_to_aspect():
    assert fit_to_aspect(16 / 9, 160) == (160, 90)
    assert fit_to_aspect(0.5, 100) == (50, 100)
