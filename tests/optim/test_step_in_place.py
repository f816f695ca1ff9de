"""step() is array code on the parameters' own arrays: it allocates nothing after the first
step, follows ``p.data`` when it is replaced, and keeps parameters of different shapes and
dtypes apart although they share scratch arrays."""

import tracemalloc

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim

# every optimizer with every option that adds work to its step
FULL_OPTIONS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.1,
             "maximize": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"amsgrad": True}),
    ("RMSprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {"lr_decay": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {"weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(FULL_OPTIONS)]


def _with_grad(array) -> nn.Parameter:
    param = nn.Parameter(array)
    param.grad = tg.tensor(np.cos(np.arange(array.size)).reshape(array.shape)
                           .astype(array.dtype))
    return param


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_a_step_after_the_first_allocates_no_parameter_sized_array(name, kwargs):
    param = _with_grad(np.linspace(-1, 1, 100_000))  # 800 kB
    optimizer = getattr(optim, name)([param], **kwargs)
    optimizer.step()  # the state and the scratch arrays are made here
    tracemalloc.start()
    try:
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < param.data.nbytes // 10


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_a_replaced_data_array_is_the_one_updated(name, kwargs):
    """``p.data = new`` between steps: the step writes the new array (there is no cached
    view of the old one to go stale) and continues the same trajectory."""
    start = np.linspace(-1, 1, 12).reshape(3, 4)
    replaced, reference = _with_grad(start.copy()), _with_grad(start.copy())
    optimizers = [getattr(optim, name)([p], **kwargs) for p in (replaced, reference)]
    for optimizer in optimizers:
        optimizer.step()
    old = replaced.data
    replaced.data = old.copy()
    kept = old.copy()
    for optimizer in optimizers:
        optimizer.step()
    np.testing.assert_array_equal(old, kept)
    np.testing.assert_array_equal(replaced.numpy(), reference.numpy())


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_parameters_sharing_scratch_arrays_each_follow_their_own_run(name, kwargs):
    """Two parameters of one shape and a third of another dtype, in one group, against
    each stepped alone: the scratch arrays they share carry nothing between them."""
    def make():
        return [_with_grad(np.linspace(-1, 1, 6).reshape(2, 3)),
                _with_grad(np.linspace(2, 3, 6).reshape(2, 3)),
                _with_grad(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))]

    together, alone = make(), make()
    optimizer = getattr(optim, name)(together, **kwargs)
    singles = [getattr(optim, name)([param], **kwargs) for param in alone]
    for _ in range(3):
        optimizer.step()
        for single in singles:
            single.step()
    for mine, reference in zip(together, alone, strict=True):
        assert mine.dtype == reference.dtype
        np.testing.assert_array_equal(mine.numpy(), reference.numpy())


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_a_parameter_without_a_gradient_is_left_alone(name, kwargs):
    used, unused = _with_grad(np.ones(3)), nn.Parameter(np.ones(3))
    optimizer = getattr(optim, name)([used, unused], **kwargs)
    optimizer.step()
    np.testing.assert_array_equal(unused.numpy(), np.ones(3))
    assert not used.numpy().tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_a_non_contiguous_parameter_is_updated_as_a_contiguous_one(name, kwargs):
    grid = np.linspace(-1, 1, 12).reshape(4, 3)
    strided, contiguous = _with_grad(grid.copy()), _with_grad(grid.copy())
    strided.data = np.asfortranarray(grid.copy())[::1, ::1]
    assert not strided.data.flags.c_contiguous
    for param in (strided, contiguous):
        optimizer = getattr(optim, name)([param], **kwargs)
        optimizer.step()
        optimizer.step()
    np.testing.assert_array_equal(strided.numpy(), contiguous.numpy())


def test_step_bumps_the_version_of_each_updated_parameter_only():
    used, unused = _with_grad(np.ones(3)), nn.Parameter(np.ones(3))
    before = (used._version[0], unused._version[0])
    optim.Adam([used, unused]).step()
    assert (used._version[0], unused._version[0]) == (before[0] + 1, before[1])


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_an_update_split_across_threads_equals_the_whole_update_bit_for_bit(
        name, kwargs, monkeypatch):
    """Blocks of rows on three threads (uneven: 7 rows) against the update in one piece:
    every operation is elementwise, so the blocks must not change a single rounding."""
    from tinygen.optim import optimizer as base

    def run(threads):
        monkeypatch.setattr(base, "PARALLEL_BLOCK_SIZE", 1)
        monkeypatch.setattr(base, "blas_threads", lambda array: threads)
        params = [_with_grad(np.linspace(-1, 1, 35).reshape(7, 5)),
                  _with_grad(np.linspace(-2, 1, 4, dtype=np.float32)), _with_grad(
                      np.array(0.5))]
        optimizer = getattr(optim, name)(params, **kwargs)
        for _ in range(3):
            optimizer.step()
        return [param.numpy() for param in params]

    for split, whole in zip(run(3), run(1), strict=True):
        np.testing.assert_array_equal(split, whole)


@pytest.mark.parametrize(("name", "kwargs"), FULL_OPTIONS, ids=IDS)
def test_scratch_memory_is_one_largest_parameter_per_work_array(name, kwargs):
    params = [_with_grad(np.ones(shape)) for shape in [(3, 4), (50,), (2, 5, 2), (7,), ()]]
    optimizer = getattr(optim, name)(params, **kwargs)
    optimizer.step()
    largest = max(param.data.nbytes for param in params)
    assert optimizer._scratch_arrays  # every update works through them
    assert all(array.nbytes == largest for array in optimizer._scratch_arrays.values())
