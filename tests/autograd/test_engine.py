"""The backward engine: accumulation, graph freeing, mutation guard, autograd.grad, modes."""

import gc
import weakref

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import Function, grad


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_chain_of_100k_ops_backpropagates_without_recursion():
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@pytest.fixture
def no_cycle_collector():
    """Python's cycle collector off: what is freed here is freed by reference counting."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def test_a_graph_never_backpropagated_is_freed_without_the_cycle_collector(no_cycle_collector):
    # tanh saves its own output; holding it strongly would make output -> op -> output a
    # cycle, and an unused graph (a GAN generator's forward in the D step) would outlive
    # its step until the cycle collector ran
    x = leaf(np.linspace(-1.0, 1.0, 6))
    y = (x * 2.0).tanh().exp()
    ops = [weakref.ref(y.grad_fn), weakref.ref(y.grad_fn.inputs[0].grad_fn)]
    del y
    assert [op() for op in ops] == [None, None]


def test_a_saved_output_the_caller_dropped_still_gives_second_derivatives():
    x = leaf([0.3, -0.7])
    y = x.tanh()
    z = y * 1.0  # keeps tanh's op alive through z's graph
    del y  # ... but not tanh's output Tensor: backward stands in an equivalent one
    (gx,) = grad(z.sum(), [x], create_graph=True)
    (ggx,) = grad(gx.sum(), [x])
    t = np.tanh([0.3, -0.7])
    np.testing.assert_allclose(gx.numpy(), 1 - t ** 2)
    np.testing.assert_allclose(ggx.numpy(), -2 * t * (1 - t ** 2))


def test_changing_a_saved_output_in_place_is_caught_after_the_caller_dropped_it():
    x = leaf([0.3, -0.7])
    y = x.tanh()
    view = y.reshape(2)  # shares y's version counter
    z = (view + 0.0).sum()  # an add saves nothing: only tanh has a saved tensor
    del y
    with tg.no_grad():
        view.add_(tg.tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="op Tanh.*modified in place"):
        z.backward()


def test_gradients_accumulate_in_leaves_across_backward_calls():
    x = leaf([3.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0])


def test_shared_subexpression_gets_the_sum_of_both_paths():
    x = leaf([2.0])
    y = x * 3.0
    z = (y * y + y).sum()  # dz/dx = (2y + 1) * 3 = 39
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [39.0])


def test_second_backward_through_a_freed_graph_names_the_op():
    x = leaf([1.0, 2.0])
    y = (x.tanh() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_in_place_change_of_a_saved_tensor_is_caught_naming_op_and_tensor():
    weight = tg.tensor(np.ones(3), requires_grad=True, name="layer.weight")
    loss = (weight * weight).sum()
    with tg.no_grad():
        weight.sub_(0.1 * np.ones(3))  # an optimizer step before backward: the GAN-loop bug
    with pytest.raises(RuntimeError, match=r"'layer\.weight'.*op Mul.*modified in place"):
        loss.backward()


def test_assigning_data_counts_as_an_in_place_change():
    weight = leaf([1.0, 2.0])
    loss = (weight.exp() * weight).sum()
    weight.data = weight.data - 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_in_place_update_of_a_tensor_that_requires_grad_needs_no_grad():
    weight = leaf([1.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        weight.add_(1.0)


def test_no_grad_records_nothing_and_works_as_decorator():
    x = leaf([1.0])
    with tg.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None

    @tg.no_grad()
    def double(t):
        return t * 2.0

    assert double(x).grad_fn is None
    with tg.no_grad(), tg.enable_grad():
        assert (x * 2.0).requires_grad
    assert tg.is_grad_enabled()


def test_grad_returns_gradients_without_touching_dot_grad():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x * w).sum()
    gx, gw = grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_grad_with_respect_to_an_intermediate_tensor():
    x = leaf([1.0, 2.0])
    hidden = x * 3.0
    y = (hidden * hidden).sum()
    (g_hidden,) = grad(y, [hidden])
    np.testing.assert_allclose(g_hidden.numpy(), [6.0, 12.0])


def test_grad_of_an_unused_input_raises_unless_allowed():
    x, unused = leaf([1.0]), leaf([1.0])
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match=r"inputs\[1\].*allow_unused=True"):
        grad(y, [x, unused], retain_graph=True)
    gx, g_unused = grad(y, [x, unused], allow_unused=True)
    assert g_unused is None
    np.testing.assert_allclose(gx.numpy(), [2.0])


def test_create_graph_gives_second_derivatives():
    x = leaf([0.5, -1.5])
    y = (x * x * x).sum()
    (gx,) = grad(y, [x], create_graph=True)  # 3x^2
    (ggx,) = grad(gx.sum(), [x])  # 6x
    np.testing.assert_allclose(gx.numpy(), 3 * np.array([0.5, -1.5]) ** 2)
    np.testing.assert_allclose(ggx.numpy(), 6 * np.array([0.5, -1.5]))


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    hidden = (x * 2.0).retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad.numpy(), [4.0, 8.0])


def test_broadcast_gradients_are_reduced_to_the_input_shapes():
    row, column = leaf(np.ones((1, 3))), leaf(np.ones((4, 1)))
    (row * column + row).sum().backward()
    # each row entry meets 4 column entries (each 1) and is broadcast down 4 rows: 4 + 4
    np.testing.assert_allclose(row.grad.numpy(), np.full((1, 3), 8.0))
    np.testing.assert_allclose(column.grad.numpy(), np.full((4, 1), 3.0))


def test_a_wrong_gradient_shape_names_the_op():
    class BadShape(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.sum()

    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"op BadShape.*shape \(\).*input 0.*\(2,\)"):
        BadShape().apply(x).sum().backward()


def test_advanced_indexing_scatters_repeated_indices_additively():
    x = leaf([10.0, 20.0, 30.0])
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_missing_output_gradient_of_a_multi_output_op_counts_as_zero():
    x = leaf(np.arange(4.0))
    first, _second = tg.split(x, 2)
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 0.0, 0.0])


def test_backward_needs_a_gradient_for_non_scalar_outputs():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="one-element outputs"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])


def test_leaf_gradients_do_not_alias_the_upstream_gradient():
    a, b = leaf([1.0]), leaf([2.0])
    upstream = np.array([5.0])
    (a + b).backward(upstream)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert not np.shares_memory(a.grad.data, upstream)


def test_comparisons_are_not_differentiable():
    x = leaf([1.0, -1.0])
    mask = x > 0
    assert mask.dtype == bool and not mask.requires_grad


def test_float32_is_the_default_dtype_and_float64_on_request():
    assert tg.tensor([1.0, 2.0]).dtype == np.float32
    assert tg.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert (tg.tensor([1.0]) * 2.5).dtype == np.float32


def test_requires_grad_needs_a_float_dtype():
    with pytest.raises(TypeError, match="floating dtype.*int64"):
        tg.tensor([1, 2], requires_grad=True)


def test_changing_a_tensor_whose_view_was_saved_is_caught():
    weight = tg.tensor(np.ones((2, 3)), requires_grad=True, name="w")
    loss = (tg.tensor(np.ones((4, 3))) @ weight.T).sum() * 1.0
    product = tg.tensor(np.ones((4, 2))) @ weight[:, :2].reshape(2, 2)  # a saved view
    with tg.no_grad():
        weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="'view of w'.*modified in place"):
        product.sum().backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def _arrays_held_by(node) -> list[str]:
    """Names of the node's attributes that still hold an array (directly or in a tuple)."""
    held = []
    for name, value in vars(node).items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        if name != "inputs" and any(isinstance(v, np.ndarray) for v in values):
            held.append(name)
    return held


