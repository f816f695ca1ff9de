"""PixelRNN layers (van den Oord et al., 2016): the Row LSTM and the Diagonal BiLSTM.

Both map an (N, C, H, W) feature map to (N, hidden, H, W) hidden states, one LSTM cell per
pixel, and both are causal in raster order *given* an input that is: the state at pixel
(i, j) depends on input pixels at or before (i, j) only (the pixel itself included, as with
a mask-B convolution). A model therefore puts a mask-A convolution before the first of them.

- :class:`RowLSTM` runs row by row. Its input-to-state part is a 1 x k convolution along the
  row, masked (B) to the pixels at or left of j; its state-to-state part is an unmasked 1 x k
  convolution over the previous row's hidden states. The receptive field is a triangle above
  the pixel (it also reaches previous-row pixels to the right, which lie in the past).
- :class:`DiagonalBiLSTM` runs one :class:`DiagonalLSTM` per direction along the diagonals
  of the skewed map. Each cell reads the pixel's input (a 1 x 1 convolution) and the states
  above and to the left (a 2 x 1 convolution in skewed coordinates), so its receptive field
  is the whole past. The right-to-left direction, run on the flipped map, would see pixels to
  the right on the current row, so its output is shifted down one row before the two add.

The cell is the fused :func:`tinygen.nn.functional.lstm_cell` (gates i, f, g, o). Residual
connections belong to the model around each layer (x + 1x1 conv of the states), as in the
paper. Each layer exposes the single step its forward repeats, so that a sampler can carry
the state pixel by pixel (or row by row) and compute the same numbers as the forward.
"""

from __future__ import annotations

import tinygen.nn.functional as F
from tinygen.autograd.creation import zeros
from tinygen.autograd.ops import (
    concatenate,
    flip,
    getitem,
    pad,
    permute,
    reshape,
    split,
    stack,
    transpose,
)
from tinygen.autograd.ops.recurrent import row_conv
from tinygen.autograd.ops.skew import skew, unskew
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import check_input, count
from tinygen.nn.convolution import Conv2d, MaskedConv2d
from tinygen.nn.module import Module


def _check_map(layer: str, x: Tensor, channels: int, like: Tensor) -> None:
    check_input(layer, x, (4,), like=like)
    if x.shape[1] != channels or 0 in x.shape:
        raise ValueError(f"{layer}: expected a non-empty (N, {channels}, H, W) input, got shape "
                         f"{x.shape}")


