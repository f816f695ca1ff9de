"""Batch augmentations: dynamic binarization and random shifts, drawn from tinygen's generator."""

import numpy as np

import tinygen as tg
from tinygen.data import dynamic_binarize, random_shift


def test_dynamic_binarize_draws_bernoulli_pixels_of_any_shape():
    tg.manual_seed(0)
    grey = tg.tensor(np.full((4000, 2, 3), 0.3, np.float32))
    binary = dynamic_binarize(grey).numpy()
    assert binary.shape == (4000, 2, 3) and binary.dtype == np.float32
    assert set(np.unique(binary)) == {0.0, 1.0}
    assert abs(binary.mean() - 0.3) < 0.01
    tg.manual_seed(0)
    np.testing.assert_array_equal(dynamic_binarize(grey).numpy(), binary)  # the seed decides


def test_random_shift_keeps_the_input_shape_and_moves_within_max_shift():
    tg.manual_seed(1)
    images = np.zeros((300, 1, 5, 7), np.float32)
    images[:, 0, 2, 3] = 1.0  # one lit pixel in the middle of every 5x7 image
    shifted = random_shift(tg.tensor(images), max_shift=1, size=(5, 7)).numpy()
    assert shifted.shape == images.shape
    rows, columns = np.nonzero(shifted[:, 0].sum(axis=0))
    assert set(rows) == {1, 2, 3} and set(columns) == {2, 3, 4}  # offsets -1, 0 and 1
    assert shifted.sum(axis=(1, 2, 3)).tolist() == [1.0] * 300  # moved, not lost or copied


def test_a_shift_pushes_pixels_off_the_edge_and_fills_zeros():
    tg.manual_seed(2)
    edge = np.zeros((400, 9), np.float32)
    edge[:, 0] = 1.0  # the top-left pixel of a 3x3 image
    kept = random_shift(tg.tensor(edge), max_shift=1, size=(3, 3)).numpy().sum(axis=1)
    # it survives only when neither offset is +1 (each 1/3): 4/9 of the images
    assert set(kept.tolist()) == {0.0, 1.0} and abs(kept.mean() - 4 / 9) < 0.08
