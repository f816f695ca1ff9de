"""Weights export to safetensors, with PyTorch's state_dict key names.

tinygen modules name their parameters and buffers as PyTorch does (``conv1.weight``,
``bn.running_mean``, ``layers.0.bias``), in PyTorch's layouts, so the file loads into a
PyTorch twin with ``safetensors.torch.load_file`` and ``load_state_dict`` unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_bytes
from safetensors.numpy import save as save_bytes

from tinygen import backend
from tinygen.train.checkpoint import CheckpointError, atomic_write


def save_safetensors(module, path: str | os.PathLike, metadata: dict[str, str] | None = None
                     ) -> Path:
    """Write ``module.state_dict()`` (parameters and buffers) to a safetensors file,
    atomically. ``metadata`` is stored in the header (str -> str)."""
    # asarray, not ascontiguousarray: the latter turns 0-d buffers (num_batches_tracked) 1-d
    tensors = {name: np.asarray(backend.to_numpy(array), order="C")
               for name, array in module.state_dict().items()}
    path = Path(path)
    with atomic_write(path) as file:
        file.write(save_bytes(tensors, metadata=metadata))
    return path


def load_safetensors(module, path: str | os.PathLike, strict: bool = True) -> tuple[list, list]:
    """Load a safetensors file into ``module`` (see ``Module.load_state_dict``).

    Returns:
        (missing keys, unexpected keys).

    Raises:
        CheckpointError: the file is missing, truncated or not safetensors.
        StateDictError: keys or shapes do not match the module.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"load_safetensors: file {str(path)!r} does not exist")
    try:
        tensors = load_bytes(path.read_bytes())
    except (SafetensorError, ValueError) as error:
        raise CheckpointError(f"load_safetensors: {str(path)!r} is corrupt or not a "
                              f"safetensors file: {error}") from error
    return module.load_state_dict(tensors, strict=strict)
