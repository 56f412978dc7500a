"""panolift: lift noisy 2D panoptic labels into a 3D-consistent panoptic radiance field."""

__version__ = "0.1.0"
