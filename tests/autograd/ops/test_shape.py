"""Shape, padding and tiling ops: PyTorch's edge rules (chunk sizes, repeat vs tile, 0-d and
empty tensors, negative pads) and the errors that name the op, beyond the registry's checks."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad


def _leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# --------------------------------------------------------------------------- chunk, unbind
@pytest.mark.parametrize(("chunks", "sizes"), [
    (3, [4, 4, 2]), (4, [3, 3, 3, 1]), (6, [2, 2, 2, 2, 2]), (11, [1] * 10), (1, [10]),
])
def test_chunk_cuts_pieces_of_ceil_size_over_chunks_as_pytorch(chunks, sizes):
    pieces = tg.chunk(tg.zeros(10), chunks)
    assert [p.shape[0] for p in pieces] == sizes


def test_chunk_of_an_empty_axis_gives_chunks_empty_pieces_and_rejects_zero_chunks():
    assert [p.shape for p in tg.zeros(0).chunk(3)] == [(0,), (0,), (0,)]
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int, got 0"):
        tg.chunk(tg.zeros(3), 0)


def test_unbind_removes_the_axis_and_each_slice_gets_its_gradient():
    x = _leaf(np.arange(6.0).reshape(2, 3))
    columns = x.unbind(1)
    (gx,) = grad(columns[2].sum() * 2 + columns[0].sum(), [x])
    assert [c.shape for c in columns] == [(2,), (2,), (2,)]
    np.testing.assert_array_equal(gx.numpy(), [[1, 0, 2], [1, 0, 2]])
    with pytest.raises(IndexError, match="unbind"):
        tg.unbind(tg.tensor(3.0))


# --------------------------------------------------------------------------- views
def test_transpose_swaps_two_dims_and_checks_them():
    x = tg.zeros(2, 3, 4)
    assert tg.transpose(x, 0, 2).shape == (4, 3, 2) and x.transpose(-1, 1).shape == (2, 4, 3)
    assert tg.transpose(tg.tensor(1.0), 0, -1).shape == ()
    with pytest.raises(IndexError, match=r"transpose: dim must be an int in \[-3, 2\], got 3"):
        x.transpose(0, 3)
    with pytest.raises(TypeError, match="transpose: pass both dim0 and dim1"):
        tg.transpose(x, 0)


def test_t_transposes_matrices_and_returns_vectors_as_they_are():
    assert tg.zeros(2, 3).t().shape == (3, 2) and tg.zeros(3).t().shape == (3,)
    with pytest.raises(ValueError, match=r"t: x must have at most 2 axes, got shape \(1, 2, 3\)"):
        tg.t(tg.zeros(1, 2, 3))


def test_flatten_of_0d_and_of_empty_tensors_as_pytorch():
    assert tg.tensor(3.0).flatten().shape == (1,)
    assert tg.zeros(0, 2, 3).flatten(1, 2).shape == (0, 6)
    assert tg.zeros(2, 0, 3).flatten().shape == (0,)
    assert tg.zeros(0, 3).reshape(-1, 3).shape == (0, 3)
    with pytest.raises(ValueError, match="flatten: start_dim .2. must not come after end_dim"):
        tg.zeros(2, 3, 4).flatten(2, 1)


def test_unflatten_splits_one_axis_with_one_inferred_size():
    assert tg.zeros(2, 6).unflatten(1, (2, -1)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"unflatten: sizes \(4, -1\) do not multiply"):
        tg.zeros(2, 6).unflatten(1, (4, -1))


def test_movedim_moves_axes_and_keeps_the_others_in_order():
    x = tg.zeros(2, 3, 4)
    assert x.movedim(0, -1).shape == (3, 4, 2)
    assert tg.movedim(x, (0, 1), (2, 0)).shape == (3, 4, 2)
    with pytest.raises(ValueError, match="movedim: repeated axis in source"):
        tg.movedim(x, (0, 0), (1, 0))


def test_narrow_counts_a_negative_start_from_the_end():
    x = tg.tensor(np.arange(10.0))
    assert x.narrow(0, -3, 2).tolist() == [7.0, 8.0] and x.narrow(0, 10, 0).shape == (0,)
    with pytest.raises(ValueError, match=r"narrow: start \(8\) \+ length \(3\) must lie in"):
        x.narrow(0, 8, 3)


def test_expand_keeps_sizes_with_minus_one_but_not_for_new_leading_axes():
    assert tg.zeros(3, 1).expand(-1, 4).shape == (3, 4)
    assert tg.zeros(3, 1).expand(2, -1, 4).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="expand: sizes must be >= 0"):
        tg.zeros(3).expand(-1, 3)


def test_cat_skips_1d_empty_tensors_as_pytorch():
    assert tg.cat([tg.zeros(0), tg.ones(2, 2)], 1).shape == (2, 2)
    assert tg.cat([tg.zeros(0), tg.zeros(0)]).shape == (0,)


def test_clone_is_a_differentiable_copy_sharing_no_memory():
    x = _leaf([1.0, 2.0])
    y = x.clone()
    (gx,) = grad((y * 3).sum(), [x])
    assert not np.shares_memory(x.numpy(), y.numpy())
    np.testing.assert_array_equal(gx.numpy(), [3.0, 3.0])


# --------------------------------------------------------------------------- tiling
def test_repeat_and_tile_differ_on_short_size_lists_as_pytorch():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.repeat(2, 1, 2).shape == (2, 2, 6)
    assert x.tile((2,)).shape == (2, 6)
    with pytest.raises(ValueError, match="repeat: sizes must be at least 2 non-negative ints"):
        x.repeat(2)


def test_repeat_sums_the_gradient_of_every_copy():
    x = _leaf([1.0, 2.0])
    (gx,) = grad(x.repeat(3, 2).sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), [6.0, 6.0])


def test_roll_without_dims_rolls_the_flattened_tensor():
    x = tg.tensor(np.arange(6).reshape(2, 3))
    assert x.roll(1).tolist() == [[5, 0, 1], [2, 3, 4]]
    assert tg.roll(x, (1, 2), (0, 1)).tolist() == [[4, 5, 3], [1, 2, 0]]
    with pytest.raises(ValueError, match="roll: shifts .1, 2. and dims .0,. must have"):
        tg.roll(x, (1, 2), 0)


def test_stacks_lift_0d_and_1d_inputs_as_pytorch():
    one, two = tg.tensor(1.0), tg.tensor(2.0)
    assert tg.hstack([one, two]).shape == (2,) and tg.vstack([one, two]).shape == (2, 1)
    assert tg.column_stack([tg.ones(3), tg.ones(3, 2)]).shape == (3, 3)
    assert tg.vstack([tg.ones(3), tg.ones(2, 3)]).shape == (3, 3)


# --------------------------------------------------------------------------- F.pad
def test_pad_takes_pairs_from_the_last_axis_and_crops_with_negative_amounts():
    x = tg.tensor(np.arange(6.0).reshape(1, 2, 3))
    assert F.pad(x, (1, -1)).tolist() == [[[0.0, 0.0, 1.0], [0.0, 3.0, 4.0]]]
    assert F.pad(x, (0, 0, 1, 0), value=9.0).shape == (1, 3, 3)
    assert F.pad(x, (-3, 0)).shape == (1, 2, 0)


@pytest.mark.parametrize(("mode", "expected"), [
    ("reflect", [2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]),
    ("replicate", [0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0]),
    ("circular", [1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0]),
])
def test_pad_modes_copy_entries_as_pytorch(mode, expected):
    x = tg.tensor(np.arange(3.0).reshape(1, 3))
    assert F.pad(x, (2, 2), mode=mode).tolist() == [expected]


def test_pad_gradient_of_a_reflected_entry_sums_its_copies():
    x = _leaf([[0.0, 1.0, 2.0]])
    (gx,) = grad(F.pad(x, (2, 2), mode="reflect").sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), [[2.0, 3.0, 2.0]])


def test_pad_errors_name_the_argument_and_the_mode():
    x = tg.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="pad: pad must be an even number of ints"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="mode 'reflect' pads must be less than the axis"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode 'circular' pads must be at most the axis"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(ValueError, match="pad: mode 'reflect' takes no value"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="pad: mode must be one of"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(NotImplementedError, match="pads the last 1 to 3 axes"):
        F.pad(tg.zeros(3), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match=r"pad: cropping \(-4, 0\) is more than the size 3"):
        F.pad(x, (-4, 0))


def test_split_of_an_empty_axis_is_one_empty_piece_as_torch():
    pieces = tg.split(tg.zeros(0, 3), 2)

    assert [piece.shape for piece in pieces] == [(0, 3)]
    assert [piece.shape for piece in tg.split(tg.zeros(0, 3), 0)] == [(0, 3)]
    with pytest.raises(ValueError, match=r"split: piece size must be positive .* got 0"):
        tg.split(tg.zeros(4, 3), 0)


def test_glu_of_an_empty_axis_is_empty_as_torch():
    assert tg.nn.functional.glu(tg.zeros(2, 0), -1).shape == (2, 0)
