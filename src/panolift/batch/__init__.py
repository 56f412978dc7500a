"""Many scenes at once: one Ray task per scene (train, resuming; render; score), skipping complete scenes,
and the table of the batch. Ray is optional (``pip install panolift[cluster]``) and imported only to run."""

from .cluster import INSTALL_HINT, ClusterConfig, import_ray, run_batch
from .jobs import RESULT_FILE, TASK_FILE, SceneJob, completed_result, lift_scene, plan_jobs, read_result
from .table import format_csv, format_markdown, table_rows, write_tables

__all__ = [
    "INSTALL_HINT",
    "RESULT_FILE",
    "TASK_FILE",
    "ClusterConfig",
    "SceneJob",
    "completed_result",
    "format_csv",
    "format_markdown",
    "import_ray",
    "lift_scene",
    "plan_jobs",
    "read_result",
    "run_batch",
    "table_rows",
    "write_tables",
]
