"""The PyTorch names a program reaches for on the package and on Tensor, with PyTorch's
meaning: dtypes, devices, tinygen.cuda / accelerator, size()/numel()/dim(), dim= and
keepdim=, max(dim) as (values, indices), unbiased var, comparisons."""

import numpy as np
import pytest

import tinygen as tg


def test_import_tinygen_reaches_nn_optim_and_data():
    assert tg.nn.Linear and tg.nn.functional.relu and tg.optim.Adam and tg.data.DataLoader


def test_dtype_names_are_numpys_under_pytorchs_names():
    x = tg.ones(2, dtype=tg.float32)
    assert x.dtype == tg.float32 == tg.float and tg.float64 == tg.double
    assert x.long().dtype == tg.int64 == tg.long and x.int().dtype == tg.int32
    assert x.bool().dtype == tg.bool and x.half().dtype == tg.float16


def test_device_compares_equal_to_its_name():
    x = tg.zeros(1)
    assert x.device == "cpu" and x.device == tg.device("cpu") and x.device.type == "cpu"
    assert not x.is_cuda and str(tg.device("cuda:0")) == "cuda:0"
    with pytest.raises(tg.backend.DeviceError, match="device: expected one of"):
        tg.device("tpu")


def test_cuda_and_accelerator_answer_without_a_gpu():
    available = tg.cuda.is_available()
    assert available == tg.accelerator.is_available()
    assert tg.cuda.device_count() == (1 if available else 0)
    assert (tg.accelerator.current_accelerator() is None) == (not available)


def test_size_is_the_shape_and_numel_the_count():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
    assert x.numel() == 24 and x.nelement() == 24 and x.dim() == 3
    with pytest.raises(IndexError, match=r"size: dim must be an int in \[-3, 2\], got 3"):
        x.size(3)


def test_reductions_take_dim_and_keepdim_with_axis_as_alias():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=1).tolist() == [3.0, 12.0]
    assert x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert x.mean(1, keepdim=True).shape == (2, 1)
    assert x.argmax(dim=1, keepdim=True).tolist() == [[2], [2]]
    with pytest.raises(TypeError, match="pass dim or axis, not both"):
        x.sum(dim=0, axis=1)


def test_max_with_dim_returns_values_and_indices():
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max(1).indices.dtype == tg.int64 and x.max().item() == 7.0
    assert tg.max(x, tg.zeros(2, 3)).tolist() == [[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]


def test_var_and_std_are_unbiased_by_default_as_in_pytorch():
    values = np.array([1.0, 2.0, 4.0])
    x = tg.tensor(values)
    assert x.var().item() == pytest.approx(values.var(ddof=1))
    assert x.var(unbiased=False).item() == pytest.approx(values.var())
    assert x.std(correction=0).item() == pytest.approx(values.std())


def test_comparisons_give_boolean_tensors_and_eq_counts():
    pred, target = tg.tensor([1, 2, 3]), tg.tensor([1, 0, 3])
    assert pred.eq(target.view_as(pred)).sum().item() == 2
    assert (pred > 1).tolist() == [False, True, True] and not (pred > 1).requires_grad


def test_squeeze_of_an_axis_that_is_not_one_leaves_it_as_pytorch_does():
    assert tg.zeros(2, 1, 3).squeeze(0).shape == (2, 1, 3)
    assert tg.zeros(2, 1, 3).squeeze(1).shape == (2, 3)


def test_to_accepts_device_dtype_and_another_tensor():
    x = tg.ones(2)
    assert x.to("cpu") is x
    assert x.to(tg.float64).dtype == tg.float64
    assert x.to("cpu", tg.float64).dtype == tg.float64
    assert x.to(tg.zeros(1, dtype=tg.float64)).dtype == tg.float64


def test_iterating_a_tensor_yields_its_rows():
    rows = list(tg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]]
