"""Checks of a run that need no ground truth: its renderings of training views against its inputs."""

from __future__ import annotations

import numpy as np
import torch

from panolift.evaluate.agreement import InputAgreement, agreement_with_inputs
from panolift.render import panoptic_from_rendering, render_image, unwrap_field
from panolift.scene import fit_size

from .loaded import LoadedRun


def check_against_inputs(loaded: LoadedRun, max_frames: int = 64, width: int = 64) -> InputAgreement:
    """Render up to ``max_frames`` evenly spaced training views at ``width`` pixels and compare them with
    the 2D labels and images they were trained on (:mod:`panolift.evaluate.agreement`); a run that learnt
    each frame's exposure (``train.frame_exposure``) is compared in that frame's exposure, and one that
    refined its cameras (``train.refine_cameras``) from the refined cameras.

    Many small views rather than a few large ones: a class is lost only where no compared view renders it
    as its labels do, and eight views often held only the labels' flips of a class onto other objects. On
    37 fresh rooms of stops 67-70, 8 views at 96 pixels named 20 classes lost in 13 rooms: one lost on the
    test views, four that the labels invent (no such object in the room), fifteen that the test views
    show at least as well as the labels do (IoU 0.39-0.97); 64 views at 64 pixels named 7 in 7 rooms:
    three lost on the test views, four invented by the labels, none shown right; with the label votes'
    majority as well (:data:`~panolift.evaluate.agreement.LOST_MIN_VOTES`) 3 in 3 rooms: two lost on
    the test views, one invented. 2-6 s a run on one thread against 1-2 s (benchmarks/SUITE.md,
    fifty-first round)."""
    native = loaded.open_scene()
    size = fit_size(native.native_size, width=min(width, native.native_size[0]))
    scene = loaded.open_scene(size)
    frames = scene.train_frames
    picks = [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))]
    K = scene.intrinsics
    tta = loaded.config.loss.use_tta
    rendered, inputs, depths = [], [], []
    cameras = loaded.frame_cameras
    if cameras is not None and cameras.num_frames != len(frames):
        cameras = None
    for name in picks:
        pose = scene.pose(name)
        if cameras is not None:  # where the training put the frame's camera
            pose = cameras.refine_world_pose(pose, frames.index(name), loaded.normalization)
        out = render_image(
            loaded.field, K, pose, *size, normalization=loaded.normalization, parallel_chunks=True
        )
        semantics, _ = panoptic_from_rendering(out, loaded.class_set)
        rgb = out["rgb"]
        exposure = loaded.frame_exposure
        if exposure is not None and exposure.num_frames == len(frames):
            index = torch.full(rgb.shape[:-1], frames.index(name), dtype=torch.long)
            rgb = exposure(rgb.reshape(-1, 3), index.reshape(-1)).reshape(rgb.shape)
        rendered.append((semantics, rgb.clamp(0, 1).cpu().numpy()))
        inputs.append((scene.machine_label_maps(name, tta=tta)[0], scene.rgb(name)))
        depths.append((out["depth"].cpu().numpy(), out["opacity"].cpu().numpy()))
    near = loaded.config.render.near / loaded.normalization.scale  # normalised units -> world units
    majority = majority_votes(unwrap_field(loaded.field), loaded.class_set.names)
    return agreement_with_inputs(rendered, inputs, loaded.class_set.names, depths, near, majority)


def majority_votes(field, class_names) -> dict[str, float] | None:
    """Class -> share of the field's label votes' mass on the nodes where it is the majority class (the
    training views' majority, fused on the surfaces); None for a field without votes (the `paper` preset)."""
    if not getattr(field, "has_label_votes", False):
        return None
    mass = field.label_vote_mass.double()
    winner = field.label_vote_classes.float().argmax(dim=1)
    won = torch.zeros(len(class_names), dtype=torch.float64).index_add_(0, winner, mass)
    total = max(float(mass.sum()), 1e-30)
    return {name: float(won[k]) / total for k, name in enumerate(class_names) if k > 0}
