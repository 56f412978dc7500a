"""Cameras: intrinsics for the image size, camera poses, and the camera path of a configuration: the original
orbit (an ellipse around the room centre, looking inward and across) here, the other paths in ``paths``."""

from __future__ import annotations

import numpy as np

from .config import SynthConfig
from .floorplan import FloorPlan
from .paths import build_path


def intrinsics_for(config: SynthConfig) -> np.ndarray:
    """3x3 pinhole K with the configured horizontal field of view: fx = fy = (W / 2) / tan(hfov / 2)."""
    f = (config.width / 2) / np.tan(np.deg2rad(config.hfov_deg) / 2)
    return np.array([[f, 0.0, config.width / 2], [0.0, f, config.height / 2], [0.0, 0.0, 1.0]])


def look_pose(position: np.ndarray, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """4x4 camera-to-world (OpenCV: x right, y down, z forward) for a camera at ``position`` (z-up world)
    looking along yaw (about z, from +x) and pitch (up positive), rolled by ``roll`` about its view axis:

    forward f = (cos p cos y, cos p sin y, sin p), right r = f x up / |f x up|, down = f x r, then
    (r, d) <- (cos a r + sin a d, cos a d - sin a r) for the roll a (clockwise in the image for a > 0).
    """
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    if roll != 0.0:
        c, s = np.cos(roll), np.sin(roll)
        right, down = c * right + s * down, c * down - s * right
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def camera_trajectory(config: SynthConfig) -> np.ndarray:
    """(num_frames, 4, 4) camera-to-world poses along the configured path (``config.trajectory``).

    Raises ValueError when an orbit leaves the room (its centre and radii are the configuration's to pick).
    """
    plan = FloorPlan.from_config(config)
    if config.trajectory == "orbit":
        poses = orbit_trajectory(config)
        if plan.clearance(poses[:, :2, 3]).min() < 0.3:
            raise ValueError(
                f"synth: the orbit of {config.trajectory_radius} m leaves the room {config.room_size}"
            )
        return poses
    path = build_path(config, plan)
    return np.stack(
        [
            look_pose(p, y, q, r)
            for p, y, q, r in zip(path.position, path.yaw, path.pitch, path.roll, strict=True)
        ]
    )


def orbit_trajectory(config: SynthConfig) -> np.ndarray:
    """(num_frames, 4, 4) camera-to-world poses along an ellipse around the room centre.

    At t = i / num_frames the camera sits at c + (rx cos 2 pi t, ry sin 2 pi t, eye height + bob), with c
    the ``trajectory_center`` (default the room's centre), and turns ``turns`` times about z while its pitch oscillates slowly around ``pitch_deg``; yaw runs ahead
    of the position on the ellipse so that the camera mostly looks across the room.
    """
    X, Y, _ = config.room_size
    cx, cy = (X / 2, Y / 2) if config.trajectory_center is None else config.trajectory_center
    rx, ry = config.trajectory_radius
    t = np.arange(config.num_frames) / config.num_frames
    angle = 2.0 * np.pi * t
    pos = np.stack(
        [
            cx + rx * np.cos(angle),
            cy + ry * np.sin(angle),
            config.eye_height + 0.05 * np.sin(3 * angle),
        ],
        axis=-1,
    )
    yaw = angle * config.turns + np.pi + 0.25 * np.sin(2 * angle)
    pitch = np.deg2rad(config.pitch_deg + config.pitch_amplitude_deg * np.sin(2 * angle + 0.7))
    return np.stack([look_pose(p, y, q) for p, y, q in zip(pos, yaw, pitch, strict=True)])


def camera_velocity(poses: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The camera's motion at frame ``index`` per frame interval: (rotation vector in the camera's own
    axes, translation in world metres), by central differences of the neighbouring poses (one-sided at the
    ends of the path; zero for a single frame)."""
    from scipy.spatial.transform import Rotation

    n = len(poses)
    lo, hi = max(index - 1, 0), min(index + 1, n - 1)
    if hi == lo:
        return np.zeros(3), np.zeros(3)
    R_lo, R_hi = poses[lo, :3, :3], poses[hi, :3, :3]
    turn = Rotation.from_matrix(R_lo.T @ R_hi).as_rotvec() / (hi - lo)  # in the lo camera's axes
    turn = poses[index, :3, :3].T @ R_lo @ turn  # the same axis in frame index's camera axes
    return turn, (poses[hi, :3, 3] - poses[lo, :3, 3]) / (hi - lo)


def motion_pixels(poses: np.ndarray, index: int, focal: float, near: float = 0.75) -> float:
    """How far the image of frame ``index`` moves in one frame interval, in pixels: the camera's turn times
    ``focal`` plus its shift as seen at ``near`` metres (:func:`camera_velocity`)."""
    return _pixels(*camera_velocity(poses, index), focal, near)


def _pixels(turn: np.ndarray, shift: np.ndarray, focal: float, near: float = 0.75) -> float:
    return float(focal * (np.linalg.norm(turn) + np.linalg.norm(shift) / near))


def shutter_poses(poses: np.ndarray, index: int, fraction: float, focal: float) -> np.ndarray:
    """(n, 4, 4) camera-to-world poses while frame ``index``'s shutter is open: the camera moving on at its
    :func:`camera_velocity` over ``fraction`` of a frame interval, centred on the frame's pose. n is about
    the blur's length in pixels (:func:`motion_pixels` times ``fraction``), 1 to 16; the frame's own pose
    alone when ``fraction`` is 0."""
    from scipy.spatial.transform import Rotation

    c2w = poses[index]
    if fraction <= 0.0:
        return c2w[None].copy()
    turn, shift = camera_velocity(poses, index)
    n = int(np.clip(np.ceil(fraction * _pixels(turn, shift, focal)), 1, 16))
    if n == 1:
        return c2w[None].copy()
    out = np.repeat(c2w[None], n, axis=0)
    for k, s in enumerate(fraction * ((np.arange(n) + 0.5) / n - 0.5)):
        out[k, :3, :3] = c2w[:3, :3] @ Rotation.from_rotvec(s * turn).as_matrix()
        out[k, :3, 3] = c2w[:3, 3] + s * shift
    return out
