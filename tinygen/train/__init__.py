"""The training kit: checkpoints, run logging, image grids, weights export, the shared CLI.

Everything a model file's visible training loop leans on, so that the model file holds only
its modules, its loss and the loop itself.
"""

from tinygen.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    load_state,
    save_state,
)
from tinygen.train.cli import CHECKPOINT_FILE, add_model_flags, make_parser, parse_args
from tinygen.train.export import load_safetensors, save_safetensors
from tinygen.train.images import make_grid, save_image_grid
from tinygen.train.logging import (
    NonFiniteLossError,
    RunLogger,
    check_finite,
    plot_metrics,
    read_metrics,
)

__all__ = [
    "CHECKPOINT_FILE", "Checkpoint", "CheckpointError", "NonFiniteLossError", "RunLogger",
    "add_model_flags", "atomic_write", "check_finite", "load_safetensors", "load_state",
    "make_grid", "make_parser", "parse_args", "plot_metrics", "read_metrics",
    "save_image_grid", "save_safetensors", "save_state",
]
