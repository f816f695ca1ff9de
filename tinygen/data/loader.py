"""Mini-batches of in-memory arrays, shuffled reproducibly, delivered as Tensors on a device."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


class DataLoader:
    """Batches of aligned arrays (images, labels, ...) along their first axis.

    The shuffle order comes from the loader's own ``np.random.Generator``, so it is
    reproducible from ``seed`` and independent of the model's random draws (dropout, noise).
    :meth:`state_dict` captures the generator and the position inside the current epoch, so
    a run resumed from a checkpoint sees exactly the batches it would have seen.

    Args:
        *arrays: NumPy arrays with the same length; each batch holds one slice of each.
        batch_size: examples per batch.
        shuffle: a fresh permutation every epoch (else the stored order).
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        seed: seeds the shuffle generator (None: fresh entropy).
        device: where the batch Tensors live ("cpu" or "cuda").

    Example:
        >>> loader = DataLoader(images, labels, batch_size=64, shuffle=True, seed=0)
        >>> for x, y in loader:  # x, y: Tensors of 64 examples
        ...     pass
    """

    def __init__(self, *arrays: np.ndarray, batch_size: int = 64, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, device: str = "cpu"):
        if not arrays:
            raise ValueError("DataLoader: expected at least one array, got none")
        lengths = [len(array) for array in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"DataLoader: arrays must have the same length, got {lengths}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        self.arrays = tuple(np.asarray(array) for array in arrays)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = backend.check_device(device)
        self.generator = np.random.default_rng(seed)
        self._order: np.ndarray | None = None  # this epoch's example order, while it runs
        self._next_batch = 0
        self._resuming = False  # set by load_state_dict: the next epoch continues the saved one

    @property
    def num_examples(self) -> int:
        return len(self.arrays[0])

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.num_examples // self.batch_size
        return -(-self.num_examples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """One epoch; right after :meth:`load_state_dict`, the rest of the saved epoch."""
        if self._order is None or not self._resuming:
            self._order = (self.generator.permutation(self.num_examples) if self.shuffle
                           else np.arange(self.num_examples))
            self._next_batch = 0
        self._resuming = False
        while self._next_batch < len(self):
            start = self._next_batch * self.batch_size
            index = self._order[start:start + self.batch_size]
            # Advance before yielding: a checkpoint taken while the caller trains on this
            # batch must resume with the next one.
            self._next_batch += 1
            if self._next_batch == len(self):
                self._order = None
            yield tuple(Tensor(backend.to_device(array[index], self.device))
                        for array in self.arrays)

    def state_dict(self) -> dict:
        """The shuffle generator's state and the position in the current epoch."""
        return {
            "generator": self.generator.bit_generator.state,
            "order": None if self._order is None else self._order.copy(),
            "next_batch": self._next_batch,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        order = state["order"]
        if order is not None and len(order) != self.num_examples:
            raise ValueError(f"DataLoader.load_state_dict: saved order has {len(order)} "
                             f"examples, this loader has {self.num_examples}")
        self.generator.bit_generator.state = state["generator"]
        self._order = None if order is None else np.asarray(order, dtype=np.int64)
        self._next_batch = int(state["next_batch"])
        self._resuming = True
