"""The Tensor API: construction, attributes, conversion, operators, factories."""

import numpy as np
import pytest

import tinygen as tg


def test_attributes_describe_the_array():
    t = tg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert t.shape == (1, 3) and t.ndim == 2 and t.dtype == np.float32
    assert t.device == "cpu" and t.requires_grad and t.grad is None and t.is_leaf
    assert isinstance(t.data, np.ndarray)


def test_python_ints_become_int64_and_arrays_keep_their_dtype():
    assert tg.tensor([1, 2]).dtype == np.int64
    assert tg.tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64
    assert tg.tensor(np.zeros(2, dtype=np.uint8)).dtype == np.uint8


def test_numpy_item_and_detach():
    t = tg.tensor([2.5], requires_grad=True)
    assert isinstance(t.numpy(), np.ndarray) and t.item() == 2.5
    detached = (t * 2.0).detach()
    assert detached.grad_fn is None and not detached.requires_grad
    with pytest.raises(ValueError, match="1 element.*shape \\(2,\\)"):
        tg.tensor([1.0, 2.0]).item()


def test_zero_grad_and_assigning_none_clear_the_gradient():
    t = tg.tensor([1.0], requires_grad=True)
    (t * 3.0).sum().backward()
    assert t.grad is not None
    t.zero_grad()
    assert t.grad is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda a, b: a + b, lambda a, b: a + b),
        (lambda a, b: a - b, lambda a, b: a - b),
        (lambda a, b: a * b, lambda a, b: a * b),
        (lambda a, b: a / b, lambda a, b: a / b),
        (lambda a, b: a ** 2, lambda a, b: a ** 2),
        (lambda a, b: 2.0 ** b, lambda a, b: 2.0 ** b),
        (lambda a, b: a ** b, lambda a, b: a ** b),
        (lambda a, b: -a, lambda a, b: -a),
        (lambda a, b: 1.0 - a, lambda a, b: 1.0 - a),
        (lambda a, b: 3.0 / a, lambda a, b: 3.0 / a),
        (lambda a, b: a @ b.T, lambda a, b: a @ b.T),
        (lambda a, b: abs(-a), lambda a, b: np.abs(-a)),
    ],
)
def test_operators_match_numpy(expression, expected):
    a_values = np.array([[1.0, 2.0], [3.0, 4.0]])
    b_values = np.array([[0.5, 1.5], [2.5, 3.5]])
    result = expression(tg.tensor(a_values), tg.tensor(b_values))
    np.testing.assert_allclose(result.numpy(), expected(a_values, b_values), rtol=1e-6)


