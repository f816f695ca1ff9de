"""Mini-batches of in-memory arrays, shuffled reproducibly, delivered as Tensors on a device:
epoch by epoch (:class:`DataLoader`), endlessly (:func:`endless`), or a fixed number of
batches per epoch from a small set (:class:`CycledLoader`)."""

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


def endless(images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 64,
            seed: int | None = None, device: str = "cpu"
            ) -> Iterator[Tensor | tuple[Tensor, np.ndarray]]:
    """Shuffled full minibatches, epoch after epoch, for loops that count steps, not epochs.

    Each epoch is a fresh permutation from one ``np.random.default_rng(seed)``; the last,
    partial batch of an epoch is dropped. The batches are those of a ``DataLoader(images,
    batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)`` run again and again.

    Args:
        images: (N, ...) array; each batch becomes a Tensor on ``device``.
        labels: (N,) array, or None. The labels stay NumPy: a model embeds them or indexes
            with them, it never differentiates through them.
        batch_size: examples per batch, at most N.
        seed: seeds the shuffle generator (None: fresh entropy).
        device: where the image batches live ("cpu" or "cuda").

    Yields:
        x (batch_size, ...) when ``labels`` is None, else (x, labels (batch_size,)).
    """
    if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= len(images):
        raise ValueError(f"endless: batch_size must be an int in [1, {len(images)}], got "
                         f"{batch_size!r}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"endless: {len(images)} images but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = order[start:start + batch_size]
            x = Tensor(images[batch], device=device)
            yield x if labels is None else (x, labels[batch])


class CycledLoader:
    """A small loader run over and over for a fixed number of batches per epoch: a few
    labelled examples stretched to the length of an unlabelled epoch.

    Within one epoch of this loader the wrapped loader's epochs run back to back; the last of
    them is cut where the count is reached, and the next epoch starts a fresh one.

    Args:
        loader: a :class:`DataLoader` (or any iterable of batches) that yields at least one
            batch per pass.
        batches: batches per epoch of this loader.
    """

    def __init__(self, loader: DataLoader, batches: int):
        if not isinstance(batches, (int, np.integer)) or batches < 1:
            raise ValueError(f"CycledLoader: batches must be a positive int, got {batches!r}")
        self.loader, self.batches = loader, batches

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.batches

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        produced = 0
        while produced < self.batches:
            for batch in self.loader:
                yield batch
                produced += 1
                if produced == self.batches:
                    return
