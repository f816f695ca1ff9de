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

    owned_grads = (0,)  # EmbeddingRowSum's new table (a 10000 x 128 copy saved per step)

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


# Repeated ids are summed in layers instead of a scatter. Layer by layer, each position still
# left writes itself into a slot per row and reads the slot back: the one position per id
# that reads itself back (whichever write landed) is that id's representative in this layer,
# so a layer's fancy-indexed store (or +=) never touches a row twice. Ids repeated more often
# than there are layers are rare in a batch of a large vocabulary; their last repeats go to
# the scatter (np.add.at, ~1.2 us a row against ~0.1 us in a layer). Weight gradient of
# 64x32 random ids into 10000x128, one thread, min of 60: np.add.at 2.5 ms, every id sorted
# into layers by its rank 0.22 ms, representatives 0.17 ms. (Few distinct ids, e.g. 50 ids
# 41 times each, stay at ~2.1 ms: add.reduceat over sorted runs did them in 0.43 ms, but
# tests/data/cupy_names.txt does not list CuPy's ufunc methods yet.)
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
        # the positions not yet added; the padding row's (often most of a padded batch) never
        if self.padding_idx is None:
            left = xp.arange(ids.size)
        else:
            left = xp.flatnonzero(ids != self.padding_idx)
        slot = xp.empty(self.num_rows, dtype=left.dtype)
        for layer in range(_ROW_SUM_LAYERS):
            if not left.size:
                break
            rows = ids[left]
            slot[rows] = left
            chosen = slot[rows] == left  # one position per distinct id left
            picked = left[chosen]
            if layer:
                out[rows[chosen]] += xp.take(values, picked, axis=0)
            else:
                out[rows[chosen]] = xp.take(values, picked, axis=0)
            left = left[~chosen]
        if left.size:
            backend.scatter_add(out, ids[left], xp.take(values, left, axis=0))
        return out

    def backward(self, gg):
        # the sum is linear; its adjoint looks the rows up again (padding positions get 0)
        (indices,) = self.saved_tensors
        looked_up = Embedding(None).apply(gg, indices)
        if self.padding_idx is None:
            return looked_up, None
        kept = (indices.data != self.padding_idx)[..., None].astype(gg.dtype)
        return looked_up * Tensor._from_array(kept), None
