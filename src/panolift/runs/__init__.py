"""Run folders: run.json, checkpoints, training into a folder (resumable, locked), loading (trained and
edited runs), edited runs, render outputs and exports. Every command that reads or writes a run goes
through here; every reader validates what it reads."""

from .checkpoints import latest_checkpoint, read_checkpoint, write_checkpoint
from .checks import check_against_inputs
from .edited import create_edited_run, load_edited_run, load_run, source_run_dir
from .exporting import ExportResult, export_run
from .folder import RunInfo, is_edited_run, read_edit_list, read_run_info, scene_fingerprint
from .loaded import LoadedRun, load_trained_run, training_rays
from .regions import (
    describe_instances,
    find_run_regions,
    instance_table_of_run,
    resolve_region_settings,
    surface_density_of_run,
)
from .rendering import compose_strip, read_trajectory, render_run, resolve_prediction
from .training import TrainingRun, train_run

__all__ = [
    "ExportResult",
    "LoadedRun",
    "RunInfo",
    "TrainingRun",
    "check_against_inputs",
    "compose_strip",
    "create_edited_run",
    "describe_instances",
    "export_run",
    "find_run_regions",
    "instance_table_of_run",
    "is_edited_run",
    "latest_checkpoint",
    "load_edited_run",
    "load_run",
    "load_trained_run",
    "read_checkpoint",
    "read_edit_list",
    "read_run_info",
    "read_trajectory",
    "render_run",
    "resolve_prediction",
    "resolve_region_settings",
    "scene_fingerprint",
    "source_run_dir",
    "surface_density_of_run",
    "train_run",
    "training_rays",
    "write_checkpoint",
]
