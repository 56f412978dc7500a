"""How the CLI reports errors: bad input on one line (exit 2), Ctrl-C (130), a bug as a bug (1), --debug."""

from __future__ import annotations

from pathlib import Path

import pytest

import panolift.cli as cli
from panolift.errors import PanoliftError
from panolift.scene import SceneError, UnsafePickleError


def _fake_commands(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def info(path: Path, /) -> None:
        """Raise the error under test."""
        raise error

    def other(path: Path, /, device: str = "auto") -> None:
        """A command with a --device option."""

    monkeypatch.setattr(cli, "load_commands", lambda argv: {"info": info, "other": other})


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    return exc.value.code


@pytest.mark.parametrize(
    "error",
    [
        PanoliftError("scene/x.png: broken"),
        SceneError("scene/x.png: broken"),
        UnsafePickleError("scene/x.png: broken"),
        SceneError("scene/x.png: broken\n  and a second line"),
    ],
)
def test_input_errors_are_one_line_exit_2(error, monkeypatch, capsys) -> None:
    _fake_commands(monkeypatch, error)
    assert _run(["info", "x"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and err.startswith("error: scene/x.png: broken")
    assert "Traceback" not in err


def test_a_bug_is_reported_as_a_bug(monkeypatch, capsys) -> None:
    _fake_commands(monkeypatch, ZeroDivisionError("float division by zero"))
    assert _run(["info", "x"]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError: float division by zero" in err and "bug in panolift" in err
    assert "Traceback" not in err and "--debug" in err


def test_debug_shows_the_traceback_in_every_case(monkeypatch, capsys) -> None:
    for error, code in ((ZeroDivisionError("x"), 1), (SceneError("scene: bad"), 2)):
        _fake_commands(monkeypatch, error)
        assert _run(["info", "x", "--debug"]) == code
        assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_is_one_line_exit_130(monkeypatch, capsys) -> None:
    _fake_commands(monkeypatch, KeyboardInterrupt())
    assert _run(["info", "x"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


@pytest.mark.parametrize("value", ["foo", "cuda:99", "--device=nope"])
def test_bad_device_is_an_input_error(value, monkeypatch, capsys) -> None:
    _fake_commands(monkeypatch, ZeroDivisionError())
    import torch

    if value == "cuda:99" and torch.cuda.device_count() >= 100:
        pytest.skip("a machine with 100 GPUs")
    args = ["other", "x", value] if value.startswith("--") else ["other", "x", "--device", value]
    assert _run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device") and len(err.strip().splitlines()) == 1


def test_argument_errors_stay_tyro_s_clean_exit_2(monkeypatch, capsys) -> None:
    _fake_commands(monkeypatch, ZeroDivisionError())
    assert _run(["other", "x", "--no-such-option"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["images", "{src}", "{out}", "--every", "0"], "--every must be at least 1"),
        (["images", "{src}", "{out}", "--test-every", "1"], "--test-every must be at least 2"),
        (["images", "{src}", "{out}", "--max-size", "0"], "--max-size must be a positive"),
        (["images", "{src}", "{out}", "--camera-model", "FOO"], "--camera-model FOO"),
        (["images", "{src}", "{out}", "--min-registered", "2"], "--min-registered must lie in [0, 1]"),
        (["colmap", "{src}", "{src}", "{out}", "--scene-depth", "-1"], "--scene-depth must be 0"),
        (["nerfstudio", "{src}/t.json", "{out}", "--scale", "-1"], "--scale must be positive"),
    ],
)
def test_bad_import_options_fail_before_any_work(args, message, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    filled = [a.format(src=tmp_path, out=out) for a in args]
    assert _run(["import", *filled]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_eval_size_must_be_positive(tiny_scene, tmp_path, capsys) -> None:
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "semantics").symlink_to(
        tiny_scene / "rs_semantics"
    )  # the ground truth as prediction
    args = ["eval", str(tmp_path / "pred"), "--scene", str(tiny_scene), "--out", str(tmp_path / "out")]
    assert _run([*args, "--protocol", "panoptic-lifting", "--eval-size", "0", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --eval-size must be two positive integers")
