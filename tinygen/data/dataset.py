"""PyTorch's dataset protocol: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``,
and ``default_collate``, which turns a list of examples into one batch.

A dataset is anything with ``__len__`` and ``__getitem__(i)``; :class:`DataLoader` batches
it. Arrays and TensorDatasets are batched by slicing every array at once, the rest example by
example through a collate function.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__len__`` and ``__getitem__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Examples along the first axis of several tensors (or arrays) of the same length.

    ``dataset[i]`` is the tuple ``(t[i] for t in tensors)``, as ``torch``'s TensorDataset.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        lengths = [len(t) for t in tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: tensors must have the same length (first "
                             f"axis), got {lengths}")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t))
                             for t in tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def arrays(self, index) -> tuple:
        """Every tensor's raw rows at ``index`` (an int array): a whole batch in one slice."""
        return tuple(t.data[index] for t in self.tensors)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths: Sequence, generator: np.random.Generator | None = None
                 ) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are counts adding up to ``len(dataset)``, or fractions adding up to 1 (the
    remainder goes round-robin to the first subsets, as in PyTorch). The permutation comes
    from ``generator``, or from tinygen's generator, so ``tinygen.manual_seed`` fixes it.
    """
    total = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(total * fraction)) for fraction in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(n) for n in lengths]
    if sum(counts) != total or any(n < 0 for n in counts):
        raise ValueError(f"random_split: lengths must be non-negative counts adding up to "
                         f"the dataset's {total} examples (or fractions adding up to 1), got "
                         f"{list(lengths)}")
    rng = generator if generator is not None else backend.get_generator("cpu")
    order = backend.to_numpy(rng.permutation(total)).tolist()
    cuts = np.cumsum([0, *counts])
    return [Subset(dataset, order[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def default_collate(examples: list):
    """One batch from a list of examples, as PyTorch's default_collate.

    Tensors and arrays are stacked along a new first axis; Python ints become an int64
    tensor and floats a float64 tensor; tuples, lists and dicts are collated field by field;
    anything else (strings) is returned as a list.
    """
    first = examples[0]
    if isinstance(first, Tensor):
        return Tensor(backend.get_array_module(first.data).stack([e.data for e in examples]))
    if isinstance(first, np.ndarray) or isinstance(first, np.generic):
        return Tensor(np.stack(examples))
    if isinstance(first, bool):
        return Tensor(np.array(examples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(examples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(examples, dtype=np.float64))
    if isinstance(first, dict):
        return {key: default_collate([e[key] for e in examples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(e) != len(first) for e in examples):
            raise ValueError("default_collate: every example must have the same number of "
                             f"fields, got {sorted({len(e) for e in examples})}")
        return tuple(default_collate(list(fields)) for fields in zip(*examples))
    return list(examples)
