"""Cameras: intrinsics for the image size and a smooth eye-height path that looks around the room."""

from __future__ import annotations

import numpy as np

from .config import SynthConfig


def intrinsics_for(config: SynthConfig) -> np.ndarray:
    """3x3 pinhole K with the configured horizontal field of view: fx = fy = (W / 2) / tan(hfov / 2)."""
    f = (config.width / 2) / np.tan(np.deg2rad(config.hfov_deg) / 2)
    return np.array([[f, 0.0, config.width / 2], [0.0, f, config.height / 2], [0.0, 0.0, 1.0]])


def look_pose(position: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """4x4 camera-to-world (OpenCV: x right, y down, z forward) for a camera at ``position`` (z-up world)
    looking along yaw (about z, from +x) and pitch (up positive):

    forward f = (cos p cos y, cos p sin y, sin p), right r = f x up / |f x up|, down = f x r.
    """
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def camera_trajectory(config: SynthConfig) -> np.ndarray:
    """(num_frames, 4, 4) camera-to-world poses along an ellipse around the room centre.

    At t = i / num_frames the camera sits at centre + (rx cos 2 pi t, ry sin 2 pi t, eye height + bob) and
    turns ``turns`` times about z while its pitch oscillates slowly around ``pitch_deg``; yaw runs ahead
    of the position on the ellipse so that the camera mostly looks across the room.
    """
    X, Y, _ = config.room_size
    rx, ry = config.trajectory_radius
    t = np.arange(config.num_frames) / config.num_frames
    angle = 2.0 * np.pi * t
    pos = np.stack(
        [
            X / 2 + rx * np.cos(angle),
            Y / 2 + ry * np.sin(angle),
            config.eye_height + 0.05 * np.sin(3 * angle),
        ],
        axis=-1,
    )
    yaw = angle * config.turns + np.pi + 0.25 * np.sin(2 * angle)
    pitch = np.deg2rad(config.pitch_deg + config.pitch_amplitude_deg * np.sin(2 * angle + 0.7))
    return np.stack([look_pose(p, y, q) for p, y, q in zip(pos, yaw, pitch, strict=True)])
