"""Toy 2-D datasets: shapes, determinism, and the geometry each one promises."""

import numpy as np
import pytest

from tinygen.data import gaussian_mixture, mixture_centres, moons, ring


@pytest.mark.parametrize("make", [ring, gaussian_mixture, moons])
def test_toy_sets_are_float32_pairs_and_reproducible(make):
    points = make(101, seed=4)
    assert points.shape == (101, 2) and points.dtype == np.float32
    np.testing.assert_array_equal(points, make(101, seed=4))
    assert not np.array_equal(points, make(101, seed=5))


def test_ring_points_lie_near_the_radius():
    radius = np.linalg.norm(ring(2000, radius=1.5, noise=0.01, seed=0), axis=1)
    assert abs(radius.mean() - 1.5) < 0.01 and radius.std() < 0.02


def test_gaussian_mixture_covers_every_mode_tightly():
    points = gaussian_mixture(4000, seed=0)
    distances = np.linalg.norm(points[:, None] - mixture_centres()[None], axis=2)
    nearest = distances.argmin(axis=1)
    assert np.bincount(nearest, minlength=8).min() > 400  # about 500 each
    assert distances.min(axis=1).max() < 0.2  # std 0.02: 10 sigma


def test_moons_split_evenly_between_the_two_half_circles():
    points = moons(1000, noise=0.0, seed=0)
    upper = np.isclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-5)
    lower = np.isclose(np.linalg.norm(points - [1.0, 0.5], axis=1), 1.0, atol=1e-5)
    assert upper.sum() + lower.sum() - (upper & lower).sum() == 1000
    assert (points[upper][:, 1] >= 0).all()
    assert abs(upper.sum() - 500) <= (upper & lower).sum()


def test_bad_size_names_the_argument():
    with pytest.raises(ValueError, match="ring: n must be a positive int, got 0"):
        ring(0)
