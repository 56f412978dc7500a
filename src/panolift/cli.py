"""The `panolift` command: subcommands (tyro). Console output and default devices are owned here and in
``panolift.commands``; library code only logs."""

from __future__ import annotations

import importlib
import logging
import sys

# name -> (module in panolift.commands, function). Modules import heavy dependencies inside functions so
# that `panolift --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "demo"),
    "info": ("info", "info"),
    "synth": ("synth", "synth"),
    "segment": ("segment", "segment"),
    "import": ("capture", "import_capture"),
    "train": ("train", "make_train_command"),
    "render": ("render", "render"),
    "eval": ("evaluate", "evaluate"),
    "edit": ("edit", "edit"),
    "export": ("export", "export"),
}


def preset_of(argv: list[str]) -> str:
    """The value of ``--preset`` in a `train` command line (the default preset when absent)."""
    from panolift.commands.train import DEFAULT_PRESET

    for i, arg in enumerate(argv):
        if arg == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--preset="):
            return arg.split("=", 1)[1]
    return DEFAULT_PRESET


def load_commands(argv: list[str]) -> dict:
    """Subcommand name -> function; `train` is made with the defaults of the preset on the command line."""
    funcs = {}
    for name, (module, attr) in COMMANDS.items():
        func = getattr(importlib.import_module(f"panolift.commands.{module}"), attr)
        if name == "train":
            func = func(preset_of(argv) if argv[:1] == ["train"] else "fast")
        funcs[name] = func
    return funcs


def main(argv: list[str] | None = None) -> None:
    import tyro

    from panolift.scene import SceneError

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("PIL", "matplotlib", "trimesh", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        funcs = load_commands(argv)
        tyro.extras.subcommand_cli_from_dict(funcs, args=argv, prog="panolift")
    except SceneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValueError as exc:
        if "unknown preset" not in str(exc):
            raise
        print(f"error: --preset: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
