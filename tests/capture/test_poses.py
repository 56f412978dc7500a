"""Pose conventions (COLMAP, OpenGL, OpenCV) and similarity alignment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from panolift.capture.poses import (
    align_similarity,
    c2w_from_colmap,
    colmap_from_c2w,
    compare_trajectories,
    opencv_from_opengl,
    opengl_from_opencv,
    qvec_from_rotation,
    rotation_angle_deg,
    rotation_from_qvec,
)

seeds = st.integers(min_value=0, max_value=2**31 - 1)


@settings(max_examples=50, deadline=None)
@given(seeds)
def test_quaternion_matches_scipy_and_round_trips(seed):
    R = Rotation.random(random_state=seed)
    x, y, z, w = R.as_quat()
    q_ref = np.array([w, x, y, z]) * np.sign(w or 1.0)
    q = qvec_from_rotation(R.as_matrix())
    np.testing.assert_allclose(q, q_ref, atol=1e-9)
    np.testing.assert_allclose(rotation_from_qvec(q), R.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotation_from_qvec(-3.0 * q), R.as_matrix(), atol=1e-12)  # sign and scale free


def test_quaternion_of_half_turns():
    # trace -1: the branch-free eigenvector method must still work where the naive formula divides by ~0
    for axis in np.eye(3):
        R = Rotation.from_rotvec(np.pi * axis).as_matrix()
        np.testing.assert_allclose(rotation_from_qvec(qvec_from_rotation(R)), R, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_colmap_pose_is_the_inverse_of_camera_to_world(seed):
    rng = np.random.default_rng(seed)
    qvec = qvec_from_rotation(Rotation.random(random_state=seed).as_matrix())
    tvec = rng.normal(size=3)
    c2w = c2w_from_colmap(qvec, tvec)
    # a world point maps into the camera by COLMAP's x_c = R x_w + t, and back by c2w
    x_w = rng.normal(size=3)
    x_c = rotation_from_qvec(qvec) @ x_w + tvec
    np.testing.assert_allclose(c2w[:3, :3] @ x_c + c2w[:3, 3], x_w, atol=1e-12)
    q2, t2 = colmap_from_c2w(c2w)
    np.testing.assert_allclose(q2 * np.sign(q2[0] * qvec[0]), qvec, atol=1e-12)
    np.testing.assert_allclose(t2, tvec, atol=1e-12)


def test_opengl_opencv_flip():
    c2w_cv = np.eye(4)
    c2w_cv[:3, 3] = [1.0, 2.0, 3.0]
    c2w_gl = opengl_from_opencv(c2w_cv)
    # the centre stays; the OpenGL camera looks down its -z, which is OpenCV's +z
    np.testing.assert_allclose(c2w_gl[:3, 3], c2w_cv[:3, 3])
    np.testing.assert_allclose(-c2w_gl[:3, 2], c2w_cv[:3, 2])
    np.testing.assert_allclose(c2w_gl[:3, 1], -c2w_cv[:3, 1])  # y up vs y down
    np.testing.assert_allclose(opencv_from_opengl(c2w_gl), c2w_cv)


def test_align_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(20, 3))
    R = Rotation.random(random_state=4).as_matrix()
    s, t = 2.5, np.array([1.0, -2.0, 0.5])
    s_est, R_est, t_est = align_similarity(points, s * points @ R.T + t)
    assert abs(s_est - s) < 1e-10
    np.testing.assert_allclose(R_est, R, atol=1e-10)
    np.testing.assert_allclose(t_est, t, atol=1e-10)


def test_compare_trajectories_is_zero_for_a_similar_copy_and_sees_an_error():
    rng = np.random.default_rng(0)
    reference = np.stack([np.eye(4)] * 8)
    for i in range(8):
        reference[i, :3, :3] = Rotation.random(random_state=i).as_matrix()
        reference[i, :3, 3] = rng.normal(size=3)
    S = np.eye(4)
    S[:3, :3] = Rotation.random(random_state=99).as_matrix()
    S[:3, 3] = [3.0, 1.0, -1.0]
    estimated = S @ reference  # rigid change of world frame ...
    estimated[:, :3, 3] *= 0.3  # ... and of scale
    errors = compare_trajectories(estimated, reference)
    assert errors["rotation_error_deg_max"] < 1e-6 and errors["translation_error_rel_max"] < 1e-9
    estimated[2, :3, :3] = (
        estimated[2, :3, :3] @ Rotation.from_rotvec([0.0, 0.0, np.radians(5.0)]).as_matrix()
    )
    errors = compare_trajectories(estimated, reference)
    assert abs(errors["rotation_error_deg_max"] - 5.0) < 1e-6
    assert (
        abs(rotation_angle_deg(np.eye(3), Rotation.from_rotvec([0.3, 0, 0]).as_matrix()) - np.degrees(0.3))
        < 1e-9
    )


def test_rotation_errors_are_free_of_a_global_rotation_and_catch_a_fold():
    from scipy.spatial.transform import Rotation

    from panolift.capture.poses import rotation_errors_deg

    reference = Rotation.from_euler("z", np.linspace(0, 90, 12)[:, None], degrees=True).as_matrix()
    turn = Rotation.from_euler("xyz", [30, -20, 75], degrees=True).as_matrix()
    estimated = turn @ reference  # the same cameras in another world frame
    errors = rotation_errors_deg(estimated, reference)
    assert errors["aligned_max"] < 1e-6 and errors["step_max"] < 1e-6
    folded = estimated.copy()
    folded[6:] = Rotation.from_euler("x", 10, degrees=True).as_matrix() @ folded[6:]  # a 10 degree break
    errors = rotation_errors_deg(folded, reference)
    assert errors["step_max"] == pytest.approx(10.0, abs=1e-6) and errors["step_median"] < 1e-6
    assert 3.0 < errors["aligned_max"] < 10.0  # the best rotation splits the break between the halves
