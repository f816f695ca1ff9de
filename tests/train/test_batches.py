"""Resumable batch streams: the same batches as tinygen.data's endless and CycledLoader, and a
stream restored from its state_dict (through a checkpoint file) continues exactly."""

import numpy as np
import pytest

from tinygen.data import CycledLoader, DataLoader, endless
from tinygen.train import Checkpoint
from tinygen.train.batches import CycledBatches, EndlessBatches

IMAGES = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
LABELS = np.arange(23)


def _labels(batches) -> list:
    """The label batches, as lists (the last batch of a pass is short)."""
    return [(batch[1] if isinstance(batch[1], np.ndarray) else batch[1].numpy()).tolist()
            for batch in batches]


def test_endless_batches_are_those_of_endless():
    ours, theirs = EndlessBatches(IMAGES, LABELS, 5, seed=3), endless(IMAGES, LABELS, 5, seed=3)
    for _ in range(13):  # 4 batches an epoch (the partial fifth is dropped): over 3 epochs
        (x, y), (x_expected, y_expected) = next(ours), next(theirs)
        np.testing.assert_array_equal(x.numpy(), x_expected.numpy())
        np.testing.assert_array_equal(y, y_expected)
        assert y.dtype == y_expected.dtype
    assert next(EndlessBatches(IMAGES, None, 5, seed=3)).shape == (5, 2)  # images only


@pytest.mark.parametrize("taken", [0, 1, 4, 6, 8])  # before, inside and at the end of epochs
def test_endless_batches_resume_through_a_checkpoint(tmp_path, taken):
    stream, reference = EndlessBatches(IMAGES, LABELS, 5, seed=3), endless(IMAGES, LABELS, 5, 3)
    expected = [next(reference)[1] for _ in range(taken + 6)]
    for _ in range(taken):
        next(stream)
    Checkpoint(tmp_path / "c.npz", data=stream).save(step=taken)

    resumed = EndlessBatches(IMAGES, LABELS, 5, seed=99)
    Checkpoint(tmp_path / "c.npz", data=resumed).load()

    np.testing.assert_array_equal([next(resumed)[1] for _ in range(6)], expected[taken:])


def test_endless_batches_refuse_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 23\], got 24"):
        EndlessBatches(IMAGES, LABELS, 24)


def _loader(seed):
    return DataLoader(IMAGES, LABELS, batch_size=4, shuffle=True, seed=seed)  # 6 a pass


def test_cycled_batches_are_those_of_cycled_loader():
    ours, theirs = CycledBatches(_loader(1), 9), CycledLoader(_loader(1), 9)
    for _ in range(3):  # each epoch cuts its second pass after 3 batches
        assert _labels(ours) == _labels(theirs)
    assert len(ours) == 9


@pytest.mark.parametrize("taken", [0, 2, 6, 8, 9, 13, 18])
def test_cycled_batches_resume_mid_epoch_or_at_its_end(tmp_path, taken):
    reference = CycledBatches(_loader(1), 9)
    expected = [y for _ in range(3) for y in _labels(reference)]
    stream, epochs = CycledBatches(_loader(1), 9), iter(())
    seen = []
    while len(seen) < taken:
        batch = next(epochs, None)
        if batch is None:
            epochs = iter(stream)
            continue
        seen.append(batch)
    if taken % 9 == 0:  # a training loop saves at an epoch's end once the epoch is over
        assert next(epochs, None) is None
    Checkpoint(tmp_path / "c.npz", data=stream).save(step=taken)

    resumed = CycledBatches(_loader(77), 9)
    Checkpoint(tmp_path / "c.npz", data=resumed).load()
    rest = []
    while taken + len(rest) < len(expected):
        rest.extend(_labels(resumed))

    assert _labels(seen) + rest == expected