def test_no_op_holds_an_array_after_backward_releases_the_graph():
    import tinygen.nn.functional as F
    from tinygen.autograd.ops.recurrent import row_conv
    from tinygen.autograd.ops.skew import skew

    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal((2, 3, 6, 6)))
    conv_w, deconv_w = leaf(rng.standard_normal((4, 3, 3, 3))), leaf(
        rng.standard_normal((4, 2, 2, 2)))
    gates, c0 = leaf(rng.standard_normal((5, 8))), leaf(rng.standard_normal((5, 2)))
    rows, kernel = leaf(rng.standard_normal((2, 4, 3))), leaf(rng.standard_normal((9, 5)))
    bias = leaf(rng.standard_normal(5))
    h = F.conv2d(x, conv_w, padding=1)                        # fused conv (im2col columns)
    running_mean, running_var = np.zeros(4), np.ones(4)
    h = F.batch_norm(h, running_mean, running_var, training=True).relu()
    h = F.max_pool2d(h, 2)
    h = F.conv_transpose2d(h, deconv_w, stride=2)
    hidden, cell = F.lstm_cell(gates, c0)                     # fused LSTM cell (gates)
    row = row_conv(rows, kernel, bias, left=1)                # fused row conv (neighbours)
    loss = (h.sum() + skew(h).sum() + (hidden * cell).sum() + row.sum())
    nodes = tg.autograd.topological_order(loss)

    loss.backward()

    assert len(nodes) > 10
    holding = {node.name: _arrays_held_by(node) for node in nodes if _arrays_held_by(node)}
    assert holding == {}
    assert all(node._cache is None and node._saved_entries == () for node in nodes)


def test_retain_graph_keeps_the_fused_caches_for_a_second_backward():
    import tinygen.nn.functional as F

    rng = np.random.default_rng(1)
    x, weight = leaf(rng.standard_normal((2, 3, 5, 5))), leaf(rng.standard_normal((4, 3, 3, 3)))
    loss = (F.conv2d(x, weight) ** 2).sum()
    loss.backward(retain_graph=True)
    first = weight.grad.numpy().copy()
    weight.grad = None

    loss.backward()

    np.testing.assert_array_equal(weight.grad.numpy(), first)


def test_topological_order_puts_every_node_after_the_nodes_of_its_inputs():
    x = leaf([1.0, 2.0])
    shared = x * 2.0
    loss = (shared.exp() + shared.tanh()).sum()

    order = tg.autograd.topological_order(loss)

    position = {node: i for i, node in enumerate(order)}
    assert order[-1] is loss.grad_fn and len(order) == len(set(order))
    for node in order:
        for tensor in node.inputs:
            if tensor.grad_fn is not None:
                assert position[tensor.grad_fn] < position[node]


class _CountingIdentity(Function):
    calls = 0

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        _CountingIdentity.calls += 1
        return gy


def test_grad_runs_only_the_backwards_that_lead_to_its_inputs():
    x = leaf([1.0, 2.0])
    upstream = _CountingIdentity().apply(x)           # leads only to x: not wanted below
    middle = upstream * 3.0
    loss = (middle * middle).sum()
    _CountingIdentity.calls = 0

    (g_middle,) = grad(loss, [middle])

    np.testing.assert_array_equal(g_middle.numpy(), 2 * middle.numpy())
    assert _CountingIdentity.calls == 0
