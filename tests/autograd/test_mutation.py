"""Mutation safety: an array a live graph saved for backward cannot be written behind
tinygen's back. Raw writes fail at the write (the array is read-only while the graph lives);
the sanctioned writers lift the lock, write, and bump the version, so backward names the op.
"""

import gc

import numpy as np
import pytest

import tinygen as tg
from tinygen import nn, optim
from tinygen.autograd.tensor import lock_holders


def leaf(values, name=None):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, name=name)


def weight_and_loss():
    """A weight saved by a Mul node (the loss's graph is alive and not yet backpropagated)."""
    w = leaf([[1.0, 2.0], [3.0, 4.0]], name="w")
    x = tg.tensor(np.full((2, 2), 0.5))
    return w, (x * w).sum()


@pytest.fixture
def no_cycle_collector():
    """What is freed here is freed by reference counting, as a training loop relies on."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


# ----------------------------------------------------------------------------- raw writes
RAW_WRITES = {
    "setitem on .data": lambda w: w.data.__setitem__(Ellipsis, 0.0),
    "augmented assignment to an alias": lambda w: w.data.__iadd__(1.0),
    "ufunc with out=": lambda w: np.add(w.data, 1.0, out=w.data),
    "numpy() alias": lambda w: w.numpy().fill(7.0),
    "detach() alias": lambda w: w.detach().data.__imul__(2.0),
    "np.copyto": lambda w: np.copyto(w.data, np.zeros((2, 2))),
}


@pytest.mark.parametrize("write", RAW_WRITES.values(), ids=RAW_WRITES.keys())
def test_a_raw_write_to_a_saved_array_fails_at_the_write_and_the_gradient_stays_right(write):
    w, loss = weight_and_loss()

    with pytest.raises(ValueError, match="read-only"):
        write(w)

    loss.backward()
    np.testing.assert_array_equal(w.data, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 2), 0.5))


def test_an_alias_taken_before_the_forward_cannot_write_either():
    w = leaf([1.0, 2.0])
    alias = w.data  # the same ndarray object
    loss = (w * w).sum()
    with pytest.raises(ValueError, match="read-only"):
        alias += 1.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])


def test_a_raw_write_to_a_saved_output_fails_at_the_write():
    x = leaf([0.5, -0.5])
    y = x.tanh()  # tanh saves its output
    loss = y.sum()
    with pytest.raises(ValueError, match="read-only"):
        y.data[0] = 0.0
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh([0.5, -0.5]) ** 2)


def test_a_write_to_the_base_of_a_saved_view_fails_at_the_write():
    w = leaf(np.arange(6.0).reshape(2, 3), name="w")
    row = w[0]  # a view of w's array; Mul saves the view
    loss = (row * row).sum()
    assert not w.data.flags.writeable and not row.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        w.data[0, 0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0.0, 2.0, 4.0], [0.0, 0.0, 0.0]])
    assert w.data.flags.writeable and row.data.flags.writeable


def test_lock_holders_names_the_ops_that_saved_the_array():
    w, loss = weight_and_loss()
    product = w @ w

    assert sorted(lock_holders(w)) == ["MatMul", "MatMul", "Mul"]
    assert sorted(lock_holders(w.data)) == ["MatMul", "MatMul", "Mul"]
    del loss, product
    assert lock_holders(w) == []


# ----------------------------------------------------------------------------- lock lifetime
def test_backward_releases_the_locks(no_cycle_collector):
    w, loss = weight_and_loss()
    loss.backward()
    assert w.data.flags.writeable
    w.data[...] = 0.0  # a raw write is fine once no graph saves the array


def test_a_graph_dropped_without_backward_releases_its_locks(no_cycle_collector):
    w, loss = weight_and_loss()
    deeper = (loss * w).tanh().sum()
    assert not w.data.flags.writeable
    del loss
    assert not w.data.flags.writeable  # deeper's graph still saves w
    del deeper
    assert w.data.flags.writeable and lock_holders(w) == []


def test_several_graphs_saving_one_array_each_hold_a_lock_until_released():
    w = leaf([1.0, 2.0])
    first, second = (w * w).sum(), (w * 3.0).sum()
    first.backward()
    assert not w.data.flags.writeable  # second still saves w
    second.backward()
    assert w.data.flags.writeable


def test_retain_graph_keeps_the_locks_until_the_last_backward():
    w, loss = weight_and_loss()
    loss.backward(retain_graph=True)
    assert not w.data.flags.writeable
    loss.backward()
    assert w.data.flags.writeable
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 2), 1.0))


def test_a_retained_graph_releases_its_locks_when_dropped(no_cycle_collector):
    w, loss = weight_and_loss()
    loss.backward(retain_graph=True)
    del loss
    assert w.data.flags.writeable


def test_create_graph_locks_what_the_gradient_graph_saves_until_it_is_dropped(
        no_cycle_collector):
    x = leaf([0.5, 1.5], name="x")
    loss = (x ** 3).sum()
    (gx,) = tg.autograd.grad(loss, [x], create_graph=True)
    assert not x.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 9.0
    (ggx,) = tg.autograd.grad(gx.sum(), [x])
    np.testing.assert_allclose(ggx.numpy(), [3.0, 9.0])  # 6 x
    del loss, gx
    assert x.data.flags.writeable


def test_an_array_read_only_before_the_graph_stays_read_only_after_it():
    frozen = np.array([1.0, 2.0])
    frozen.flags.writeable = False
    x = tg.from_numpy(frozen).requires_grad_()
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert not frozen.flags.writeable


def test_a_view_made_while_its_base_was_locked_is_writable_after_a_graph_saved_it():
    w = leaf([1.0, 2.0, 3.0, 4.0])
    outer = (w * w).sum()  # locks w
    square = w.reshape(2, 2)  # born read-only: a view of a locked array
    inner = (square * square).sum()  # saves the view
    outer.backward()
    assert not square.data.flags.writeable  # inner still saves it
    inner.backward()
    assert w.data.flags.writeable and square.data.flags.writeable


# ----------------------------------------------------------------------------- sanctioned writes
SANCTIONED = {
    "add_": lambda w: w.add_(1.0),
    "sub_": lambda w: w.sub_(1.0, alpha=2.0),
    "mul_": lambda w: w.mul_(2.0),
    "copy_": lambda w: w.copy_(tg.tensor(np.zeros((2, 2)))),
    "fill_": lambda w: w.fill_(3.0),
    "zero_": lambda w: w.zero_(),
    "__setitem__": lambda w: w.__setitem__((0, 1), 5.0),
    "data assignment": lambda w: setattr(w, "data", np.zeros((2, 2))),
    "nn.init on the tensor": lambda w: nn.init.normal_(w),
    "nn.init on its raw array": lambda w: nn.init.uniform_(w.data),
    "nn.init.constant_ on its raw array": lambda w: nn.init.constant_(w.data, 0.5),
}


@pytest.mark.parametrize("write", SANCTIONED.values(), ids=SANCTIONED.keys())
def test_a_sanctioned_write_works_on_a_saved_array_and_backward_names_the_op(write):
    w, loss = weight_and_loss()
    with tg.no_grad():
        write(w)
    with pytest.raises(RuntimeError, match="'w' saved for backward by op Mul was modified"):
        loss.backward()


def test_a_sanctioned_write_keeps_the_array_locked_for_raw_writes():
    w, loss = weight_and_loss()
    with tg.no_grad():
        w.add_(1.0)
    assert not w.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        w.data[0, 0] = 1.0
    del loss


def test_a_sanctioned_write_through_another_tensor_on_the_same_array_is_caught():
    # detach() shares the array but not the version counter: the lock's holders are bumped
    w, loss = weight_and_loss()
    with tg.no_grad():
        w.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="op Mul was modified in place"):
        loss.backward()


def test_a_sanctioned_write_through_a_view_of_a_saved_base_is_caught():
    w = leaf(np.arange(4.0), name="w")
    loss = (w * w).sum()
    alias = tg.Tensor._from_array(w.data[1:3])  # a raw view, with a version of its own
    with tg.no_grad():
        alias.fill_(0.0)
    np.testing.assert_array_equal(w.data, [0.0, 0.0, 0.0, 3.0])
    with pytest.raises(RuntimeError, match="'w' saved for backward by op Mul"):
        loss.backward()


def test_an_in_place_write_to_an_expanded_tensor_is_refused_as_pytorch_does():
    expanded = tg.tensor(np.ones(3)).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element.*single memory location"):
        expanded.add_(1.0)


def test_batch_norm_updates_its_running_stats_while_a_graph_saves_them():
    layer = nn.BatchNorm1d(2)
    scale = tg.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    stats = (layer.running_mean * scale).sum()  # Mul saves the running mean's array
    x = tg.tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32))

    layer(x)

    np.testing.assert_allclose(layer.running_mean.numpy(), [0.2, 0.4])  # 0.1 * batch mean
    assert not layer.running_mean.data.flags.writeable
    with pytest.raises(RuntimeError, match="op Mul was modified in place"):
        stats.backward()


def test_load_state_dict_writes_a_saved_parameter_and_backward_names_the_op():
    layer = nn.Linear(2, 1)
    loss = layer(tg.tensor(np.ones((1, 2), dtype=np.float32))).sum()
    state = {name: value * 0 for name, value in layer.state_dict().items()}

    layer.load_state_dict(state)

    np.testing.assert_array_equal(layer.weight.numpy(), [[0.0, 0.0]])
    with pytest.raises(RuntimeError, match="op Linear was modified in place"):
        loss.backward()


def test_averaged_model_updates_weights_a_live_graph_saved_and_backward_names_the_op():
    model = nn.Linear(2, 1)
    ema = optim.AveragedModel(model, decay=0.5)
    before = ema.module.weight.numpy().copy()
    x = tg.tensor(np.ones((1, 2), dtype=np.float32), requires_grad=True)
    kept = ema(x).sum()  # Linear saves the averaged weight
    with tg.no_grad():
        model.weight.fill_(1.0)

    ema.update_parameters(model)

    np.testing.assert_allclose(ema.module.weight.numpy(), 0.5 * before + 0.5)
    with pytest.raises(RuntimeError, match="op Linear was modified in place"):
        kept.backward()


# ----------------------------------------------------------------------------- training loops
def test_an_optimizer_step_between_forward_and_backward_is_caught_naming_the_op():
    # the GAN mistake: stepping G's optimizer before backpropagating a loss through G
    generator = nn.Linear(2, 2)
    optimizer = optim.SGD(generator.parameters(), lr=0.1)
    fake = generator(tg.tensor(np.ones((1, 2), dtype=np.float32)))
    loss = (fake * fake).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="saved for backward by op Linear was modified"):
        loss.backward()


def test_a_kept_graph_does_not_stop_an_optimizer_stepping_its_parameters():
    # the legit GAN loop: fake = G(z) stays alive through the D step and G's own step
    rng = np.random.default_rng(0)
    generator, critic = nn.Linear(2, 2), nn.Linear(2, 1)
    g_opt, d_opt = optim.Adam(generator.parameters()), optim.Adam(critic.parameters())
    z = tg.tensor(rng.standard_normal((4, 2)).astype(np.float32))
    for _ in range(3):
        fake = generator(z)
        d_opt.zero_grad()
        critic(fake.detach()).mean().backward()
        d_opt.step()
        g_opt.zero_grad()
        (-critic(fake)).mean().backward()
        g_opt.step()
        kept = generator(z)  # a graph kept alive (e.g. for logging) while G steps
        g_opt.step()
        assert kept.requires_grad
    assert all(np.isfinite(p.numpy()).all() for p in generator.parameters())


# ----------------------------------------------------------------------------- the GPU path
class FakeDeviceArray(np.ndarray):
    """Stands in for ``cupy.ndarray`` (tests/test_backend.py): no read-only flag is used."""

    __cuda_array_interface__ = {}


def test_device_arrays_are_not_locked_and_the_version_counter_still_guards_them():
    w = tg.Tensor._from_array(np.ones(3).view(FakeDeviceArray))
    w.requires_grad, w.name = True, "w"
    loss = (w * w).sum()
    assert w.data.flags.writeable and lock_holders(w) == []
    with tg.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="'w' saved for backward by op Mul"):
        loss.backward()


def test_turning_locking_off_leaves_arrays_writable(monkeypatch):
    # what benchmarks/overhead.py compares against
    monkeypatch.setattr("tinygen.autograd.function._LOCK_SAVED_ARRAYS", False)
    w, loss = weight_and_loss()
    assert w.data.flags.writeable and lock_holders(w) == []
    loss.backward()
