"""The fuzz corpus: every class of malformed scene input issue 12 found, and valid oddities.

Not a test module: tests/fuzz/test_fuzz_scenes.py loads it (and mutations.py) by path.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np

m = sys.modules["panolift_fuzz_mutations"]
Case, FRAME = m.Case, m.FRAME

F = FRAME
COLOR, POSE, K = f"color/{F}.jpg", f"pose/{F}.txt", "intrinsic/intrinsic_color.txt"
PROB = f"m2f_probabilities/{F}.npz"
H, W, C = 48, 64, 22


def _structure() -> list:
    return [
        Case("root-missing", m.remove(""), "scene folder does not exist", "construct"),
        Case("root-is-file", m.both(m.remove(""), m.put("", b"x")), "scene folder is not a folder", "construct"),
        Case("color-missing", m.remove("color"), "color: missing colour folder", "construct"),
        Case("color-is-file", m.put("color", b"x"), "color: missing colour folder", "construct"),
        Case("color-empty", m.both(m.remove("color"), m.make_dir("color")), "color: no .jpg", "construct"),
        Case("color-only-text", m.both(m.remove("color"), m.put_text("color/a.txt", "x")), "color: no .jpg", "construct"),
        Case("pose-folder-missing", m.remove("pose"), "pose/0.txt: missing pose", "construct"),
        Case("intrinsic-folder-missing", m.remove("intrinsic"), "intrinsic_color.txt: missing", "construct"),
        Case("m2f-instance-folder-missing", m.remove("m2f_instance"), "m2f_instance: missing folder", "validate"),
        Case("m2f-semantics-folder-missing", m.remove("m2f_semantics"), "m2f_semantics: missing folder", "validate"),
        Case("notta-instance-folder-missing", m.remove("m2f_notta_instance"), "m2f_notta_instance", "validate"),
        Case("probabilities-folder-is-file", m.both(m.remove("m2f_probabilities"), m.put("m2f_probabilities", b"x")), "m2f_probabilities: expected a folder", "validate"),
        Case("depth-folder-is-file", m.both(m.remove("depth"), m.put("depth", b"x")), "depth: expected a folder", "validate"),
        Case("hidden-and-extra-files", m.both(m.put(".DS_Store", b"x"), m.put("color/.x.jpg", b"x"), m.put_text("color/notes.txt", "x"), m.make_dir("extra")), None),
        Case("optional-folders-removed", m.both(*(m.remove(f) for f in ("depth", "rs_semantics", "rs_instance", "m2f_segments", "m2f_probabilities", "m2f_notta_semantics", "m2f_notta_instance"))), None),
        Case("no-splits-no-segmentation-data", m.both(m.remove("splits.json"), m.remove("segmentation_data.json")), None),
    ]  # fmt: skip


def _files(rel: str, what_first: bool = False) -> list:
    """Non-files and unreadable files in place of ``rel``."""
    stage = "construct" if what_first else "validate"
    return [
        Case(f"{rel}:dir", m.make_dir(rel), rel, stage),
        Case(f"{rel}:fifo", m.make_fifo(rel), rel, stage),
        Case(f"{rel}:dev-urandom", m.link(rel, "/dev/urandom"), rel, stage),
        Case(f"{rel}:dev-zero", m.link(rel, "/dev/zero"), rel, stage),
        Case(f"{rel}:broken-link", m.link(rel, "/nonexistent/file"), rel, stage),
        Case(f"{rel}:link-loop", m.link(rel, os.path.basename(rel)), rel, stage),
        Case(f"{rel}:empty", m.put(rel, b""), rel, stage),
        Case(f"{rel}:garbage", m.put(rel, bytes(range(256)) * 4), rel, stage),
        Case(f"{rel}:link-to-regular", m.link_to_copy(rel), None),
    ]


def _colour() -> list:
    cases = _files(COLOR) + _files("color/0.jpg", what_first=True)
    return cases + [
        Case("color-truncated-half", m.truncate(COLOR, 0.5), COLOR),
        Case("color-truncated-eoi", m.trim(COLOR, 2), COLOR),
        Case("color-truncated-header", m.truncate(COLOR, 0.05), COLOR, "validate"),
        Case("color-corrupt-stream", m.corrupt_middle(COLOR), COLOR),
        Case("color-wrong-size", m.image(COLOR, np.zeros((24, 32, 3), np.uint8), "JPEG"), COLOR, "validate"),
        Case("color-16bit", m.both(m.remove(COLOR), m.image(f"color/{F}.png", np.zeros((H, W), np.uint16))), f"color/{F}.png", "validate"),
        Case("color-float-tiff", m.both(m.remove(COLOR), m.image(f"color/{F}.png", np.zeros((H, W), np.float32), "TIFF")), f"color/{F}.png", "validate"),
        Case("color-huge-header", m.both(m.remove(COLOR), m.put(f"color/{F}.png", _png_header(100000, 100000))), f"color/{F}.png", "validate"),
        Case("color-text-named-jpg", m.put_text(COLOR, "not an image\n"), COLOR, "validate"),
        Case("color-grey-jpeg", m.image(COLOR, np.full((H, W), 128, np.uint8), "JPEG"), None),
        Case("color-png-and-jpg", m.image(f"color/{F}.png", np.zeros((H, W, 3), np.uint8)), f"color/{F}", "construct"),
    ]  # fmt: skip


def _png_header(w: int, h: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _poses() -> list:
    def scaled(p):
        p[:3, :3] *= 2
        return p

    def sheared(p):
        p[0, 1] += 0.3
        return p

    def reflected(p):
        p[:3, 0] *= -1
        return p

    def projective(p):
        p[3] = (0.1, 0, 0, 1)
        return p

    def at(value):
        def change(p):
            p[0, 3] = value
            return p

        return change

    def rows(n):
        return lambda p: p[:n]

    return _files(POSE, what_first=True) + [
        Case("pose-missing", m.remove(POSE), POSE, "construct"),
        Case("pose-3x3", m.set_pose(F, lambda p: p[:3, :3]), POSE, "construct"),
        Case("pose-3-rows", m.set_pose(F, rows(3)), POSE, "construct"),
        Case("pose-nan", m.set_pose(F, at(np.nan)), POSE, "construct"),
        Case("pose-inf", m.set_pose(F, at(np.inf)), POSE, "construct"),
        Case("pose-1e30", m.set_pose(F, at(1e30)), POSE, "construct"),
        Case("pose-1e300", m.set_pose(F, at(1e300)), POSE, "construct"),
        Case("pose-outlier-1e4", m.set_pose(F, at(1e4)), POSE, "validate"),
        Case("pose-scaled-rotation", m.set_pose(F, scaled), POSE, "construct"),
        Case("pose-shear", m.set_pose(F, sheared), POSE, "construct"),
        Case("pose-reflection", m.set_pose(F, reflected), POSE, "construct"),
        Case("pose-projective-row", m.set_pose(F, projective), POSE, "construct"),
        Case("pose-zero-rotation", m.set_pose(F, lambda p: p * np.diag([0, 0, 0, 1.0])), POSE, "construct"),
        Case("pose-words", m.put_text(POSE, "one two three four\n" * 4), POSE, "construct"),
        Case("pose-non-utf8", m.put(POSE, b"\xff\xfe\x00 1 0 0 0\n" * 4), POSE, "construct"),
        Case("pose-huge-file", m.put_text(POSE, "1 0 0 0\n" * 20000), POSE, "construct"),
        Case("poses-all-at-one-point", m.both(*(m.set_pose(n, lambda p: np.eye(4)) for n in m.FRAMES)), "pose", "validate"),
        Case("pose-few-decimals", m.set_pose(F, lambda p: np.round(p, 4)), None),
    ]  # fmt: skip


def _intrinsics() -> list:
    def entry(i, j, v):
        def change(k):
            k[i, j] = v
            return k

        return change

    return _files(K, what_first=True) + [
        Case("intrinsics-missing", m.remove(K), K, "construct"),
        Case("intrinsics-negative-fx", m.set_intrinsics(entry(0, 0, -40.0)), K, "construct"),
        Case("intrinsics-zero-fy", m.set_intrinsics(entry(1, 1, 0.0)), K, "construct"),
        Case("intrinsics-cx-far-outside", m.set_intrinsics(entry(0, 2, 5000.0)), K, "construct"),
        Case("intrinsics-cy-negative-far", m.set_intrinsics(entry(1, 2, -500.0)), K, "construct"),
        Case("intrinsics-projective-row", m.set_intrinsics(entry(2, 0, 0.5)), K, "construct"),
        Case("intrinsics-nan", m.set_intrinsics(entry(0, 0, np.nan)), K, "construct"),
        Case("intrinsics-3x3", m.set_intrinsics(lambda k: k[:3, :3]), K, "construct"),
        Case("intrinsics-principal-point-off-centre", m.set_intrinsics(entry(0, 2, 70.0)), None),
    ]  # fmt: skip


def _splits() -> list:
    S = "splits.json"
    train = ["1", "2", "3", "5"]
    return _files(S, what_first=True) + [
        Case("splits-train-string", m.put_json(S, {"train": "1235", "test": ["0"]}), S, "construct"),
        Case("splits-test-string", m.put_json(S, {"train": train, "test": "04"}), S, "construct"),
        Case("splits-list", m.put_json(S, [train, ["0"]]), S, "construct"),
        Case("splits-null", m.put_text(S, "null"), S, "construct"),
        Case("splits-no-train", m.put_json(S, {"test": ["0"]}), S, "construct"),
        Case("splits-no-test", m.put_json(S, {"train": train}), S, "construct"),
        Case("splits-unknown-frame", m.put_json(S, {"train": ["1", "99"], "test": ["0"]}), S, "construct"),
        Case("splits-duplicate", m.put_json(S, {"train": ["1", "1", "2"], "test": ["0"]}), S, "construct"),
        Case("splits-empty-train", m.put_json(S, {"train": [], "test": ["0"]}), S, "construct"),
        Case("splits-floats", m.put_json(S, {"train": [1.0, 2.0], "test": [0.0]}), S, "construct"),
        Case("splits-nested", m.put_json(S, {"train": [["1"]], "test": ["0"]}), S, "construct"),
        Case("splits-bools", m.put_json(S, {"train": [True], "test": ["0"]}), S, "construct"),
        Case("splits-invalid-json", m.put_text(S, '{"train": ["1",'), S, "construct"),
        Case("splits-non-utf8", m.put(S, b'{"train": ["\xff\xfe"], "test": []}'), S, "construct"),
        Case("splits-deep-nesting", m.put_text(S, "[" * 100000 + "]" * 100000), S, "construct"),
        Case("splits-huge-sparse", m.sparse_file(S, 65 << 20), S, "construct"),
        Case("splits-many-names", m.put_json(S, {"train": ["1"] * 1_100_000, "test": []}), S, "construct"),
        Case("splits-huge-integer", m.put_text(S, '{"train": [' + "9" * 5000 + '], "test": []}'), S, "construct"),
        Case("splits-val-for-test", m.put_json(S, {"train": train, "val": ["0", "4"]}), None),
        Case("splits-empty-test", m.put_json(S, {"train": train, "test": []}), None),
        Case("splits-integer-names", m.put_json(S, {"train": [1, 2, 3, 5], "test": [0, 4]}), None),
        Case("splits-utf8-bom", m.put(S, b"\xef\xbb\xbf" + b'{"train": ["1", "2"], "test": ["0"]}'), None),
        Case("splits-extra-keys", m.put_json(S, {"train": train, "test": ["0"], "notes": {"a": 1}}), None),
    ]  # fmt: skip


def _segmentation_data() -> list:
    J = "segmentation_data.json"
    return _files(J, what_first=True) + [
        Case("classes-1e6", m.edit_json(J, m._with("num_semantic_classes", 1e6)), J, "construct"),
        Case("classes-1e400", m.put_text(J, '{"num_semantic_classes": 1e400, "fg_classes": [4]}'), J, "construct"),
        Case("classes-nan", m.put_text(J, '{"num_semantic_classes": NaN, "fg_classes": [4]}'), J, "construct"),
        Case("classes-one", m.edit_json(J, m._with("num_semantic_classes", 1)), J, "construct"),
        Case("classes-negative", m.edit_json(J, m._with("num_semantic_classes", -5)), J, "construct"),
        Case("classes-string", m.edit_json(J, m._with("num_semantic_classes", "22")), J, "construct"),
        Case("classes-bool", m.edit_json(J, m._with("num_semantic_classes", True)), J, "construct"),
        Case("classes-fraction", m.edit_json(J, m._with("num_semantic_classes", 21.5)), J, "construct"),
        Case("classes-missing", m.edit_json(J, m._without("num_semantic_classes")), J, "construct"),
        Case("fg-missing", m.edit_json(J, m._without("fg_classes")), J, "construct"),
        Case("fg-out-of-range", m.edit_json(J, m._with("fg_classes", [4, 22])), J, "construct"),
        Case("fg-void", m.edit_json(J, m._with("fg_classes", [0, 4])), J, "construct"),
        Case("fg-negative", m.edit_json(J, m._with("fg_classes", [-1])), J, "construct"),
        Case("fg-string", m.edit_json(J, m._with("fg_classes", "4,5")), J, "construct"),
        Case("fg-duplicates", m.edit_json(J, m._with("fg_classes", [4, 4])), J, "construct"),
        Case("fg-nested", m.edit_json(J, m._with("fg_classes", [[4, 5]])), J, "construct"),
        Case("bg-out-of-range", m.edit_json(J, m._with("bg_classes", [1, 99])), J, "construct"),
        Case("class-names-short", m.edit_json(J, m._with("class_names", ["void", "wall"])), J, "construct"),
        Case("class-names-numbers", m.edit_json(J, m._with("class_names", list(range(22)))), J, "construct"),
        Case("segmentation-list", m.put_json(J, [22, [4]]), J, "construct"),
        Case("segmentation-invalid-json", m.put_text(J, "{"), J, "construct"),
        Case("fewer-classes-than-labels", m.edit_json(J, lambda d: {**d, "num_semantic_classes": 8, "fg_classes": [4, 5, 6], "bg_classes": None, "class_names": None}), "m2f_", "validate"),
        Case("other-class-set-31", m.both(m.edit_json(J, lambda d: {"num_semantic_classes": 31, "fg_classes": [4, 5]}), m.remove("m2f_probabilities")), None),
    ]  # fmt: skip


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_pickle(root: Path) -> None:
    (root / "segmentation_data.json").unlink()
    marker = root.parent / "PWNED"
    payload = {"num_semantic_classes": 22, "fg_classes": [4], "x": _Exploit(marker)}
    (root / "segmentation_data.pkl").write_bytes(pickle.dumps(payload))


def _pickles() -> list:
    P = "segmentation_data.pkl"
    x = [0]
    level1 = [1] * 1000
    level2 = [level1] * 1000
    deep: list = []
    cur = deep
    for _ in range(200):
        cur.append([])
        cur = cur[0]
    released = {
        "num_semantic_classes": 22,
        "fg_classes": np.array([4, 5, 6, 14, 15, 16, 17, 18, 20]),
        "bg_classes": [1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 19, 21],
        "m2f_instance_to_semantic": {7: np.int64(5), 8: 5},
    }
    reduce_ndarray = b"\x80\x04\x8c\x05numpy\x8c\x07ndarray\x93J\x00\x00\x00\x10\x85R."
    set_range = b"\x80\x04\x8c\x08builtins\x8c\x03set\x93\x8c\x08builtins\x8c\x05range\x93\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R\x85R."
    return [
        Case("pickle-hostile-os-system", _hostile_pickle, P, "construct"),
        Case("pickle-shared-10m-list", m.pickle_segmentation(lambda d: {**d, "x": [x] * 10_000_000}), P, "construct"),
        Case("pickle-nested-shared", m.pickle_segmentation(lambda d: {**d, "fg_classes": [level2] * 1000}), P, "construct"),
        Case("pickle-deep-nesting", m.pickle_segmentation(lambda d: {**d, "x": deep}), P, "construct"),
        Case("pickle-ndarray-call", m.pickle_segmentation(raw=reduce_ndarray), P, "construct"),
        Case("pickle-set-of-range", m.pickle_segmentation(raw=set_range), P, "construct"),
        Case("pickle-truncated", m.pickle_segmentation(raw=pickle.dumps(released)[:40]), P, "construct"),
        Case("pickle-garbage", m.pickle_segmentation(raw=b"\x00garbage" * 10), P, "construct"),
        Case("pickle-empty", m.pickle_segmentation(raw=b""), P, "construct"),
        Case("pickle-list", m.pickle_segmentation(obj=[22, [4]]), P, "construct"),
        Case("pickle-object-array-classes", m.pickle_segmentation(lambda d: {**d, "fg_classes": np.array([4, "x"], dtype=object)}), P, "construct"),
        Case("pickle-fifo", m.both(m.remove("segmentation_data.json"), m.make_fifo(P)), P, "construct"),
        Case("pickle-released-style", m.pickle_segmentation(obj=released), None),
    ]  # fmt: skip


def _labels() -> list:
    cases = []
    for folder in m.LABEL_FOLDERS:
        rel = f"{folder}/{F}.png"
        wide = (
            np.uint16
            if folder in ("m2f_instance", "m2f_notta_instance", "m2f_segments", "rs_instance", "depth")
            else np.uint8
        )
        cases += [
            Case(f"{rel}:dir", m.make_dir(rel), rel, "validate"),
            Case(f"{rel}:fifo", m.make_fifo(rel), rel, "validate"),
            Case(f"{rel}:empty", m.put(rel, b""), rel, "validate"),
            Case(f"{rel}:truncated", m.truncate(rel, 0.6), rel),
            Case(f"{rel}:corrupt", m.corrupt_middle(rel), rel),
            Case(f"{rel}:wrong-size", m.image(rel, np.zeros((H // 2, W // 2), wide)), rel, "validate"),
            Case(
                f"{rel}:rgb-channels-differ",
                m.image(
                    rel,
                    np.dstack(
                        [np.zeros((H, W), np.uint8), np.ones((H, W), np.uint8), np.zeros((H, W), np.uint8)]
                    ),
                ),
                rel,
            ),
            Case(f"{rel}:rgba", m.image(rel, np.zeros((H, W, 4), np.uint8)), rel, "validate"),
            Case(f"{rel}:float-tiff", m.image(rel, np.zeros((H, W), np.float32), "TIFF"), rel, "validate"),
            Case(f"{rel}:jpeg", m.image(rel, np.zeros((H, W), np.uint8), "JPEG"), rel, "validate"),
        ]
    required = ("m2f_semantics", "m2f_instance", "m2f_notta_semantics", "m2f_notta_instance")
    cases += [
        Case(f"{f}/{F}.png:missing", m.remove(f"{f}/{F}.png"), f"{f}/{F}.png", "validate") for f in required
    ]
    cases += [
        Case(f"{f}/{F}.png:missing-optional", m.remove(f"{f}/{F}.png"), None)
        for f in ("m2f_segments", "rs_semantics", "rs_instance", "depth")
    ]
    cases += [
        Case("m2f-class-id-30", m.edit_label(f"m2f_semantics/{F}.png", lambda a: np.full_like(a, 30)), f"m2f_semantics/{F}.png"),
        Case("notta-class-id-255", m.edit_label(f"m2f_notta_semantics/{F}.png", lambda a: np.full_like(a, 255)), f"m2f_notta_semantics/{F}.png"),
        Case("gt-class-id-99", m.edit_label(f"rs_semantics/{F}.png", lambda a: np.full_like(a, 99)), f"rs_semantics/{F}.png"),
        Case("m2f-16bit-class-300", m.image(f"m2f_semantics/{F}.png", np.full((H, W), 300, np.uint16)), f"m2f_semantics/{F}.png"),
        Case("m2f-semantics-rgb-equal-channels", m.edit_label(f"m2f_semantics/{F}.png", lambda a: np.dstack([a, a, a])), None),
        Case("m2f-semantics-16bit-in-range", m.edit_label(f"m2f_semantics/{F}.png", lambda a: a.astype(np.uint16)), None),
        Case("invalid-mask-wrong-size", m.image(f"invalid/{F}.jpg", np.zeros((10, 10), np.uint8), "JPEG"), f"invalid/{F}.jpg", "validate"),
        Case("invalid-mask-garbage", m.put(f"invalid/{F}.png", b"garbage"), f"invalid/{F}.png", "validate"),
        Case("invalid-mask-jpeg", m.image(f"invalid/{F}.jpg", np.zeros((H, W), np.uint8), "JPEG"), None),
    ]  # fmt: skip
    return cases


def _probabilities() -> list:
    def replace(key, fn):
        def change(arrays):
            arrays[key] = fn(arrays[key].astype(np.float32))
            return arrays

        return change

    def put_values(key, value, where=slice(0, 4)):
        def fn(a):
            a[where] = value
            return a

        return replace(key, fn)

    def drop(key):
        def change(arrays):
            del arrays[key]
            return arrays

        return change

    def resized(h, w):
        def change(arrays):
            p = np.full((h, w, C), 0.0, np.float32)
            p[..., 1] = 1.0
            return {"probability": p, "confidence": np.full((h, w), 0.9, np.float32)}

        return change

    def with_(key, value):
        def change(arrays):
            arrays[key] = value
            return arrays

        return change

    later = "m2f_probabilities/4.npz"  # a frame after FRAME (issue 12: NaN after frame 3)
    return _files(PROB) + [
        Case("prob-missing-probability", m.save_npz(PROB, drop("probability")), PROB, "validate"),
        Case("prob-missing-confidence", m.save_npz(PROB, drop("confidence")), PROB, "validate"),
        Case("prob-wrong-classes", m.save_npz(PROB, replace("probability", lambda a: a[..., :5])), PROB, "validate"),
        Case("prob-1d", m.save_npz(PROB, replace("probability", lambda a: a.ravel())), PROB, "validate"),
        Case("prob-wrong-size", m.save_npz(PROB, resized(10, 10)), PROB, "validate"),
        Case("prob-larger-than-image", m.save_npz(PROB, resized(96, 128)), PROB, "validate"),
        Case("prob-confidence-wrong-shape", m.save_npz(PROB, replace("confidence", lambda a: a[:10])), PROB, "validate"),
        Case("prob-notta-wrong-shape", m.save_npz(PROB, replace("confidence_notta", lambda a: a.T)), PROB, "validate"),
        Case("prob-int-dtype", m.save_npz(PROB, replace("probability", lambda a: a.astype(np.int32))), PROB, "validate"),
        Case("prob-bool-confidence", m.save_npz(PROB, replace("confidence", lambda a: a > 0.5)), PROB, "validate"),
        Case("prob-complex", m.save_npz(PROB, replace("probability", lambda a: a.astype(np.complex64))), PROB, "validate"),
        Case("prob-object-array", m.save_npz(PROB, with_("probability", np.array([{"a": 1}], dtype=object))), PROB, "validate"),
        Case("prob-nan-after-frame-3", m.save_npz(later, put_values("probability", np.nan)), later),
        Case("prob-inf", m.save_npz(PROB, put_values("probability", np.inf)), PROB),
        Case("prob-negative", m.save_npz(PROB, replace("probability", lambda a: a - 0.2)), PROB),
        Case("prob-sum-half", m.save_npz(PROB, replace("probability", lambda a: a * 0.5)), PROB),
        Case("prob-sum-two", m.save_npz(PROB, replace("probability", lambda a: a * 2.0)), PROB),
        Case("confidence-above-one", m.save_npz(PROB, put_values("confidence", 1.5)), PROB),
        Case("confidence-negative", m.save_npz(PROB, put_values("confidence", -0.5)), PROB),
        Case("confidence-nan", m.save_npz(PROB, put_values("confidence", np.nan)), PROB),
        Case("confidence-notta-nan", m.save_npz(PROB, put_values("confidence_notta", np.nan)), PROB),
        Case("prob-truncated-zip", m.truncate(PROB, 0.5), PROB, "validate"),
        Case("prob-huge-declared-shape", m.put(PROB, _npz_with_header("probability", (100000, 100000, C))), PROB, "validate"),
        Case("prob-void-pixels-all-zero", m.save_npz(PROB, put_values("probability", 0.0)), None),
        Case("prob-256x256-released", m.save_npz(PROB, resized(256, 256)), None),
        Case("prob-downscaled-same-aspect", m.save_npz(PROB, resized(24, 32)), None),
        Case("prob-float64", m.save_npz(PROB, replace("probability", lambda a: a.astype(np.float64))), None),
        Case("prob-no-notta", m.save_npz(PROB, drop("confidence_notta")), None),
    ]  # fmt: skip


def _npz_with_header(name: str, shape: tuple[int, ...]) -> bytes:
    """An .npz whose .npy header declares ``shape`` (float32) but holds 16 bytes of data."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{name}.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 16)
        zf.writestr("confidence.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 16)
    return buf.getvalue()


def all_cases() -> list:
    cases = (
        _structure() + _colour() + _poses() + _intrinsics() + _splits() + _segmentation_data()
        + _pickles() + _labels() + _probabilities()
    )  # fmt: skip
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    return cases
