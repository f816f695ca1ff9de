"""The factories take PyTorch's forms: sizes as varargs or one sequence, the keywords dtype,
device and requires_grad, PyTorch's overloads (randint(high, size), arange(end=...)) and its
dtype inference; the *_like and Tensor.new_* forms default to the given tensor's dtype and
device; as_tensor and from_numpy share memory where PyTorch's do."""

import numpy as np
import pytest

import tinygen as tg


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.empty, tg.randn, tg.rand])
def test_factories_take_sizes_as_varargs_or_one_sequence(factory):
    assert factory(2, 3).shape == factory((2, 3)).shape == factory([2, 3]).shape == (2, 3)
    assert factory().shape == factory(()).shape == ()


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.empty, tg.randn, tg.rand])
def test_factories_take_dtype_device_and_requires_grad(factory):
    x = factory(2, dtype=tg.float64, device="cpu", requires_grad=True)

    assert x.dtype == np.float64 and x.device == "cpu" and x.requires_grad and x.is_leaf


def test_empty_is_zeros_so_no_stale_memory_shows():
    assert tg.empty(3, 2).numpy().tolist() == [[0.0, 0.0]] * 3


@pytest.mark.parametrize("fill_value, dtype", [(3, np.int64), (2.5, np.float32),
                                               (True, np.bool_)])
def test_full_infers_the_dtype_from_the_fill_value_as_torch(fill_value, dtype):
    x = tg.full((2, 2), fill_value)

    assert x.dtype == dtype
    assert (x.numpy() == fill_value).all()
    assert tg.full((2,), 3, dtype=tg.float64).dtype == np.float64


@pytest.mark.parametrize("args, kwargs, expected", [
    ((5,), {}, [0, 1, 2, 3, 4]),
    ((2, 5), {}, [2, 3, 4]),
    ((0,), {"end": 3}, [0, 1, 2]),
    ((), {"end": 3}, [0, 1, 2]),
    ((1, 7, 2), {}, [1, 3, 5]),
    ((5, 0, -2), {}, [5, 3, 1]),
])
def test_arange_takes_torch_overloads_and_end_keyword(args, kwargs, expected):
    x = tg.arange(*args, **kwargs)

    assert x.dtype == np.int64
    assert x.numpy().tolist() == expected


def test_arange_is_float32_when_any_argument_is_a_float_unless_dtype_is_given():
    assert tg.arange(3.0).dtype == np.float32
    assert tg.arange(0, 1, 0.25).numpy().tolist() == [0.0, 0.25, 0.5, 0.75]
    x = tg.arange(0, 3.1, dtype=tg.float64, requires_grad=True)
    assert x.dtype == np.float64 and x.requires_grad
    assert x.numpy().tolist() == [0.0, 1.0, 2.0, 3.0]


def test_arange_of_a_float_dtype_rounds_float64_values_once():
    # start + i * step in float64, then one rounding: float32's own arange accumulates error
    x = tg.arange(0, 100, 0.1, dtype=tg.float32)
    np.testing.assert_array_equal(x.numpy(), (np.arange(1000) * 0.1).astype(np.float32))


def test_linspace_takes_0d_tensor_endpoints_and_steps_keyword():
    x = tg.linspace(tg.tensor(-2.0), tg.tensor(3), steps=5, dtype=tg.float64)

    assert x.dtype == np.float64
    assert x.numpy().tolist() == [-2.0, -0.75, 0.5, 1.75, 3.0]


def test_linspace_names_a_bad_steps():
    with pytest.raises(ValueError, match="linspace: steps"):
        tg.linspace(0, 1, -1)


def test_eye_takes_m_dtype_device_and_requires_grad():
    x = tg.eye(2, 3, dtype=tg.float64, device="cpu", requires_grad=True)

    assert x.numpy().tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert x.dtype == np.float64 and x.requires_grad


