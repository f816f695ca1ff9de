"""The training kit: checkpoints, run logging and the run's HTML report, image grids and
latent-space pictures, weights export, the shared CLI.

Everything a model file's visible training loop leans on, so that the model file holds only
its modules, its loss and the loop itself.
"""

from tinygen.train.atomic import atomic_write, remove_stale_temps
from tinygen.train.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointError,
    load_state,
    open_checkpoint,
    save_state,
)
from tinygen.train.cli import (
    RunPaused,
    add_model_flags,
    check_multiple,
    check_needs,
    check_range,
    finite_float,
    make_parser,
    non_negative_float,
    non_negative_int,
    parse_args,
    pause_point,
    positive_float,
    positive_int,
    quick_notice,
    script,
)
from tinygen.train.export import load_safetensors, save_safetensors
from tinygen.train.images import (
    make_grid,
    nearest_neighbours,
    save_captioned_grid,
    save_image_grid,
)
from tinygen.train.latent import (
    class_rows,
    latent_direction,
    latent_lattice,
    latent_paths,
    save_latent_scatter,
)
from tinygen.train.logging import (
    NonFiniteLossError,
    RunLogger,
    check_finite,
    finish_run,
    format_summary,
    plot_metrics,
    read_metrics,
    truncate_metrics,
)
from tinygen.train.report import line_chart, save_run_info, write_report

__all__ = [
    "CHECKPOINT_FILE", "Checkpoint", "CheckpointError", "NonFiniteLossError", "RunLogger",
    "RunPaused", "add_model_flags", "atomic_write", "check_finite", "check_multiple",
    "check_needs", "check_range", "class_rows", "finite_float", "finish_run", "format_summary",
    "latent_direction", "latent_lattice", "latent_paths", "line_chart", "load_safetensors",
    "load_state",
    "make_grid", "make_parser", "nearest_neighbours", "non_negative_float", "non_negative_int",
    "open_checkpoint", "parse_args", "pause_point", "plot_metrics", "positive_float",
    "positive_int", "quick_notice", "read_metrics", "remove_stale_temps", "save_captioned_grid",
    "save_image_grid", "save_latent_scatter", "save_run_info", "save_safetensors", "save_state",
    "script", "truncate_metrics", "write_report",
]
