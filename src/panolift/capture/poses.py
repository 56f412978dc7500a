"""Camera pose conventions (COLMAP, OpenGL/nerfstudio, OpenCV) and similarity alignment of trajectories.

The scene layout stores camera-to-world poses in the OpenCV convention (x right, y down, z forward).
COLMAP stores world-to-camera rotations (as unit quaternions, w first) and translations in the same camera
convention; nerfstudio and instant-ngp store camera-to-world poses in the OpenGL convention (x right, y up,
z backward).
"""

from __future__ import annotations

import numpy as np

# Right-multiplying a camera-to-world pose by this flips the camera's y and z axes: OpenGL <-> OpenCV.
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def rotation_from_qvec(qvec: np.ndarray) -> np.ndarray:
    """3x3 rotation of a unit quaternion q = (w, x, y, z) (Hamilton, COLMAP's order).

    R = [[1-2(y²+z²), 2(xy-wz), 2(xz+wy)], [2(xy+wz), 1-2(x²+z²), 2(yz-wx)], [2(xz-wy), 2(yz+wx), 1-2(x²+y²)]]
    after normalising q.
    """
    w, x, y, z = np.asarray(qvec, dtype=np.float64) / np.linalg.norm(qvec)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def qvec_from_rotation(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 of a 3x3 rotation matrix.

    Uses the symmetric 4x4 matrix K of Bar-Itzhack (2000) built from R; q is the eigenvector of K's largest
    eigenvalue, which is robust for every rotation (no branch on the trace).
    """
    R = np.asarray(R, dtype=np.float64)
    # Names as in COLMAP's scripts/python/read_write_model.py: R's entries in row-major order.
    rxx, ryx, rzx, rxy, ryy, rzy, rxz, ryz, rzz = R.flat
    K = (
        np.array(
            [
                [rxx - ryy - rzz, 0, 0, 0],
                [ryx + rxy, ryy - rxx - rzz, 0, 0],
                [rzx + rxz, rzy + ryz, rzz - rxx - ryy, 0],
                [ryz - rzy, rzx - rxz, rxy - ryx, rxx + ryy + rzz],
            ]
        )
        / 3.0
    )
    eigvals, eigvecs = np.linalg.eigh(K)
    x, y, z, w = eigvecs[:, np.argmax(eigvals)]
    q = np.array([w, x, y, z])
    return -q if q[0] < 0 else q


def c2w_from_colmap(qvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world (OpenCV) of a COLMAP image pose (world-to-camera x_c = R x_w + t).

    c2w = [[R^T, -R^T t], [0, 1]] with R = rotation_from_qvec(qvec).
    """
    R = rotation_from_qvec(qvec)
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -R.T @ np.asarray(tvec, dtype=np.float64)
    return c2w


def colmap_from_c2w(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP (qvec, tvec) of a 4x4 camera-to-world pose (OpenCV): R = R_c2w^T, t = -R_c2w^T c."""
    R = np.asarray(c2w, dtype=np.float64)[:3, :3].T
    t = -R @ np.asarray(c2w, dtype=np.float64)[:3, 3]
    return qvec_from_rotation(R), t


def opencv_from_opengl(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world in the OpenCV convention from one in the OpenGL convention (either way, in fact).

    c2w_cv = c2w_gl · diag(1, -1, -1, 1): the camera's y and z axes flip, its centre stays.
    """
    return np.asarray(c2w, dtype=np.float64) @ OPENGL_FROM_OPENCV


def opengl_from_opencv(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world in the OpenGL convention from OpenCV: c2w_gl = c2w_cv · diag(1, -1, -1, 1)."""
    return np.asarray(c2w, dtype=np.float64) @ OPENGL_FROM_OPENCV


def align_similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama 1991) mapping points ``source`` (N,3) onto ``target`` (N,3).

    Returns (s, R, t) minimising sum_i ||target_i - (s R source_i + t)||²:
    with centred X = source - mu_s, Y = target - mu_t, Sigma = Y^T X / N = U D V^T,
    S = diag(1, 1, det(U V^T)), R = U S V^T, s = tr(D S) / var(X), t = mu_t - s R mu_s.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.shape[0] < 3:
        raise ValueError(
            f"need two (N>=3, 3) point sets of equal shape, got {source.shape} and {target.shape}"
        )
    mu_s, mu_t = source.mean(0), target.mean(0)
    X, Y = source - mu_s, target - mu_t
    U, D, Vt = np.linalg.svd(Y.T @ X / len(X))
    S = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    R = U @ S @ Vt
    var_x = (X**2).sum() / len(X)
    s = float(np.trace(np.diag(D) @ S) / max(var_x, 1e-300))
    t = mu_t - s * R @ mu_s
    return s, R, t


def rotation_angle_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Angle (degrees) of the relative rotation D = R_a^T R_b: atan2(sin, cos) with cos = (tr D - 1) / 2,
    sin = ||(D - D^T)^vee|| / 2 (accurate near 0, unlike acos alone)."""
    D = np.asarray(R_a).T @ np.asarray(R_b)
    cos = (np.trace(D) - 1.0) / 2.0
    sin = np.linalg.norm([D[2, 1] - D[1, 2], D[0, 2] - D[2, 0], D[1, 0] - D[0, 1]]) / 2.0
    return float(np.degrees(np.arctan2(sin, cos)))


def rotation_errors_deg(estimated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far estimated camera orientations (N, 3, 3) are from reference ones, free of any alignment of
    the camera centres (which leaves the rotation about a straight walk's line undetermined):

    - ``aligned``: angle(G R_est_i, R_ref_i) after the one rotation G that best maps the estimated
      orientations onto the reference ones (the chordal mean: G = U diag(1, 1, det) V^T from the SVD of
      sum_i R_ref_i R_est_i^T), median and max;
    - ``step``: between consecutive cameras, the angle between the estimated and the reference relative
      rotations R_{i}^T R_{i+1}, median and max (a reconstruction that breaks or folds shows here).
    """
    estimated, reference = np.asarray(estimated, np.float64), np.asarray(reference, np.float64)
    U, _, Vt = np.linalg.svd(np.einsum("nij,nkj->ik", reference, estimated))
    G = U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0]) @ Vt
    aligned = np.array([rotation_angle_deg(G @ e, r) for e, r in zip(estimated, reference, strict=True)])
    step = np.array(
        [rotation_angle_deg(estimated[i].T @ estimated[i + 1], reference[i].T @ reference[i + 1])
         for i in range(len(estimated) - 1)]
    ) if len(estimated) > 1 else np.zeros(1)  # fmt: skip
    return {
        "aligned_median": float(np.median(aligned)),
        "aligned_max": float(aligned.max()),
        "step_median": float(np.median(step)),
        "step_max": float(step.max()),
    }


def compare_trajectories(estimated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Errors of estimated camera-to-world poses (N,4,4) against reference ones after similarity alignment.

    The similarity (s, R, t) aligns the estimated camera centres to the reference ones (Umeyama); then
    rotation error_i = angle(R · R_est_i, R_ref_i) in degrees, and relative translation error_i =
    ||s R c_est_i + t - c_ref_i|| / extent, extent = max_i ||c_ref_i - mean(c_ref)||.
    """
    s, R, t = align_similarity(estimated[:, :3, 3], reference[:, :3, 3])
    centres = s * estimated[:, :3, 3] @ R.T + t
    extent = float(np.linalg.norm(reference[:, :3, 3] - reference[:, :3, 3].mean(0), axis=-1).max())
    trans = np.linalg.norm(centres - reference[:, :3, 3], axis=-1) / max(extent, 1e-12)
    rot = np.array(
        [rotation_angle_deg(R @ e[:3, :3], r[:3, :3]) for e, r in zip(estimated, reference, strict=True)]
    )
    return {
        "scale": s,
        "rotation_error_deg_median": float(np.median(rot)),
        "rotation_error_deg_max": float(rot.max()),
        "translation_error_rel_median": float(np.median(trans)),
        "translation_error_rel_max": float(trans.max()),
    }
