"""Agreement of a lifted scene with its own inputs, on the training views: the check that needs no ground
truth. Lifting denoises the 2D labels, so it disagrees with them where they are wrong, but a lifted scene
that renders its training views far from their colours, or loses whole classes that the 2D labels see
consistently, has failed (typically its geometry turned into fog and objects dissolved into the walls).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import mean_iou, semantic_confusion

MIN_MIOU = 0.30
"""Below this mIoU of the rendered labels against the 2D labels (training views) a run is flagged. Under
harsh label noise a good run agrees little with its own labels. Since stop 70 the check compares 64 views
at 64 pixels wide (:func:`panolift.runs.check_against_inputs`): 34-78% on 59 finished runs of stops 67-70
(the least: held-out clutter-2 at 34%, fresh room 188 at 35%, tuning room 124 at 37%), 14% and 26% on a
`fast` training of room 4 stopped at step 150 and 200, 11% at step 40. (With 8 views at 96 pixels, until
stop 69, the threshold was 0.35: good runs 42-78%, tuning room 7 flagged at 30% by mistake, seed 0's
failed run 24%; benchmarks/SUITE.md, fifty-first round.)"""
MIN_PSNR = 20.0
"""Below this PSNR (dB) of the rendered colours against the training images a run is flagged."""
FLAT_SPREAD = 0.05
"""A flagged run whose rendered colours vary less than this fraction of the images' own variation within a
frame (the standard deviation over its pixels, the median over the frames) renders one flat colour: its
colour field died, not its geometry.
Measured on `quick` trained at 1.5-2x its learning rates: 5 of 16 runs ended at 9.6-12.2 dB with their
appearance grid shrunk to about zero and one colour everywhere (benchmarks/SUITE.md, forty-first round)."""
LOST_RECALL = 0.25
"""A class is lost when at most this fraction of the pixels the 2D labels give it render as it..."""
LOST_MIN_SHARE = 0.01
"""...and the 2D labels give it at least this share of the labelled pixels, and no view compared renders
it as itself on more than ``LOST_RECALL`` of the pixels it labels so (counting the views that label it on
at least :data:`VIEW_MIN_SHARE` of their pixels): a class the scene still renders where some views put
it is not lost, only outvoted elsewhere. Without that last clause the check named on good runs one view's
flip of a whole object (tuning room 0: a sofa that one of the eight views labels chair, 1227 pixels,
rendered sofa, while the two views whose chairs are chairs render them chair at 88-91%; tuning room 3's
cabinet, fresh room 124's chair and otherprop likewise). Every class of a `fast` training of room 4
stopped at step 40 is still named, and the one class (lamp) that finished trainings of rooms 0 and 7
render nowhere as their labels' minority has it."""
LOST_MIN_VOTES = 0.001
"""With label votes (`fast`, `quick`), a class is lost only where the fused votes of every training view
make it the majority class on at least this share of the votes' mass: the views' majority wants it
somewhere and the render shows it nowhere as labelled. A class that every view's majority gives to
something else (the demo room's labels put `otherprop` on 16 270 floor pixels of its training views; the
room has none) is outvoted, not lost. On the trainings of stops 67-70 that the 64-view check flags: 0.0%
for the five classes no object of the room has, 0.12-0.78% for the three lost on the test views (rooms
181 and 187, tuning room 7's curtain), 0.34% for fresh room 183's invented cabinet, 0.00-0.01% for three
real classes of 58-819 pixels in the training views (benchmarks/SUITE.md, fifty-first round)."""
VIEW_MIN_SHARE = 0.001
"""The share of a view's labelled pixels on which it must give a class for its recall to count."""
NEAR_FACTOR = 1.5
"""A rendered pixel hugs the camera when its depth is below this many times the near plane's distance..."""
MAX_NEAR_SHARE = 0.4
"""...and a run is flagged when more than this share of its opaque training-view pixels do: a screen in
front of every camera (each view explains its own pixels with a surface just past the near plane) instead
of the room's surfaces. Measured on the suite: 85% on seed 0's failed run (depth a fifth of the truth),
0-2% on five held-out and tuning runs with the right depth, 17% on seed 14 (a walk past furniture)."""


@dataclass
class InputAgreement:
    """How a run's renderings of its training views compare with the inputs it was trained on."""

    num_frames: int
    pixel_agreement: float  # fraction of 2D-labelled pixels rendered with the 2D label's class
    miou: float  # mIoU of the rendered classes with the 2D labels as reference
    psnr: float  # rendered colour against the training images (dB)
    recall: dict[str, float] = field(
        default_factory=dict
    )  # class -> fraction of its 2D pixels rendered as it
    share: dict[str, float] = field(default_factory=dict)  # class -> share of the 2D-labelled pixels
    best_view_recall: dict[str, float] = field(
        default_factory=dict
    )  # class -> its recall in the view that renders it best (of those labelling it on VIEW_MIN_SHARE)
    majority_votes: dict[str, float] | None = None  # class -> share of the label votes' mass where it wins
    near_share: float | None = None  # share of opaque pixels rendered within NEAR_FACTOR x the near plane
    color_spread: float | None = None  # a frame's rendered colour std over its image's (median of the frames)
    near_distance: float | None = None  # the near plane's distance (world units, metres for real scenes)

    @property
    def lost_classes(self) -> list[str]:
        """Classes the 2D labels see on a noticeable share of pixels that the lifted scene hardly renders."""
        return [
            k
            for k, r in self.recall.items()
            if r <= LOST_RECALL
            and self.share.get(k, 0.0) >= LOST_MIN_SHARE
            and self.best_view_recall.get(k, 0.0) <= LOST_RECALL
            and (self.majority_votes is None or self.majority_votes.get(k, 0.0) >= LOST_MIN_VOTES)
        ]

    def warnings(self) -> list[str]:
        """Plain-language warnings (empty when the run agrees with its inputs)."""
        out = []
        if self.psnr < MIN_PSNR and self.color_spread is not None and self.color_spread < FLAT_SPREAD:
            out.append(
                f"the training views render at {self.psnr:.1f} dB PSNR (< {MIN_PSNR:.0f}) in nearly one flat "
                f"colour ({100 * self.color_spread:.0f}% of the images' variation): the colour field has "
                "collapsed, not the geometry; train again, with --field.color-logit-bound 11 if it was 0 "
                "(`fast` and `quick` have it) or with lower learning rates if you raised them "
                "(--train.lr-grid, --train.lr-mlp)"
            )
        elif self.psnr < MIN_PSNR:
            out.append(
                f"the training views render at {self.psnr:.1f} dB PSNR (< {MIN_PSNR:.0f}): the geometry "
                "has probably not converged (fog); train longer or check the poses"
            )
        if self.miou < MIN_MIOU:
            out.append(
                f"the rendered labels agree with the 2D labels at only {100 * self.miou:.0f}% mIoU on the "
                f"training views (< {100 * MIN_MIOU:.0f}%): lifting has failed rather than denoised"
            )
        if self.near_share is not None and self.near_share > MAX_NEAR_SHARE:
            out.append(
                f"{100 * self.near_share:.0f}% of the training views' pixels render within "
                f"{NEAR_FACTOR * self.near_distance:.2f} of the camera ({NEAR_FACTOR:g}x the near plane): the "
                "field has probably put a screen in front of the cameras instead of the room's surfaces"
            )
        if self.lost_classes:
            out.append(
                "classes the 2D labels see but the lifted scene lost: "
                + ", ".join(self.lost_classes)
                + " (an object the field lost, or a class the labels put on other objects: compare a render)"
            )
        return out

    def summary(self) -> str:
        text = (
            f"agreement with the inputs on {self.num_frames} training views: colour {self.psnr:.1f} dB, "
            f"labels {100 * self.pixel_agreement:.0f}% of pixels, {100 * self.miou:.0f}% mIoU"
        )
        if self.near_share is not None:
            text += f"; {100 * self.near_share:.0f}% of pixels within {NEAR_FACTOR:g}x the near plane"
        return text


def agreement_with_inputs(
    rendered: list[tuple[np.ndarray, np.ndarray]],  # per frame: (H, W) classes, (H, W, 3) rgb in [0, 1]
    inputs: list[tuple[np.ndarray, np.ndarray]],  # per frame: (H, W) 2D label classes, (H, W, 3) image
    class_names: tuple[str, ...],
    depths: list[tuple[np.ndarray, np.ndarray]] | None = None,  # per frame: (H, W) depth, (H, W) opacity
    near_distance: float | None = None,
    majority_votes: dict[str, float] | None = None,
) -> InputAgreement:
    """Compare renderings of training views with the 2D labels and images they were trained on (pixels
    the 2D labels leave void are left out of the label scores); with ``depths`` and ``near_distance``
    (the renderer's near plane, in the depths' units) also how much of the views hugs the cameras;
    ``majority_votes`` (class -> share of the label votes' mass where it is the majority, see
    :data:`LOST_MIN_VOTES`) for a run with label votes."""
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    squared, count, spreads = 0.0, 0, []
    best_view = np.zeros(num_classes)
    for (sem, rgb), (labels, image) in zip(rendered, inputs, strict=True):
        rgb, image = np.asarray(rgb, np.float64), np.asarray(image, np.float64)
        view = semantic_confusion(sem, labels, num_classes)
        confusion += view
        in_view = view.sum(axis=1)
        counted = in_view >= max(VIEW_MIN_SHARE * in_view[1:].sum(), 1)
        best_view[counted] = np.maximum(best_view[counted], np.diag(view)[counted] / in_view[counted])
        squared += float(np.sum((rgb - image) ** 2))
        count += int(image.size)
        # within a frame: a per-frame exposure (a gain and offset a frame) shifts whole frames
        variation = float(image.reshape(-1, 3).std(axis=0).mean())
        if variation > 0:
            spreads.append(float(rgb.reshape(-1, 3).std(axis=0).mean()) / variation)
    miou, _ = mean_iou(confusion)
    labelled = confusion.sum(axis=1)
    total = max(int(labelled.sum()), 1)
    recall = {
        class_names[k]: float(confusion[k, k] / labelled[k]) for k in range(1, num_classes) if labelled[k] > 0
    }
    share = {class_names[k]: float(labelled[k] / total) for k in range(1, num_classes) if labelled[k] > 0}
    best_view_recall = {class_names[k]: float(best_view[k]) for k in range(1, num_classes) if labelled[k] > 0}
    mse = squared / max(count, 1)
    near_share = None
    if depths is not None and near_distance is not None:
        opaque = np.concatenate([np.asarray(o).ravel() > 0.5 for _, o in depths])
        depth = np.concatenate([np.asarray(d).ravel() for d, _ in depths])
        close = depth[opaque] < NEAR_FACTOR * near_distance
        near_share = float(close.mean()) if close.size else 0.0
    return InputAgreement(
        num_frames=len(rendered),
        pixel_agreement=float(np.trace(confusion) / total),
        miou=float(miou),
        psnr=float(-10.0 * np.log10(mse)) if mse > 0 else float("inf"),
        recall=recall,
        share=share,
        best_view_recall=best_view_recall,
        majority_votes=majority_votes,
        near_share=near_share,
        near_distance=near_distance,
        color_spread=float(np.median(spreads)) if spreads else None,
    )
