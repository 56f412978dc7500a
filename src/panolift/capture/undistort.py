"""Camera models with lens distortion, and resampling of images into an ideal pinhole camera.

An output pixel (col, row) of the pinhole target has the continuous coordinates (col + 0.5, row + 0.5)
(the convention of COLMAP and of :func:`panolift.scene.generate_rays`). Its ray on the z = 1 plane is
x = K_t^-1 (u, v, 1); the source camera's distortion maps it to x_d, and u_s = K_s x_d is the source
position to sample (bilinearly). Only the forward distortion is needed, so no iterative inversion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

KINDS = ("pinhole", "radtan", "fisheye")


@dataclass(frozen=True)
class CameraModel:
    """A camera with an optional distortion model.

    kind: "pinhole" (no distortion); "radtan" (OpenCV/COLMAP radial-tangential: OPENCV, FULL_OPENCV,
    SIMPLE_RADIAL, RADIAL, nerfstudio OPENCV); "fisheye" (equidistant with polynomial theta distortion:
    OPENCV_FISHEYE, SIMPLE_RADIAL_FISHEYE, RADIAL_FISHEYE, FISHEYE).
    radial: radtan: coefficients of r², r⁴, r⁶, r⁸ in the numerator; fisheye: k1..k4 of theta², ..., theta⁸.
    radial_den: radtan only: coefficients of r², r⁴, r⁶ in the denominator (FULL_OPENCV's k4, k5, k6).
    tangential: radtan only: (p1, p2).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    kind: str = "pinhole"
    radial: tuple[float, ...] = ()
    radial_den: tuple[float, ...] = ()
    tangential: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown camera kind {self.kind!r}, expected one of {KINDS}")

    @property
    def K(self) -> np.ndarray:
        """3x3 pinhole intrinsics."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def is_distorted(self) -> bool:
        return self.kind == "fisheye" or any(self.radial) or any(self.radial_den) or any(self.tangential)

    def pinhole(self) -> CameraModel:
        """The same intrinsics without distortion."""
        return CameraModel(self.width, self.height, self.fx, self.fy, self.cx, self.cy)

    def resized(self, width: int, height: int) -> CameraModel:
        """The camera for the image resized to (width, height): f' = f W'/W, c' = c W'/W (and the same in y)."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=self.cx * sx,
            cy=self.cy * sy,
        )


def _poly(coeffs: tuple[float, ...], r2: np.ndarray) -> np.ndarray:
    """1 + c1 r2 + c2 r2² + ... (Horner)."""
    out = np.zeros_like(r2)
    for c in reversed(coeffs):
        out = (out + c) * r2
    return 1.0 + out