def test_comparisons_return_boolean_tensors():
    t = tg.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((t > 1.5).numpy(), [False, True, True])
    np.testing.assert_array_equal((t == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal((t <= tg.tensor([1.0, 1.0, 4.0])).numpy(), [True, False, True])


def test_numpy_scalars_on_the_left_defer_to_the_tensor():
    t = tg.tensor([1.0, 2.0])
    result = np.float64(2.0) * t
    assert isinstance(result, tg.Tensor)
    np.testing.assert_allclose(result.numpy(), [2.0, 4.0])


def test_basic_and_advanced_indexing():
    t = tg.tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(t[1].numpy(), [4.0, 5.0, 6.0, 7.0])
    np.testing.assert_array_equal(t[:, 1:3].numpy(), [[1, 2], [5, 6], [9, 10]])
    np.testing.assert_array_equal(t[[0, 2], [1, 3]].numpy(), [1.0, 11.0])
    np.testing.assert_array_equal(t[t > 9.5].numpy(), [10.0, 11.0])
    np.testing.assert_array_equal(t[None, ..., 0].numpy(), [[0.0, 4.0, 8.0]])


def test_factories_shapes_dtypes_and_seeding():
    assert tg.zeros(2, 3).shape == (2, 3) and tg.zeros((2, 3)).dtype == np.float32
    assert tg.ones(4, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(tg.arange(4).numpy(), [0, 1, 2, 3])
    assert tg.arange(0.0, 1.0, 0.25).dtype == np.float32
    like = tg.tensor(np.ones((2, 2), dtype=np.float64))
    assert tg.zeros_like(like).dtype == np.float64 and tg.ones_like(like).shape == (2, 2)
    tg.manual_seed(7)
    first = tg.randn(3, 2).numpy()
    uniform = tg.rand(5).numpy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(first, tg.randn(3, 2).numpy())
    assert ((0 <= uniform) & (uniform < 1)).all()


def test_factories_reject_bad_arguments():
    with pytest.raises(ValueError, match="non-negative"):
        tg.zeros(-1)
    with pytest.raises(ValueError, match="step"):
        tg.arange(0, 5, 0)
    with pytest.raises(TypeError, match="dtype"):
        tg.tensor([1.0], dtype=np.complex64)


def test_reshape_and_friends_accept_pytorch_spellings():
    t = tg.tensor(np.arange(6.0))
    assert t.reshape(2, 3).shape == (2, 3) and t.view((3, 2)).shape == (3, 2)
    assert t.reshape(2, -1).shape == (2, 3)
    m = t.reshape(1, 2, 3)
    assert m.permute(2, 0, 1).shape == (3, 1, 2) and m.transpose(1, 2).shape == (1, 3, 2)
    assert m.squeeze().shape == (2, 3) and m.unsqueeze(-1).shape == (1, 2, 3, 1)
    assert m.flatten().shape == (6,) and m.expand(4, 2, 3).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"cannot view shape \(6,\).*\(4, -1\)"):
        t.reshape(4, -1)


def test_repr_shows_values_and_graph_state():
    t = tg.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=<Mul>" in repr(t * 2.0)


# ----------------------------------------------------------------------------- array ownership
def test_tensor_copies_its_array_as_torch_tensor_does():
    source = np.array([1.0, 2.0], dtype=np.float32)
    made = [tg.tensor(source), tg.tensor(tg.Tensor(source)),
            tg.tensor(source, dtype=np.float32, device="cpu"), tg.tensor(source[::-1])]
    source[0] = 99.0
    assert [t.tolist() for t in made] == [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [2.0, 1.0]]
    assert not any(np.shares_memory(t.data, source) for t in made)


def test_the_tensor_constructor_shares_an_array_of_its_dtype_as_torch_tensor_does():
    # torch.Tensor(ndarray) shares a float32 array (and copies to convert a float64 one)
    source = np.array([1.0, 2.0], dtype=np.float32)
    shared, converted = tg.Tensor(source), tg.Tensor(source, dtype=np.float64)
    source[0] = 99.0
    assert shared.tolist() == [99.0, 2.0] and converted.tolist() == [1.0, 2.0]


def test_tensor_of_a_read_only_array_is_writable_and_an_optimizer_can_step_it():
    frozen = np.array([1.0, -1.0], dtype=np.float32)
    frozen.flags.writeable = False
    weight = tg.tensor(frozen, requires_grad=True)
    optimizer = tg.optim.SGD([weight], lr=0.5)

    (weight * weight).sum().backward()
    optimizer.step()

    np.testing.assert_allclose(weight.numpy(), [0.0, 0.0])  # w - 0.5 * 2w
    np.testing.assert_array_equal(frozen, [1.0, -1.0])


def test_an_in_place_update_of_a_shared_read_only_array_names_the_tensor():
    frozen = np.array([1.0, -1.0], dtype=np.float32)
    frozen.flags.writeable = False
    weight = tg.from_numpy(frozen).requires_grad_()
    weight.name = "frozen"
    optimizer = tg.optim.SGD([weight], lr=0.5)
    (weight * weight).sum().backward()
    with pytest.raises(ValueError, match="sub_: the tensor 'frozen' shares a read-only NumPy"):
        optimizer.step()
    np.testing.assert_array_equal(frozen, [1.0, -1.0])


def test_tensor_copies_an_object_that_shares_its_memory_through_array():
    torch = pytest.importorskip("torch")
    source = torch.ones(2)
    made = tg.tensor(source)
    source[0] = 5.0
    assert made.tolist() == [1.0, 1.0]
