"""The codes behind latent-space pictures: class rows, straight paths, a direction by a score,
a 2-D lattice, and the scatter plot of 2-D codes."""

import numpy as np
import pytest
from PIL import Image

import tinygen as tg
from tinygen.train import (
    class_rows,
    latent_direction,
    latent_lattice,
    latent_paths,
    save_latent_scatter,
)


def test_class_rows_repeat_the_codes_once_per_class():
    codes = np.arange(6, dtype=np.float32).reshape(3, 2)
    tiled, labels = class_rows(codes, classes=4)
    assert tiled.shape == (12, 2) and labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    np.testing.assert_array_equal(tiled[6:9], codes)  # the row of class 2 keeps every code


def test_latent_paths_run_straight_from_each_even_code_to_the_next():
    codes = np.array([[0, 0], [1, 2], [4, 4], [4, 0]], np.float32)
    paths = latent_paths(codes, steps=5)
    assert paths.shape == (2, 5, 2) and paths.dtype == np.float32
    np.testing.assert_array_equal(paths[:, 0], codes[0::2])
    np.testing.assert_array_equal(paths[:, -1], codes[1::2])
    np.testing.assert_allclose(paths[0, 2], [0.5, 1.0])  # the midpoint
    with pytest.raises(ValueError, match=r"codes must be \(2P, d\), got shape \(3, 2\)"):
        latent_paths(codes[:3])


def test_latent_direction_points_from_low_to_high_scores():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((1000, 3))
    direction = latent_direction(codes, scores=codes[:, 1], count=100)
    assert direction[1] > 2 and abs(direction[0]) < 0.3 and abs(direction[2]) < 0.3
    with pytest.raises(ValueError, match="count=0"):
        latent_direction(codes, codes[:, 1], count=0)


def test_latent_lattice_reads_like_a_picture():
    lattice = latent_lattice(count=3, extent=1.0)
    assert lattice.shape == (9, 2) and lattice.dtype == np.float32
    np.testing.assert_array_equal(lattice[:3], [[-1, 1], [0, 1], [1, 1]])  # top row: z[1] high
    np.testing.assert_array_equal(lattice[-1], [1, -1])


def test_save_latent_scatter_writes_a_png_of_tensor_or_array_codes(tmp_path):
    codes = tg.tensor(np.random.default_rng(0).standard_normal((50, 2)).astype(np.float32))
    path = save_latent_scatter(codes, np.arange(50) % 10, tmp_path / "sub" / "scatter.png",
                               title="codes", label="digit")
    assert path.is_file() and Image.open(path).size[0] > 100
    with pytest.raises(ValueError, match=r"codes must be \(N, 2\), got shape \(50, 3\)"):
        save_latent_scatter(np.zeros((50, 3)), np.zeros(50), tmp_path / "x.png")
