"""Batch streams that a checkpoint can save: an endless stream of shuffled batches for loops
that count steps (:class:`EndlessBatches`), and a small loader stretched to a fixed number of
batches per epoch (:class:`CycledBatches`).

Each has ``state_dict()`` / ``load_state_dict()`` holding its shuffle generator and its
position, so a run resumed from a checkpoint sees exactly the batches an uninterrupted run
would have seen. (``tinygen.data.endless`` is a Python generator, whose place cannot be
saved; ``tinygen.data.CycledLoader`` restarts its count on every pass.)
"""

from __future__ import annotations

import numpy as np

from tinygen.data import DataLoader


class EndlessBatches:
    """Shuffled full minibatches, epoch after epoch: the batches of
    ``tinygen.data.endless(images, labels, batch_size, seed, device)``, resumable.

    Each epoch is a fresh permutation from one ``np.random.default_rng(seed)``; the last,
    partial batch of an epoch is dropped.

    Args:
        images: (N, ...) array; each batch becomes a Tensor on ``device``.
        labels: (N,) array, or None. Label batches stay NumPy arrays.
        batch_size: examples per batch, in [1, N].
        seed: seeds the shuffle generator.
        device: where the image batches live ("cpu" or "cuda").

    Example:
        >>> data = EndlessBatches(images, labels, batch_size=64, seed=0)
        >>> x, y = next(data)   # x: Tensor (64, ...), y: int64 (64,)
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None,
                 batch_size: int = 64, seed: int | None = None, device: str = "cpu"):
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= len(images):
            raise ValueError(f"EndlessBatches: batch_size must be an int in [1, "
                             f"{len(images)}], got {batch_size!r}")
        arrays = (images,) if labels is None else (images, labels)
        self.loader = DataLoader(*arrays, batch_size=batch_size, shuffle=True, drop_last=True,
                                 seed=seed, device=device)
        self.labelled = labels is not None
        self._epoch = None  # the running epoch's iterator over self.loader

    def __iter__(self) -> EndlessBatches:
        return self

    def __next__(self):
        batch = None
        while batch is None:
            if self._epoch is None:
                self._epoch = iter(self.loader)
            batch = next(self._epoch, None)
            if batch is None:  # the epoch ran out: the next one draws a new permutation
                self._epoch = None
        return (batch[0], batch[1].numpy()) if self.labelled else batch[0]

    def state_dict(self) -> dict:
        """The shuffle generator, this epoch's order, and the position in it."""
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Continue from what :meth:`state_dict` returned."""
        self.loader.load_state_dict(state)
        self._epoch = None


class CycledBatches:
    """A small loader run over and over for a fixed number of batches per epoch (a few
    labelled examples stretched to the length of an unlabelled epoch), resumable mid-epoch.

    Within one epoch the wrapped loader's passes run back to back; the last pass is cut where
    the count is reached, and the next epoch starts a fresh pass. The batches are those of
    ``tinygen.data.CycledLoader(loader, batches)``.

    Args:
        loader: a :class:`tinygen.data.DataLoader` (with ``state_dict``).
        batches: batches per epoch, >= 1.
    """

    def __init__(self, loader: DataLoader, batches: int):
        if not isinstance(batches, (int, np.integer)) or batches < 1:
            raise ValueError(f"CycledBatches: batches must be a positive int, got {batches!r}")
        self.loader, self.batches = loader, int(batches)
        self._produced = 0  # batches of the running epoch already given out
        self._resuming = False

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.batches

    def __iter__(self):
        if not (self._resuming and self._produced < self.batches):  # a new epoch
            if self._resuming:
                self._end_pass()
            self._produced = 0
        self._resuming = False
        while self._produced < self.batches:
            for batch in self.loader:
                # count before yielding: a checkpoint taken while the caller trains on this
                # batch must resume with the next one
                self._produced += 1
                yield batch
                if self._produced == self.batches:
                    break
        self._end_pass()

    def _end_pass(self) -> None:
        """Cut the wrapped loader's pass: its next one draws a fresh order (a resumed loader
        would otherwise continue the saved pass)."""
        self.loader.load_state_dict({**self.loader.state_dict(), "order": None})

    def state_dict(self) -> dict:
        """The wrapped loader's state and the count of this epoch's batches given out."""
        return {"loader": self.loader.state_dict(), "produced": self._produced}

    def load_state_dict(self, state: dict) -> None:
        """Continue from what :meth:`state_dict` returned."""
        self.loader.load_state_dict(state["loader"])
        self._produced = int(state["produced"])
        self._resuming = True
