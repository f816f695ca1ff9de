"""Image grids: torchvision's make_grid layout, checked against its formula, and PNG output;
the nearest reference image of each sample."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import tinygen as tg
from tinygen.train import make_grid, nearest_neighbours, save_image_grid


@given(count=st.integers(2, 20), nrow=st.integers(1, 10), padding=st.integers(0, 3),
       height=st.integers(1, 5), width=st.integers(1, 5), channels=st.sampled_from([1, 3]))
def test_grid_dimensions_follow_the_make_grid_formula(count, nrow, padding, height, width,
                                                      channels):
    images = np.random.default_rng(0).random((count, channels, height, width))
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=0.5)
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    assert grid.shape == (channels, rows * (height + padding) + padding,
                          cols * (width + padding) + padding)
    for k in range(count):  # image k sits in row k // cols, column k % cols
        top = (k // cols) * (height + padding) + padding
        left = (k % cols) * (width + padding) + padding
        np.testing.assert_allclose(grid[:, top:top + height, left:left + width], images[k],
                                   rtol=1e-6)
    if padding:
        assert (grid[:, :padding] == 0.5).all() and (grid[:, :, -padding:] == 0.5).all()


def test_a_single_image_is_returned_unpadded_like_torchvision():
    image = np.ones((1, 1, 4, 5), dtype=np.float32)
    assert make_grid(image, padding=2).shape == (1, 4, 5)


def test_normalize_maps_the_value_range_to_unit_interval():
    images = np.array([-1.0, 0.0, 1.0, 3.0]).reshape(2, 1, 1, 2)
    grid = make_grid(images, padding=0, normalize=True, value_range=(-1.0, 1.0))
    np.testing.assert_allclose(grid.ravel(), [0.0, 0.5, 1.0, 1.0], atol=1e-6)
    grid = make_grid(images, padding=0, normalize=True)  # the batch's own min and max
    np.testing.assert_allclose(grid.ravel(), [0.0, 0.25, 0.5, 1.0], atol=1e-5)


def test_save_image_grid_writes_the_rounded_pixels(tmp_path):
    images = tg.tensor(np.array([0.0, 0.5, 1.0, 0.25], dtype=np.float32).reshape(4, 1, 1, 1))
    path = save_image_grid(images, tmp_path / "grid.png", nrow=2, padding=1, pad_value=1.0)
    with Image.open(path) as image:
        pixels = np.asarray(image)
    assert image.mode == "L" and pixels.shape == (5, 5)
    assert pixels[1, 1] == 0 and pixels[1, 3] == 128 and pixels[3, 1] == 255
    assert pixels[3, 3] == 64 and pixels[0].tolist() == [255] * 5


def test_rgb_batches_save_as_rgb(tmp_path):
    images = np.zeros((3, 3, 2, 2), dtype=np.uint8)
    with Image.open(save_image_grid(images, tmp_path / "rgb.png")) as image:
        assert image.mode == "RGB" and image.size == (3 * 4 + 2, 6)


def test_bad_shapes_name_what_was_expected():
    with pytest.raises(ValueError, match=r"C in \(1, 3\), got shape \(2, 2, 4, 4\)"):
        make_grid(np.zeros((2, 2, 4, 4)))


def test_nearest_neighbours_finds_each_query_and_its_euclidean_distance():
    rng = np.random.default_rng(0)
    references = rng.random((50, 1, 4, 4))
    queries = references[[7, 3, 41]] + 0.01 * rng.standard_normal((3, 1, 4, 4))
    indices, distances = nearest_neighbours(queries, references)
    assert indices.tolist() == [7, 3, 41]
    expected = np.linalg.norm((queries - references[[7, 3, 41]]).reshape(3, -1), axis=1)
    np.testing.assert_allclose(distances, expected, rtol=1e-6)
    _, exact = nearest_neighbours(references[:2], references)
    np.testing.assert_allclose(exact, 0.0, atol=1e-6)  # no NaN from a round-off negative
    with pytest.raises(ValueError, match="queries have 16 pixels, references 9"):
        nearest_neighbours(queries, np.zeros((2, 3, 3)))
