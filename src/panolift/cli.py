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
    "train": ("train", "train"),
    "render": ("render", "render"),
    "eval": ("evaluate", "evaluate"),
    "edit": ("edit", "edit"),
    "export": ("export", "export"),
}


def _load_commands() -> dict:
    return {
        name: getattr(importlib.import_module(f"panolift.commands.{module}"), attr)
        for name, (module, attr) in COMMANDS.items()
    }


def main(argv: list[str] | None = None) -> None:
    import tyro

    from panolift.scene import SceneError

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("PIL", "matplotlib", "trimesh", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    funcs = _load_commands()
    try:
        tyro.extras.subcommand_cli_from_dict(funcs, args=argv, prog="panolift")
    except SceneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