def distort_points(camera: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distorted normalised coordinates (x_d, y_d) of undistorted ones (x, y) on the z = 1 plane.

    radtan: r² = x² + y², a = (1 + k1 r² + k2 r⁴ + k3 r⁶ + k4 r⁸) / (1 + k4' r² + k5' r⁴ + k6' r⁶),
        x_d = a x + 2 p1 x y + p2 (r² + 2 x²),  y_d = a y + p1 (r² + 2 y²) + 2 p2 x y.
    fisheye: r = sqrt(x² + y²), theta = atan(r), theta_d = theta (1 + k1 theta² + ... + k4 theta⁸),
        (x_d, y_d) = theta_d / r · (x, y)   (and (x, y) itself as r -> 0).
    """
    r2 = x * x + y * y
    if camera.kind == "pinhole":
        return x, y
    if camera.kind == "radtan":
        a = _poly(camera.radial, r2) / _poly(camera.radial_den, r2)
        p1, p2 = camera.tangential
        xd = a * x + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = a * y + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return xd, yd
    r = np.sqrt(r2)
    theta = np.arctan(r)
    theta_d = theta * _poly(camera.radial, theta * theta)
    scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
    return scale * x, scale * y


def _monotonic_radius(camera: CameraModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where the distorted radius still grows with the undistorted radius along the ray.

    Beyond the first turning point a polynomial model folds back onto the image; pixels there would be
    sampled from the wrong place, so they are marked invalid.
    """
    if camera.kind == "pinhole":
        return np.ones(x.shape, dtype=bool)
    eps = 1e-4
    xd0, yd0 = distort_points(camera, x, y)
    xd1, yd1 = distort_points(camera, x * (1 + eps), y * (1 + eps))
    return np.hypot(xd1, yd1) > np.hypot(xd0, yd0)


def compute_undistort_maps(
    source: CameraModel, target: CameraModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source sampling positions for every target pixel: map_x, map_y (H_t, W_t) in array-index units
    (pixel centres at integers) and a validity mask (inside the source image, not folded)."""
    cols, rows = np.meshgrid(np.arange(target.width) + 0.5, np.arange(target.height) + 0.5)
    x = (cols - target.cx) / target.fx
    y = (rows - target.cy) / target.fy
    xd, yd = distort_points(source, x, y)
    map_x = source.fx * xd + source.cx - 0.5
    map_y = source.fy * yd + source.cy - 0.5
    valid = (
        (map_x >= -0.5)
        & (map_x <= source.width - 0.5)
        & (map_y >= -0.5)
        & (map_y <= source.height - 0.5)
        & _monotonic_radius(source, x, y)
    )
    return map_x, map_y, valid


def remap_bilinear(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear sampling image[map_y, map_x] with edge clamping: (H,W[,C]) -> (H_t,W_t[,C]) float32.

    out = (1-a)(1-b) I[y0,x0] + a(1-b) I[y0,x1] + (1-a) b I[y1,x0] + a b I[y1,x1],
    a = map_x - x0, b = map_y - y0, x0 = floor(map_x), y0 = floor(map_y).
    """
    h, w = image.shape[:2]
    mx = np.clip(map_x, 0.0, w - 1.0)
    my = np.clip(map_y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(mx).astype(np.int64), w - 2) if w > 1 else np.zeros(mx.shape, np.int64)
    y0 = np.minimum(np.floor(my).astype(np.int64), h - 2) if h > 1 else np.zeros(my.shape, np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    a, b = mx - x0, my - y0
    if image.ndim == 3:
        a, b = a[..., None], b[..., None]
    img = image.astype(np.float32)
    top = img[y0, x0] * (1 - a) + img[y0, x1] * a
    bottom = img[y1, x0] * (1 - a) + img[y1, x1] * a
    return (top * (1 - b) + bottom * b).astype(np.float32)


def needs_resampling(source: CameraModel, target: CameraModel) -> bool:
    """False when the source image already is the target image (same pinhole K and size)."""
    return source.is_distorted or source.size != target.size or not np.allclose(source.K, target.K, atol=1e-9)


def undistort_image(
    image: np.ndarray,  # (H, W, 3) uint8 in the source camera
    source: CameraModel,
    target: CameraModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample an image into a pinhole ``target`` camera (undistortion, new intrinsics, resizing).

    When the target is smaller than the source, the image is first resampled at the source's scale and
    then reduced with an area filter, so that downscaling does not alias. Returns the (H_t, W_t, 3) uint8
    image and an (H_t, W_t) bool mask of pixels that saw the source image.
    """
    if image.shape[:2] != (source.height, source.width):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]}, camera is {source.width}x{source.height}"
        )
    if not needs_resampling(source, target):
        return image, np.ones(image.shape[:2], dtype=bool)
    if not source.is_distorted and not needs_resampling(source.resized(*target.size), target):
        # a plain resize: PIL's area/Lanczos filters keep pixel-corner alignment, as resized() assumes
        return np.asarray(Image.fromarray(image).resize(target.size, Image.Resampling.LANCZOS)), np.ones(
            (target.height, target.width), dtype=bool
        )
    factor = max(1, int(np.floor(min(source.width / target.width, source.height / target.height))))
    work = target.resized(target.width * factor, target.height * factor)
    map_x, map_y, valid = compute_undistort_maps(source, work)
    out = remap_bilinear(image, map_x, map_y)
    out[~valid] = 0.0
    if factor > 1:
        out, valid = _reduce(out, valid, target.size)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), valid


def _reduce(image: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Area-filter an (H,W,3) float image and its validity mask down to (W', H') ``size``; an output pixel
    is valid only if every input pixel under it was."""
    small = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8)).resize(size, Image.Resampling.BOX)
    mask = Image.fromarray(valid.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    return np.asarray(small).astype(np.float32), np.asarray(mask) > 254
