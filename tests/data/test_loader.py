"""DataLoader: coverage of every example, reproducible shuffles, resumable mid-epoch; endless
streams of batches; a small loader cycled for a fixed number of batches."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygen import Tensor
from tinygen.backend import DeviceError
from tinygen.data import CycledLoader, DataLoader, endless


def _labels_seen(loader):
    return [batch[-1].numpy().tolist() for batch in loader]


@given(count=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_an_epoch_visits_each_example_once_in_len_batches(count, batch_size, drop_last,
                                                          shuffle):
    x = np.arange(count * 2, dtype=np.float32).reshape(count, 2)
    loader = DataLoader(x, np.arange(count), batch_size=batch_size, shuffle=shuffle,
                        drop_last=drop_last, seed=0)
    batches = _labels_seen(loader)
    assert len(batches) == len(loader)
    assert all(len(batch) == batch_size for batch in batches[:-1])
    seen = [i for batch in batches for i in batch]
    if drop_last:
        assert len(seen) == count - count % batch_size
        assert all(len(batch) == batch_size for batch in batches)
    else:
        assert sorted(seen) == list(range(count))


def test_batches_are_tensors_with_rows_aligned_across_arrays():
    x = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    loader = DataLoader(x, np.arange(10), batch_size=4, shuffle=True, seed=1)
    for xb, yb in loader:
        assert isinstance(xb, Tensor) and xb.device == "cpu"
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


def test_same_seed_same_order_and_each_epoch_reshuffles():
    first = DataLoader(np.arange(50), batch_size=50, shuffle=True, seed=7)
    second = DataLoader(np.arange(50), batch_size=50, shuffle=True, seed=7)
    epoch1, epoch2 = _labels_seen(first), _labels_seen(first)
    assert epoch1 == _labels_seen(second)
    assert epoch1 != epoch2


def test_loaded_state_resumes_the_rest_of_the_epoch_then_continues_identically():
    reference = DataLoader(np.arange(30), batch_size=4, shuffle=True, seed=3)
    expected = _labels_seen(reference) + _labels_seen(reference)

    interrupted = DataLoader(np.arange(30), batch_size=4, shuffle=True, seed=3)
    seen = []
    for (batch,) in interrupted:
        seen.append(batch.numpy().tolist())
        if len(seen) == 3:
            break
    resumed = DataLoader(np.arange(30), batch_size=4, shuffle=True, seed=99)
    resumed.load_state_dict(interrupted.state_dict())
    seen += _labels_seen(resumed) + _labels_seen(resumed)
    assert seen == expected


def test_without_a_loaded_state_an_abandoned_epoch_restarts():
    loader = DataLoader(np.arange(8), batch_size=2)
    next(iter(loader))
    assert len(_labels_seen(loader)) == 4


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match=r"same length, got \[3, 4\]"):
        DataLoader(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(np.zeros(3), batch_size=0)
    with pytest.raises(DeviceError, match=r"device must be one of \('cpu', 'cuda'\), got 'tpu'"):
        DataLoader(np.zeros(3), device="tpu")


# ----------------------------------------------------------------------------- endless
@given(count=st.integers(1, 30), batch_size=st.integers(1, 30), seed=st.integers(0, 99))
def test_endless_yields_the_batches_of_a_shuffled_drop_last_loader_epoch_after_epoch(
        count, batch_size, seed):
    if batch_size > count:
        batch_size = count
    images = np.arange(count, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    loader = DataLoader(images, batch_size=batch_size, shuffle=True, drop_last=True,
                        seed=seed)
    expected = [batch.numpy().tolist() for _ in range(3) for (batch,) in loader]
    stream = endless(images, batch_size=batch_size, seed=seed)
    assert [next(stream).numpy().tolist() for _ in expected] == expected


def test_endless_keeps_labels_aligned_and_as_numpy():
    images = np.arange(10, dtype=np.float32)[:, None]
    x, labels = next(endless(images, np.arange(10) * 2, batch_size=4, seed=0))
    assert isinstance(x, Tensor) and isinstance(labels, np.ndarray) and labels.shape == (4,)
    np.testing.assert_array_equal(x.numpy()[:, 0] * 2, labels)


def test_endless_refuses_a_batch_larger_than_the_data_and_misaligned_labels():
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 3\], got 4"):
        next(endless(np.zeros((3, 2)), batch_size=4))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        next(endless(np.zeros((3, 2)), np.zeros(2), batch_size=1))


# ----------------------------------------------------------------------------- CycledLoader
def test_cycled_loader_runs_its_loaders_epochs_back_to_back_for_a_fixed_number_of_batches():
    cycled = CycledLoader(DataLoader(np.arange(5), batch_size=2, shuffle=True, seed=4), 7)
    reference = DataLoader(np.arange(5), batch_size=2, shuffle=True, seed=4)
    epochs = [_labels_seen(reference) for _ in range(6)]  # 3 batches each: 2, 2 and 1
    assert len(cycled) == 7
    # 7 batches: two whole epochs and the first batch of a third, which the next pass drops
    assert _labels_seen(cycled) == epochs[0] + epochs[1] + epochs[2][:1]
    assert _labels_seen(cycled) == epochs[3] + epochs[4] + epochs[5][:1]


def test_cycled_loader_refuses_a_count_that_is_not_positive():
    with pytest.raises(ValueError, match="batches must be a positive int, got 0"):
        CycledLoader(DataLoader(np.arange(3)), 0)