# --------------------------------------------------------------------------- Row LSTM
class RowLSTM(Module):
    """Row LSTM: (N, in_channels, H, W) -> (N, hidden_size, H, W), one row per step.

    Args:
        in_channels: input feature channels.
        hidden_size: LSTM state channels h (the gates have 4h).
        kernel_size: k, the odd width of both 1 x k convolutions.
    """

    def __init__(self, in_channels: int, hidden_size: int, kernel_size: int = 3):
        self.in_channels = count("RowLSTM", "in_channels", in_channels)
        self.hidden_size = count("RowLSTM", "hidden_size", hidden_size)
        if count("RowLSTM", "kernel_size", kernel_size) % 2 == 0:
            raise ValueError(f"RowLSTM: kernel_size must be odd, got {kernel_size}")
        self.kernel_size = kernel_size
        gates = 4 * hidden_size
        self.input_to_state = MaskedConv2d(in_channels, gates, (1, kernel_size), mask_type="B")
        # the gates' one bias lives in input_to_state, computed for the whole map at once
        self.state_to_state = Conv2d(hidden_size, gates, (1, kernel_size),
                                     padding=(0, kernel_size // 2), bias=False)

    def initial_state(self, batch: int, width: int, like: Tensor):
        """Zero states of the row above the image: h (N, W, hidden), c (N*W, hidden)."""
        h = zeros(batch, width, self.hidden_size, dtype=like.dtype, device=like.device)
        c = zeros(batch * width, self.hidden_size, dtype=like.dtype, device=like.device)
        return h, c

    def row_gates(self, x: Tensor) -> Tensor:
        """The masked input-to-state convolution of a map, as one (N*W, 4h) slab per row.

        Computed as one matmul on the map laid out channels last, whose result is already
        the rows' cell layout: as a conv, it would need an im2col and a copy to that layout,
        and its backward a strided gradient (measured at half a training step).

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (H*N*W, 4h): row i's cells, pixel (n, j) at i*N*W + n*W + j.
        """
        conv, reach = self.input_to_state, self.kernel_size // 2
        # mask B keeps the taps at and left of the centre, 0..reach, and zeroes the rest:
        # (4h, C, 1, k) -> (4h, C, reach+1) -> (reach+1, C, 4h) -> ((reach+1)*C, 4h)
        kernel = permute(getitem(conv.weight, (slice(None), slice(None), 0,
                                               slice(0, reach + 1))), (2, 1, 0))
        kernel = reshape(kernel, (-1, 4 * self.hidden_size))
        # (N, C, H, W) -> (H, N, W, C), a view: row_conv gathers the taps from any strides.
        # All reach+1 taps lie at or left of the pixel, the last on it: left = reach
        return row_conv(permute(x, (2, 0, 3, 1)), kernel, conv.bias, left=reach)

    def state_kernel(self) -> Tensor:
        """The 1 x k state-to-state kernel as a (k*h, 4h) matrix for k neighbours' h."""
        hidden, width = self.hidden_size, self.kernel_size
        # (4h, h, 1, k) -> (4h, h, k) -> (k, h, 4h) -> (k*h, 4h); the last reshape copies, and
        # a contiguous matrix keeps the matmuls on BLAS
        kernel = permute(reshape(self.state_to_state.weight, (4 * hidden, hidden, width)),
                         (2, 1, 0))
        return reshape(kernel, (width * hidden, 4 * hidden))

    def step(self, row_gates: Tensor, state, kernel: Tensor | None = None):
        """One row of the recurrence, the row's pixels forming one batch of cells.

        Args:
            row_gates: (N*W, 4h), this row's slab of :meth:`row_gates`.
            state: (h, c) of the row above: h (N, W, h), c (N*W, h).
            kernel: :meth:`state_kernel`, when the caller computed it once for many rows.

        Returns:
            (h, c) of this row, in the same layouts; h is also the row's output.
        """
        h_above, c_above = state
        kernel = self.state_kernel() if kernel is None else kernel
        n, width, hidden = h_above.shape
        # the 1 x k conv over the row above as one matmul, without the im2col and layout
        # copies of a conv per row, fused with the add of the row's input gates
        gates = row_conv(h_above, kernel, row_gates, left=self.kernel_size // 2)
        h, c = F.lstm_cell(gates, c_above)
        return reshape(h, (n, width, hidden)), c  # (N*W, h) -> (N, W, h)

    def forward(self, x: Tensor) -> Tensor:
        _check_map("RowLSTM", x, self.in_channels, self.input_to_state.weight)
        n, _, height, width = x.shape
        state = self.initial_state(n, width, like=x)
        kernel = self.state_kernel()
        rows = []
        # split, not one getitem per row: its backward is one concatenate, where H getitems
        # would each scatter into a full-size zero gradient
        for row_gates in split(self.row_gates(x), n * width, axis=0):  # H x (N*W, 4h)
            state = self.step(row_gates, state, kernel)
            rows.append(state[0])
        # H x (N, W, h) -> (H, N, W, h) -> (N, h, H, W)
        return permute(stack(rows, axis=0), (1, 3, 0, 2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_size}, kernel_size={self.kernel_size}"


# --------------------------------------------------------------------------- Diagonal BiLSTM
class DiagonalLSTM(Module):
    """One direction of the Diagonal BiLSTM: (N, in_channels, H, W) -> (N, hidden, H, W).

    The state at pixel (i, j) comes from the input there and the states at (i-1, j) (above)
    and (i, j-1) (left); the cell state is carried from the left. Outside the image the
    states are zero. The forward computes a whole diagonal per step on the skewed map.
    """

    def __init__(self, in_channels: int, hidden_size: int):
        self.in_channels = count("DiagonalLSTM", "in_channels", in_channels)
        self.hidden_size = count("DiagonalLSTM", "hidden_size", hidden_size)
        # both kernels are held as convolutions (their layout and initialisation) and applied
        # as matmuls, one diagonal or one pixel at a time
        self.input_to_state = Conv2d(in_channels, 4 * hidden_size, 1)
        # a 2 x 1 kernel over a column of the skewed map: tap 0 is the row above, tap 1 this
        # row, i.e. the pixel above and the pixel to the left in image coordinates
        self.state_to_state = Conv2d(hidden_size, 4 * hidden_size, (2, 1), bias=False)

    def input_gates(self, x: Tensor) -> Tensor:
        """The 1 x 1 input-to-state convolution of pixels: x (B, C) -> (B, 4h)."""
        # (4h, C, 1, 1) -> (4h, C)
        weight = reshape(self.input_to_state.weight, (4 * self.hidden_size, -1))
        return x @ transpose(weight) + self.input_to_state.bias

    def state_kernel(self) -> Tensor:
        """The 2 x 1 state-to-state kernel as a (2h, 4h) matrix for [h_above, h_left]."""
        hidden = self.hidden_size
        # (4h, h, 2, 1) -> (4h, h, 2) -> (2, h, 4h) -> (2h, 4h); the last reshape copies, and
        # a contiguous matrix keeps the matmuls on BLAS (a strided view falls off it)
        kernel = permute(reshape(self.state_to_state.weight, (4 * hidden, hidden, 2)),
                         (2, 1, 0))
        return reshape(kernel, (2 * hidden, 4 * hidden))

    def step(self, gates_in: Tensor, h_above: Tensor, h_left: Tensor, c_left: Tensor,
             kernel: Tensor | None = None):
        """One cell per row of the batch.

        Args:
            gates_in: (B, 4h), :meth:`input_gates` at the pixels.
            h_above, h_left, c_left: (B, h) states of the pixels above and to the left
                (zeros outside the image).
            kernel: :meth:`state_kernel`, when the caller computed it once for many steps.

        Returns:
            (h, c), each (B, h).
        """
        kernel = self.state_kernel() if kernel is None else kernel
        # [h_above, h_left] (B, 2h) @ (2h, 4h): both taps of the 2 x 1 conv in one matmul
        gates = gates_in + concatenate([h_above, h_left], axis=1) @ kernel
        return F.lstm_cell(gates, c_left)

    def forward(self, x: Tensor) -> Tensor:
        _check_map("DiagonalLSTM", x, self.in_channels, self.input_to_state.weight)
        n, _, height, width = x.shape
        hidden = self.hidden_size
        # the 1x1 input conv on the H*W pixels, before the skew, and not on the H*(W+H-1)
        # cells of the skewed map, whose padding cells get zero gates instead. That keeps each
        # row starting from zero states at its left border (the per-pixel recurrence the
        # samplers run): a cell left of the image, with zero gates and zero neighbours (also
        # left of it), gets c = 0.5 * 0 + 0.5 * tanh(0) = 0 and h = 0.5 * tanh(0) = 0, exactly.
        # The cells right of the image carry states on, but no pixel's cell reads them.
        # (N, C, H, W) -> (N, H, W, C) -> (N*H*W, C)
        pixels = reshape(permute(x, (0, 2, 3, 1)), (-1, self.in_channels))
        # (N*H*W, 4h) -> (N, H, W, 4h) -> skewed, (N, H, W', 4h). Channels last, as the
        # slabs below want them: an (N, 4h, H, W') skew would take a transposing copy there,
        # and its backward a gradient strided across the whole map
        gates = skew(reshape(self.input_gates(pixels), (n, height, width, -1)),
                     channels_last=True)
        wide = gates.shape[2]
        # (N, H, W', 4h) -> (W', N, H, 4h) -> (W'*N*H, 4h): one contiguous slab per diagonal
        gates = reshape(permute(gates, (2, 0, 1, 3)), (wide * n * height, -1))
        kernel = self.state_kernel()
        h = zeros(n * height, hidden, dtype=x.dtype, device=x.device)
        c = zeros(n * height, hidden, dtype=x.dtype, device=x.device)
        columns = []
        # one (N*H, 4h) slab per diagonal, split for the same reason as in RowLSTM.forward
        slabs = split(gates, n * height, axis=0)
        for t in range(wide):
            # the cell above (i-1, t-1) of each cell: the previous column shifted down a row
            # (N*H, h) -> (N, H, h), drop the last row, pad a zero row on top, -> (N*H, h)
            h_above = getitem(reshape(h, (n, height, hidden)), (slice(None), slice(0, -1)))
            h_above = reshape(pad(h_above, ((0, 0), (1, 0), (0, 0))), (n * height, hidden))
            h, c = self.step(slabs[t], h_above, h, c, kernel)
            columns.append(h)
        # W' x (N*H, h) -> (W', N, H, h) -> (N, H, W', h)
        states = permute(reshape(stack(columns, axis=0), (wide, n, height, hidden)),
                         (1, 2, 0, 3))
        # unskewed, (N, H, W, h) -> (N, h, H, W)
        return permute(unskew(states, channels_last=True), (0, 3, 1, 2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_size}"


class DiagonalBiLSTM(Module):
    """Diagonal BiLSTM: (N, in_channels, H, W) -> (N, hidden_size, H, W).

    The sum of a left-to-right :class:`DiagonalLSTM` (attribute ``left``) and a right-to-left
    one (``right``, run on the map flipped left-right), the latter shifted down one row: its
    state at (i, j) has seen (i, j+1..), which are in the future, while its state at
    (i-1, j) has seen only rows above i.
    """

    def __init__(self, in_channels: int, hidden_size: int):
        self.in_channels = count("DiagonalBiLSTM", "in_channels", in_channels)
        self.hidden_size = count("DiagonalBiLSTM", "hidden_size", hidden_size)
        self.left = DiagonalLSTM(in_channels, hidden_size)
        self.right = DiagonalLSTM(in_channels, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        _check_map("DiagonalBiLSTM", x, self.in_channels, self.left.input_to_state.weight)
        height = x.shape[2]
        right = flip(self.right(flip(x, 3)), 3)
        # row i takes row i-1's right-to-left states; row 0 gets zeros
        right = pad(getitem(right, (slice(None), slice(None), slice(0, height - 1))),
                    ((0, 0), (0, 0), (1, 0), (0, 0)))
        return self.left(x) + right

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_size}"
