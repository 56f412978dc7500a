"""Checkpoint files: a full disk, the order of step files, configuration ranges of new and read runs."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from panolift.config import PRESETS, tiny_config
from panolift.errors import OptionError
from panolift.runs import TrainingRun, latest_checkpoint, write_checkpoint
from panolift.runs.checkpoints import checkpoint_files
from panolift.runs.validate import CONFIG_RANGES, check_config, config_problems
from panolift.scene import SceneError


def test_a_full_disk_is_an_error_that_names_the_checkpoint_still_intact(tmp_path, monkeypatch):
    import panolift.runs.checkpoints as checkpoints

    run = tmp_path / "run"
    write_checkpoint(run, {"step": 4}, {"x": torch.zeros(3)})

    def disk_full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", disk_full)
    with pytest.raises(SceneError) as info:
        write_checkpoint(run, {"step": 8}, {"x": torch.zeros(3)})
    message = str(info.value)
    assert "step_000008.safetensors: cannot write checkpoint (the disk is full)" in message
    assert "the last complete checkpoint is" in message and "step_000004.safetensors" in message
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.json",
        "step_000004.safetensors",
    ]
    assert latest_checkpoint(run).name == "step_000004.safetensors"


def test_step_files_are_ordered_by_step_and_pruned_to_keep(tmp_path):
    run = tmp_path / "run"
    for step in (999_999, 1_000_000, 2):
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run / "checkpoints" / f"step_{step:06d}.safetensors").write_bytes(b"x")
    names = [p.name for p in checkpoint_files(run)]
    assert names == ["step_000002.safetensors", "step_999999.safetensors", "step_1000000.safetensors"]
    assert latest_checkpoint(run).name == "step_1000000.safetensors"  # no latest.json: the highest step
    write_checkpoint(run, {"step": 1_000_004}, {"x": torch.zeros(1)}, keep=2)
    names = [p.name for p in checkpoint_files(run)]
    assert names == ["step_1000000.safetensors", "step_1000004.safetensors"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_in_range(preset):
    assert config_problems(PRESETS[preset]()) == []


def test_the_range_table_names_fields_of_the_config():
    config = PRESETS["tiny"]()
    assert [key for key in CONFIG_RANGES if not hasattr(getattr(config, key[0]), key[1])] == []


def test_a_negative_geometry_decay_is_refused():
    config = tiny_config()
    config.train.lr_decay_geometry = -0.5
    assert config_problems(config) == [("train.lr_decay_geometry", -0.5, "at least 0")]


def test_a_class_needs_at_least_one_view_to_be_lifted():
    config = tiny_config()
    config.loss.min_class_views = 0
    assert config_problems(config) == [("loss.min_class_views", 0, "at least 1")]


def test_an_option_out_of_range_is_an_option_error_before_anything_is_written(tiny_scene, tmp_path):
    config = tiny_config()
    config.train.checkpoint_every = 0
    with pytest.raises(OptionError, match=r"--train.checkpoint-every 0: must be at least 1"):
        TrainingRun(tiny_scene, tmp_path / "run", config)
    assert not (tmp_path / "run").exists()
    config = tiny_config()
    config.render.step_ratio = float("nan")
    with pytest.raises(SceneError, match=r"run.json: config field render.step_ratio is nan"):
        check_config(config, "run.json")


def test_an_unknown_image_precision_is_refused():
    config = tiny_config()
    config.render.image_precision = "half"
    assert config_problems(config) == [("render.image_precision", "half", "one of auto, float32, bfloat16")]
