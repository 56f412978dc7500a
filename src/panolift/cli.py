"""The `panolift` command: subcommands (tyro). Console output and default devices are owned here and in
``panolift.commands``; library code only logs.

Errors: a :class:`~panolift.errors.PanoliftError` (the input is wrong) prints one line ``error: ...`` on
stderr and exits with status 2, like tyro's own argument errors; Ctrl-C exits with 130; anything else is a
bug in panolift, reported as such (exit 1). ``--debug`` anywhere on the command line adds the traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

from panolift.errors import PanoliftError

# name -> (module in panolift.commands, function). Modules import heavy dependencies inside functions so
# that `panolift --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "demo"),
    "info": ("info", "info"),
    "synth": ("synth", "synth"),
    "segment": ("segment", "segment"),
    "import": ("capture", "import_capture"),
    "train": ("train", "make_train_command"),
    "batch": ("batch", "make_batch_command"),
    "render": ("render", "render"),
    "eval": ("evaluate", "evaluate"),
    "edit": ("edit", "edit"),
    "export": ("export", "export"),
    "view": ("view", "view"),
}
PRESET_COMMANDS = ("train", "batch")
DESCRIPTION = (
    "Lift noisy 2D panoptic labels of posed photos into a 3D panoptic radiance field. Bad input ends a "
    "command with one line 'error: ...' (exit status 2); add --debug anywhere for a traceback."
)
EXIT_INPUT_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
BUG_REPORT = (
    "this is a bug in panolift, not a problem with your input: please report it with the command you ran "
    "and the output of the same command with --debug"
)


def option_value(argv: list[str], flag: str) -> str | None:
    """The value of ``flag`` (``--flag VALUE`` or ``--flag=VALUE``) in a command line, None when absent."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def preset_of(argv: list[str]) -> str:
    """The value of ``--preset`` in a `train` command line (the default preset when absent)."""
    from panolift.commands.train import DEFAULT_PRESET

    return option_value(argv, "--preset") or DEFAULT_PRESET


def iterations_of(argv: list[str]) -> int | None:
    """The value of ``--train.iterations`` in a command line (None when absent or not a whole number >= 1:
    the parser then reports it)."""
    value = option_value(argv, "--train.iterations")
    if value is None or not value.isdigit():
        return None
    return int(value) if int(value) >= 1 else None


def load_commands(argv: list[str]) -> dict:
    """Subcommand name -> function; `train` and `batch` are made with the defaults of the preset on the
    command line, its schedule over the command line's ``--train.iterations`` when given."""
    funcs = {}
    for name, (module, attr) in COMMANDS.items():
        func = getattr(importlib.import_module(f"panolift.commands.{module}"), attr)
        if name in PRESET_COMMANDS:  # made with the defaults of the preset on the command line
            mine = argv[:1] == [name]
            func = func(preset_of(argv) if mine else "fast", iterations_of(argv) if mine else None)
        funcs[name] = func
    return funcs


def one_line(text: str) -> str:
    """A message on one line (continuation lines joined with '; ')."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def check_device_option(args: list[str]) -> None:
    """``--device NAME`` must name a device torch knows and can use (checked before any work starts)."""
    for i, arg in enumerate(args):
        if arg == "--device" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--device="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value == "auto":
            continue
        import torch

        try:
            device = torch.device(value)
        except (RuntimeError, ValueError, TypeError):
            raise PanoliftError(
                f"--device {value}: not a device (use auto, cpu, cuda, cuda:1, ...)"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise PanoliftError(f"--device {value}: CUDA is not available here (torch {torch.__version__})")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise PanoliftError(f"--device {value}: only {torch.cuda.device_count()} CUDA device(s) here")


def main(argv: list[str] | None = None) -> None:
    import tyro

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("PIL", "matplotlib", "trimesh", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        funcs = load_commands(args)
        check_device_option(args)
        tyro.extras.subcommand_cli_from_dict(funcs, args=args, prog="panolift", description=DESCRIPTION)
    except PanoliftError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT_ERROR) from None
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # `panolift info SCENE | head`: the reader went away; nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(EXIT_BUG) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {one_line(exc)[:500]}", file=sys.stderr)
        print(BUG_REPORT + ("" if debug else " (--debug shows the traceback)"), file=sys.stderr)
        raise SystemExit(EXIT_BUG) from None


if __name__ == "__main__":
    main()
