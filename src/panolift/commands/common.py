"""What every command shares: choosing the device and the CPU threads."""

from __future__ import annotations


def pick_device(device: str):
    """ "auto" -> cuda when available, else cpu; anything else is passed to torch.device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        from panolift.scene import SceneError

        raise SceneError(f"--device {device!r}: {exc}") from None


def set_threads(threads: int) -> None:
    """torch's intra-op CPU threads (0: torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
