"""Embedding's kernels: the row lookup and its weight gradient, a scatter-free sum of the
looked-up positions' gradients into their rows. The wrapper, ``embedding``, with its argument
checks, is in ops/indexing.py beside the other index ops."""

from __future__ import annotations

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class Embedding(Function):
    """Rows of ``weight`` looked up by integer ``indices``: weight[indices]."""

    def __init__(self, padding_idx: int | None):
        self.padding_idx = padding_idx

    def forward(self, weight, indices):
        self.num_rows = weight.shape[0]
        self.save_for_backward(indices)
        # (*indices.shape) -> (*indices.shape, embedding_dim)
        return get_array_module(weight).take(weight, indices, axis=0)

    def backward(self, gy):
        # dL/dweight[r] = sum of gy over the positions that looked up row r (none for padding)
        (indices,) = self.saved_tensors
        return EmbeddingRowSum(self.num_rows, self.padding_idx).apply(gy, indices), None


# Duplicate ids are summed one layer at a time (the k-th occurrence of every id in layer k,
# so no layer writes a row twice), up to this many layers; ids repeated more often than this
# are rare and go to the scatter (np.add.at), which costs ~1.2 us per row against ~0.1 us per
# row in a layer (64x32 ids into 10000 rows: 0.25 ms against add.at's 2.5 ms).
_ROW_SUM_LAYERS = 8


class EmbeddingRowSum(Function):
    """zeros(num_rows, D) with each row of ``values`` (*indices.shape, D) added to the row its
    index names, repeats adding up; the padding row stays zero. Embedding's weight gradient,
    and the adjoint of its lookup."""

    def __init__(self, num_rows: int, padding_idx: int | None):
        self.num_rows = num_rows
        self.padding_idx = padding_idx

    def forward(self, values, indices):
        self.save_for_backward(indices)
        xp = get_array_module(values)
        width = values.shape[-1]
        # (*indices.shape) -> (M,), (*indices.shape, D) -> (M, D)
        ids = indices.reshape(-1)
        values = values.reshape(ids.size, width)
        out = xp.zeros((self.num_rows, width), dtype=values.dtype)
        if ids.size:
            order = xp.argsort(ids, kind="stable")
            ids = ids[order]
            # rank of each sorted id among its equals: its position minus its run's start
            new = xp.concatenate((xp.ones(1, dtype=bool), ids[1:] != ids[:-1]))
            starts = xp.flatnonzero(new)
            rank = xp.arange(ids.size) - starts[xp.cumsum(new) - 1]
            by_rank = xp.argsort(rank, kind="stable")
            counts = xp.bincount(rank).tolist()
            order, ids = order[by_rank], ids[by_rank]
            values = xp.take(values, order, axis=0)
            out[ids[:counts[0]]] = values[:counts[0]]
            begin = counts[0]
            for count in counts[1:_ROW_SUM_LAYERS]:
                rows = ids[begin:begin + count]
                out[rows] += values[begin:begin + count]
                begin += count
            if begin < ids.size:
                backend.scatter_add(out, ids[begin:], values[begin:])
        if self.padding_idx is not None:
            out[self.padding_idx] = 0
        return out

    def backward(self, gg):
        # the sum is linear; its adjoint looks the rows up again (padding positions get 0)
        (indices,) = self.saved_tensors
        looked_up = Embedding(None).apply(gg, indices)
        if self.padding_idx is None:
            return looked_up, None
        kept = (indices.data != self.padding_idx)[..., None].astype(gg.dtype)
        return looked_up * Tensor._from_array(kept), None
