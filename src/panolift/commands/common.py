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


def set_threads(threads: int, **tuner_options):
    """torch's intra-op CPU threads: a fixed count, or with 0 a :class:`~panolift.lift.threads.ThreadTuner`
    (returned, made with ``tuner_options``) that picks the count by timing the work as it runs (steady
    when other jobs share the CPUs). Returns None for a fixed count."""
    if threads < 0:
        from panolift.errors import OptionError

        raise OptionError(f"--threads {threads}: give a count of CPU threads, or 0 to choose automatically")
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        return None
    from panolift.lift.threads import ThreadTuner

    return ThreadTuner(**tuner_options)
