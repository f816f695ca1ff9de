"""Mini-batches of in-memory arrays, shuffled reproducibly, delivered as Tensors on a device:
epoch by epoch (:class:`DataLoader`), endlessly (:func:`endless`), or a fixed number of
batches per epoch from a small set (:class:`CycledLoader`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.data import arguments
from tinygen.data.dataset import TensorDataset, default_collate
from tinygen.nn.checks import count, flag


class DataLoader:
    """Batches of a dataset, or of aligned arrays (images, labels, ...), along the first axis.

    As PyTorch's DataLoader: ``DataLoader(dataset, batch_size=64, shuffle=True)`` over any
    object with ``__len__`` and ``__getitem__`` (a :class:`TensorDataset`, a custom
    :class:`Dataset`), examples joined by ``collate_fn`` (default: :func:`default_collate`);
    ``loader.dataset`` is the dataset. Arrays given directly (``DataLoader(images, labels,
    ...)``) and TensorDatasets are batched by slicing every array at once.

    The shuffle order comes from the loader's own ``np.random.Generator``: from ``seed``, or
    ``generator``, or else drawn once from tinygen's generator, so ``tinygen.manual_seed``
    makes the batch order repeatable, and the model's own random draws do not move it.
    :meth:`state_dict` captures the generator and the position inside the current epoch, so
    a run resumed from a checkpoint sees exactly the batches it would have seen.

    Args:
        *data: one dataset, or NumPy arrays / Tensors of the same length.
        batch_size: examples per batch (PyTorch's default, 1).
        shuffle: a fresh permutation every epoch (else the stored order).
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        seed: seeds the shuffle generator.
        generator: a ``np.random.Generator`` for the shuffle (instead of ``seed``).
        collate_fn: turns a list of examples into a batch (datasets only).
        device: where the batch Tensors live ("cpu" or "cuda").
        num_workers, pin_memory: accepted for PyTorch programs; batches are always built in
            this process (NumPy slicing releases the GIL, and worker processes would copy
            the dataset), and there is no pinned host memory to use.

    Example:
        >>> loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
        >>> for x, y in loader:  # x, y: Tensors of 64 examples
        ...     pass
    """

    def __init__(self, *data, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 generator: np.random.Generator | None = None, collate_fn=None,
                 device: str = "cpu", num_workers: int = 0, pin_memory: bool = False):
        if not data:
            raise ValueError("DataLoader: expected a dataset or at least one array, got none")
        if len(data) == 1 and _is_dataset(data[0]):
            self.dataset = data[0]
        else:
            data = [arguments.rows("DataLoader", f"data[{i}] (a dataset or an array)", array)
                    for i, array in enumerate(data)]
            lengths = [len(array) for array in data]
            if len(set(lengths)) != 1:
                raise ValueError(f"DataLoader: arrays must have the same length, got {lengths}")
            self.dataset = TensorDataset(*data)
        self.batch_size = count("DataLoader", "batch_size", batch_size)
        count("DataLoader", "num_workers", num_workers, 0)
        flag("DataLoader", "pin_memory", pin_memory)
        self.shuffle = flag("DataLoader", "shuffle", shuffle)
        self.drop_last = flag("DataLoader", "drop_last", drop_last)
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be None or callable, got "
                            f"{type(collate_fn).__name__}")
        self.collate_fn = collate_fn
        self.device = arguments.device("DataLoader", device)
        arguments.seed("DataLoader", seed)
        arguments.generator("DataLoader", generator)
        if generator is None:
            if seed is None:  # follow tinygen.manual_seed, as PyTorch's loader does
                seed = int(backend.to_numpy(backend.get_generator("cpu").integers(2**62)))
            generator = np.random.default_rng(seed)
        self.generator = generator
        self._order: np.ndarray | None = None  # this epoch's example order, while it runs
        self._next_batch = 0
        self._resuming = False  # set by load_state_dict: the next epoch continues the saved one

    @property
    def num_examples(self) -> int:
        return len(self.dataset)

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
            yield self._batch(index)

    def _batch(self, index: np.ndarray):
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
            return tuple(Tensor(backend.to_device(rows, self.device))
                         for rows in self.dataset.arrays(index))
        collate = default_collate if self.collate_fn is None else self.collate_fn
        return _on_device(collate([self.dataset[int(i)] for i in index]), self.device)

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


def _is_dataset(value) -> bool:
    """A dataset object rather than an array: indexable and sized, and not array-like."""
    return (hasattr(value, "__getitem__") and hasattr(value, "__len__")
            and not isinstance(value, (np.ndarray, Tensor, list, tuple))
            and not hasattr(value, "__array__") and not hasattr(value, "__cuda_array_interface__"))


def _on_device(batch, device):
    """A collated batch with every Tensor moved to ``device`` (a no-op on the CPU)."""
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device)
    if isinstance(batch, tuple):
        return tuple(_on_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _on_device(item, device) for key, item in batch.items()}
    return batch


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
    images = arguments.rows("endless", "images", images)
    if labels is not None:
        labels = arguments.rows("endless", "labels", labels)
    if count("endless", "batch_size", batch_size) > len(images):
        raise ValueError(f"endless: batch_size must be an int in [1, {len(images)}], got "
                         f"{batch_size!r}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"endless: {len(images)} images but {len(labels)} labels")
    arguments.seed("endless", seed)
    device = arguments.device("endless", device)
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
        if not hasattr(loader, "__iter__") or isinstance(loader, (str, bytes)):
            raise TypeError(f"CycledLoader: loader must be an iterable of batches, got "
                            f"{type(loader).__name__}")
        self.loader, self.batches = loader, count("CycledLoader", "batches", batches)

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.batches

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        produced = 0
        while produced < self.batches:
            before = produced
            for batch in self.loader:
                yield batch
                produced += 1
                if produced == self.batches:
                    return
            if produced == before:  # an empty pass would loop forever
                raise ValueError("CycledLoader: loader yielded no batch in a whole pass; it "
                                 "must yield at least one")