def test_randint_takes_high_size_and_low_high_size_with_a_dtype():
    tg.manual_seed(0)
    high_only = tg.randint(3, (200,))
    ranged = tg.randint(5, 8, size=(4, 50), dtype=tg.float64)

    assert high_only.dtype == np.int64 and high_only.shape == (200,)
    assert set(high_only.numpy().tolist()) == {0, 1, 2}
    assert ranged.dtype == np.float64 and ranged.shape == (4, 50)
    assert set(ranged.numpy().ravel().tolist()) == {5.0, 6.0, 7.0}
    assert tg.randint(10, ()).shape == ()


def test_randint_names_an_empty_range_and_a_missing_size():
    with pytest.raises(ValueError, match="randint: expected high > low"):
        tg.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="randint"):
        tg.randint(3)


@pytest.mark.parametrize("factory, args", [
    (tg.zeros_like, ()), (tg.ones_like, ()), (tg.empty_like, ()), (tg.full_like, (1.5,)),
    (tg.randn_like, ()), (tg.rand_like, ()),
])
def test_like_factories_default_to_the_input_and_take_dtype_device_requires_grad(factory,
                                                                                 args):
    x = tg.zeros(2, 3, dtype=tg.float64)

    same = factory(x, *args)
    other = factory(x, *args, dtype=tg.float32, device="cpu", requires_grad=True)

    assert same.shape == (2, 3) and same.dtype == np.float64 and not same.requires_grad
    assert other.dtype == np.float32 and other.device == "cpu" and other.requires_grad


def test_new_factories_take_self_dtype_and_device_unless_given():
    x = tg.zeros(1, dtype=tg.float64)

    assert x.new_zeros(2, 3).shape == x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(2).numpy().tolist() == [1.0, 1.0]
    assert x.new_empty(0).shape == (0,)
    assert x.new_full((2,), 3).numpy().tolist() == [3.0, 3.0]
    assert {t.dtype for t in (x.new_zeros(1), x.new_ones(1), x.new_full((1,), 3),
                              x.new_tensor([1, 2]))} == {np.dtype(np.float64)}
    assert x.new_zeros(2, dtype=tg.int64).dtype == np.int64
    assert x.new_ones(2, requires_grad=True).requires_grad


def test_new_tensor_copies_its_data_into_a_new_leaf():
    source = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)

    copy = source.new_tensor(source)
    copy.data[0] = 5.0

    assert copy.is_leaf and not copy.requires_grad
    assert source.numpy().tolist() == [1.0, 2.0]


def test_tensor_type_names_the_type_or_casts_as_torch():
    x = tg.zeros(2, dtype=tg.float64)

    assert x.type() == "tinygen.DoubleTensor"
    assert tg.zeros(1, dtype=tg.int64).type() == "tinygen.LongTensor"
    assert x.type(tg.float32).dtype == np.float32
    assert x.type("torch.FloatTensor").dtype == np.float32
    assert x.type(tg.float64) is x
    with pytest.raises(ValueError, match="type: dtype must be"):
        x.type("tinygen.ComplexTensor")


def test_as_tensor_shares_memory_and_returns_a_tensor_unchanged():
    array = np.zeros(3)
    shared = tg.as_tensor(array)
    array[0] = 7.0

    assert shared.numpy()[0] == 7.0
    x = tg.zeros(2)
    assert tg.as_tensor(x) is x
    assert tg.as_tensor(x, dtype=tg.float64).dtype == np.float64
    assert tg.as_tensor([1.0, 2.0]).dtype == np.float32


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    array = np.arange(3, dtype=np.int32)
    x = tg.from_numpy(array)
    array[1] = 9

    assert x.dtype == np.int32 and x.numpy().tolist() == [0, 9, 2]
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        tg.from_numpy([1, 2])


def test_is_tensor_and_numel():
    assert tg.is_tensor(tg.zeros(1)) and not tg.is_tensor(np.zeros(1))
    assert tg.numel(tg.zeros(2, 3)) == 6 and tg.numel(tg.zeros(())) == 1
