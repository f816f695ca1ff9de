"""The raw-array passes that batch norm (``normalization.py``) and layer norm
(``normalization_layer.py``) are made of: blocks across threads, per-channel operands laid
out for NumPy's contiguous loops, and per-channel reductions.

A normalization is memory-bound: a handful of elementwise passes and reductions over arrays
of x's size. A large pass runs as two blocks (of the batch, or of layer norm's rows), on two
threads where NumPy may use two: NumPy releases the GIL inside einsum and ufunc loops, as
PyTorch runs these kernels on its intra-op threads. The blocks depend on the input's size
only, never on the thread count, so that a sum adds its partial sums in the same order and one
and two threads give the same bits.

:class:`AffineNormalization` is what the two fused ops share around those passes: an input x
followed by an optional weight and bias, and the gradients handed back in that order.
"""

from __future__ import annotations

import math

from tinygen.autograd.function import Function
from tinygen.backend import blas_threads, even_blocks, run_blocks

#: A pass over at least this many elements runs as two blocks. Below it a second thread's
#: hand-off (tens of µs) costs more than it saves: a (64, 1024) float32 layer norm takes
#: about 0.2 ms forward and backward on one thread.
PARALLEL_MIN_SIZE = 1 << 17

#: Per-channel values are laid out at every position (:func:`by_position`) for a batch of at
#: least this many samples; each costs 1/N of a pass to make.
EXPAND_MIN_BATCH = 8


def in_blocks(work, length: int, size: int, array) -> list:
    """``work(low, high)`` over blocks of ``range(length)`` (the batch, or rows): two blocks
    when the pass touches ``size`` elements, at least PARALLEL_MIN_SIZE (on two threads when
    NumPy may use two, for ``array``'s device), else one; the results in block order."""
    blocks = even_blocks(length, 2 if size >= PARALLEL_MIN_SIZE and length > 1 else 1)
    if len(blocks) > 1 and blas_threads(array) > 1:
        return run_blocks(work, blocks)
    return [work(*block) for block in blocks]


def block_sum(parts: list):
    """The sum of the blocks' partial sums, in block order."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def by_channel(array):
    """A (N, C, L) view with every value of a channel in axes 0 and 2."""
    # (N, C, *spatial) -> (N, C, prod(spatial)); (N, C) -> (N, C, 1)
    return array.reshape(array.shape[0], array.shape[1], math.prod(array.shape[2:]))


def by_position(xp, values, batch: int, positions: int):
    """(C,) -> an operand of (n, C, L) runs, one value a channel. With a batch of at least
    EXPAND_MIN_BATCH samples, (C, L): each channel's value at each of its positions,
    contiguous, so that an operation with it is one contiguous loop a sample (NumPy's fast
    path), where a (C, 1) operand makes n*C loops of L: BatchNorm2d forward and backward,
    float32, one thread, 11.2 ms against 13.5 on (64, 64, 32, 32) and 2.3 against 3.2 on
    (64, 256, 8, 8). Laying it out costs 1/N of a pass, so a smaller batch (instance and
    group norm's single sample of many channels) gets the (C, 1) view."""
    if batch < EXPAND_MIN_BATCH or positions == 1:
        return values[:, None]  # (C,) -> (C, 1)
    return xp.repeat(values, positions).reshape(values.shape[0], positions)


def channel_sum(xp, a3):
    """(N, C, L) -> (C,): per-row sums first, so float32 accumulates over short runs."""
    return xp.einsum("ncl->nc", a3).sum(axis=0)


def channel_dot(xp, a3, b3):
    """(N, C, L) x (N, C, L) -> (C,): sum of a*b per channel, without a product array."""
    return xp.einsum("ncl,ncl->nc", a3, b3).sum(axis=0)


class AffineNormalization(Function):
    """A fused normalization's inputs: x, then the weight and the bias when they are given
    (``has_weight``, ``has_bias``, set by the subclass's constructor)."""

    has_weight = has_bias = False

    def _params(self, params):
        """(weight, bias) from the inputs after x, None for one not given."""
        weight = params[0] if self.has_weight else None
        bias = params[-1] if self.has_bias else None
        return weight, bias

    def _wanted(self):
        """Whether the gradient of x, of the weight and of the bias is needed."""
        wants_weight = self.has_weight and self.needs_input_grad[1]
        wants_bias = self.has_bias and self.needs_input_grad[-1]
        return self.needs_input_grad[0], wants_weight, wants_bias

    def _gradients(self, gx, g_weight, g_bias) -> tuple:
        """The gradients in the inputs' order, without those of a weight or bias not given."""
        grads = [gx]
        if self.has_weight:
            grads.append(g_weight)
        if self.has_bias:
            grads.append(g_bias)
        return tuple(grads)
