"""Random sampling: bernoulli, multinomial, normal, randperm and the in-place normal_ and
uniform_. Distributions are checked statistically on large samples with a fixed seed (each
estimate within 5 standard errors of its exact value), and tinygen.manual_seed makes every
draw repeatable."""

import itertools

import numpy as np
import pytest

import tinygen as tg

SIGMAS = 5


def within_sigmas(estimate, exact, standard_error):
    return np.all(np.abs(np.asarray(estimate) - exact) <= SIGMAS * standard_error)


def frequencies(samples, classes):
    return np.bincount(np.asarray(samples).reshape(-1), minlength=classes) / np.size(samples)


# --------------------------------------------------------------------------- bernoulli
def test_bernoulli_draws_ones_with_each_elements_probability():
    tg.manual_seed(0)
    p = np.array([0.0, 0.05, 0.3, 0.5, 0.95, 1.0])
    draws = tg.bernoulli(tg.tensor(np.tile(p, (40_000, 1)))).numpy()

    rate = draws.mean(axis=0)

    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert within_sigmas(rate, p, np.sqrt(p * (1 - p) / 40_000))
    assert rate[0] == 0.0 and rate[-1] == 1.0


def test_bernoulli_keeps_shape_and_dtype_and_p_overrides_the_values():
    tg.manual_seed(1)
    source = tg.zeros(200_000, dtype=np.float32)
    draws = tg.bernoulli(source, 0.25)
    assert draws.shape == (200_000,) and draws.dtype == np.float32
    assert not draws.requires_grad
    assert within_sigmas(draws.numpy().mean(), 0.25, np.sqrt(0.25 * 0.75 / 200_000))
    assert source.bernoulli(1.0).numpy().min() == 1.0


def test_bernoulli_refuses_invalid_probabilities_and_integer_input():
    with pytest.raises(ValueError, match=r"bernoulli: input must hold probabilities in "
                                         r"\[0, 1\], got 1.5"):
        tg.bernoulli(tg.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"bernoulli: input must hold .*got nan"):
        tg.bernoulli(tg.tensor([np.nan]))
    with pytest.raises(ValueError, match=r"bernoulli: p must be in \[0, 1\], got -0.1"):
        tg.bernoulli(tg.zeros(2), -0.1)
    with pytest.raises(TypeError, match=r"bernoulli: input must have a floating dtype, got "
                                        r"int64"):
        tg.bernoulli(tg.tensor([1, 0]))


# --------------------------------------------------------------------------- multinomial
def test_multinomial_with_replacement_follows_the_normalized_weights():
    tg.manual_seed(2)
    weights = np.array([1.0, 0.0, 3.0, 6.0, 0.0])  # unnormalized, zeros inside and at the end
    samples = tg.multinomial(tg.tensor(weights), 100_000, replacement=True)

    p = weights / weights.sum()
    observed = frequencies(samples.numpy(), 5)

    assert samples.shape == (100_000,) and samples.dtype == np.int64
    assert within_sigmas(observed, p, np.sqrt(p * (1 - p) / 100_000))
    assert observed[1] == 0 and observed[4] == 0


def test_multinomial_draws_each_row_from_its_own_distribution():
    tg.manual_seed(3)
    weights = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0], [0.1, 0.1, 0.8]])
    samples = tg.tensor(weights).multinomial(50_000, replacement=True).numpy()

    assert samples.shape == (3, 50_000)
    for row, p in zip(samples, weights):
        assert within_sigmas(frequencies(row, 3), p, np.sqrt(p * (1 - p) / 50_000))


def test_multinomial_without_replacement_never_repeats_a_category():
    tg.manual_seed(4)
    weights = tg.tensor(np.random.default_rng(0).random((500, 8)) + 0.01)
    samples = tg.multinomial(weights, 8).numpy()
    assert all(sorted(row) == list(range(8)) for row in samples)


def test_multinomial_without_replacement_orders_draws_as_sequential_sampling():
    # P(first = a, second = b) = p_a p_b / (1 - p_a): drawing, removing, renormalizing
    tg.manual_seed(5)
    p = np.array([0.5, 0.3, 0.2, 0.0])
    count = 60_000
    pairs = tg.multinomial(tg.tensor(np.tile(p, (count, 1))), 2).numpy()

    for a, b in itertools.permutations(range(4), 2):
        exact = p[a] * p[b] / (1 - p[a])
        observed = np.mean((pairs[:, 0] == a) & (pairs[:, 1] == b))
        assert within_sigmas(observed, exact, np.sqrt(max(exact * (1 - exact), 1e-12) / count))


def test_multinomial_errors_name_the_argument_as_pytorch_refuses_it():
    good = tg.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match=r"multinomial: input must hold finite, non-negative "
                                         r"weights, got values in \[-1.0, 0.5\]"):
        tg.multinomial(tg.tensor([0.5, -1.0]), 1)
    with pytest.raises(ValueError, match="finite, non-negative"):
        tg.multinomial(tg.tensor([0.5, np.inf]), 1)
    with pytest.raises(ValueError, match=r"every row of input must have a positive sum"):
        tg.multinomial(tg.tensor([[0.5, 0.5], [0.0, 0.0]]), 1, True)
    with pytest.raises(ValueError, match=r"without replacement num_samples must be at most the "
                                         r"number of categories 2, got 3"):
        tg.multinomial(good, 3)
    with pytest.raises(ValueError, match=r"at least num_samples=2 positive weights, got a row "
                                         r"with 1"):
        tg.multinomial(tg.tensor([0.5, 0.0, 0.0]), 2)
    with pytest.raises(ValueError, match=r"num_samples must be a positive int, got 0"):
        tg.multinomial(good, 0)
    with pytest.raises(ValueError, match=r"input must have shape \(C,\) or \(N, C\), got "
                                         r"\(1, 1, 2\)"):
        tg.multinomial(tg.ones(1, 1, 2), 1)
    with pytest.raises(TypeError, match="multinomial: input must have a floating dtype"):
        tg.multinomial(tg.tensor([1, 2]), 1)


def test_multinomial_of_no_rows_is_empty():
    assert tg.multinomial(tg.ones(0, 3), 2).shape == (0, 2)


# --------------------------------------------------------------------------- normal
def test_normal_with_tensor_mean_and_std_broadcasts_and_has_their_moments():
    tg.manual_seed(6)
    mean = tg.tensor(np.array([[-2.0], [0.0], [3.0]]))
    std = tg.tensor(np.array([0.5, 1.0, 2.0] * 20_000))

    draws = tg.normal(mean, std).numpy().reshape(3, 20_000, 3)

    n = 20_000
    sigma = np.array([0.5, 1.0, 2.0])
    assert draws.dtype == np.float64
    assert within_sigmas(draws.mean(axis=1), mean.numpy(), sigma / np.sqrt(n))
    assert within_sigmas(draws.var(axis=1), sigma ** 2, sigma ** 2 * np.sqrt(2 / n))


def test_normal_overloads_as_pytorch():
    tg.manual_seed(7)
    numbers = tg.normal(1.0, 2.0, (50_000,))
    assert numbers.shape == (50_000,) and numbers.dtype == np.float32
    assert within_sigmas(numbers.numpy().mean(), 1.0, 2.0 / np.sqrt(50_000))
    assert tg.normal(tg.zeros(2, 3, dtype=np.float64)).dtype == np.float64  # std = 1.0
    assert tg.normal(0.0, tg.ones(4)).shape == (4,)
    assert not tg.normal(tg.zeros(3, requires_grad=True), 1.0).requires_grad
    np.testing.assert_array_equal(tg.normal(tg.full((3,), 2.5), 0.0).numpy(), 2.5)


def test_normal_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"normal: std must be >= 0, got -1.0"):
        tg.normal(tg.zeros(2), tg.tensor([1.0, -1.0]))
    with pytest.raises(TypeError, match=r"normal: with a number mean and std, size is required"):
        tg.normal(0.0, 1.0)
    with pytest.raises(ValueError, match=r"normal: mean and std must broadcast together, got "
                                         r"shapes \(2, 3\) and \(6,\)"):
        tg.normal(tg.zeros(2, 3), tg.ones(6))


# --------------------------------------------------------------------------- randperm
def test_randperm_is_a_uniform_permutation():
    tg.manual_seed(8)
    count = 30_000
    first = np.array([tg.randperm(4).numpy() for _ in range(count)])

    assert all(sorted(row) == [0, 1, 2, 3] for row in first[:100])
    assert first.dtype == np.int64
    # where 0 lands: uniform over the 4 positions
    landing = frequencies(np.argmax(first == 0, axis=1), 4)
    assert within_sigmas(landing, 0.25, np.sqrt(0.25 * 0.75 / count))


def test_randperm_edge_sizes_and_errors():
    assert tg.randperm(0).shape == (0,)
    assert tg.randperm(1).tolist() == [0]
    with pytest.raises(ValueError, match=r"randperm: n must be a non-negative int, got -1"):
        tg.randperm(-1)


# --------------------------------------------------------------------------- in place
def test_normal_and_uniform_fill_in_place_with_their_moments():
    tg.manual_seed(9)
    t = tg.zeros(100_000, dtype=np.float64)
    version = t._version[0]

    assert t.normal_(2.0, 3.0) is t
    assert within_sigmas(t.numpy().mean(), 2.0, 3.0 / np.sqrt(100_000))
    t.uniform_(-1.0, 3.0)
    assert t.numpy().min() >= -1.0 and t.numpy().max() < 3.0
    assert within_sigmas(t.numpy().mean(), 1.0, 4 / np.sqrt(12 * 100_000))
    assert t._version[0] == version + 2


def test_in_place_draws_into_a_leaf_that_requires_grad_need_no_grad():
    weight = tg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="normal_: in-place change"):
        weight.normal_()
    with tg.no_grad():
        weight.uniform_(0.0, 1.0)
    with pytest.raises(ValueError, match=r"uniform_: from_ must be <= to, got from_=1, to=0"):
        tg.zeros(2).uniform_(1, 0)


# --------------------------------------------------------------------------- seeding
@pytest.mark.parametrize("draw", [
    lambda: tg.bernoulli(tg.full((50,), 0.5)),
    lambda: tg.multinomial(tg.ones(3, 6), 4),
    lambda: tg.multinomial(tg.ones(6), 10, replacement=True),
    lambda: tg.normal(tg.zeros(20), 1.0),
    lambda: tg.normal(0.0, 1.0, (20,)),
    lambda: tg.randperm(20),
    lambda: tg.zeros(20).normal_(),
    lambda: tg.zeros(20).uniform_(),
], ids=["bernoulli", "multinomial", "multinomial_replacement", "normal_tensor",
        "normal_numbers", "randperm", "normal_", "uniform_"])
def test_manual_seed_makes_draws_repeatable(draw):
    tg.manual_seed(123)
    first = draw().numpy()
    tg.manual_seed(123)
    again = draw().numpy()
    different = draw().numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, different)


def test_a_generator_argument_replaces_tinygens_stream():
    first = tg.randperm(30, generator=np.random.default_rng(0)).numpy()
    again = tg.randperm(30, generator=np.random.default_rng(0)).numpy()
    np.testing.assert_array_equal(first, again)
    with pytest.raises(TypeError, match=r"randperm: generator must be a NumPy or CuPy "
                                        r"Generator .*got int"):
        tg.randperm(3, generator=0)


@pytest.mark.gpu
def test_random_draws_stay_on_the_gpu_and_follow_their_distributions():
    tg.manual_seed(10)
    p = tg.tensor(np.array([[0.2, 0.3, 0.5]]), device="cuda")
    samples = tg.multinomial(p, 200_000, replacement=True)
    ones = tg.bernoulli(tg.full((200_000,), 0.3, device="cuda"))
    normals = tg.normal(tg.zeros(200_000, device="cuda"), 2.0)
    order = tg.randperm(10, device="cuda")

    assert all(t.device == "cuda" for t in (samples, ones, normals, order))
    observed = frequencies(samples.numpy(), 3)
    exact = np.array([0.2, 0.3, 0.5])
    assert within_sigmas(observed, exact, np.sqrt(exact * (1 - exact) / 200_000))
    assert within_sigmas(ones.numpy().mean(), 0.3, np.sqrt(0.21 / 200_000))
    assert within_sigmas(normals.numpy().std(), 2.0, 2.0 / np.sqrt(2 * 200_000))
    assert sorted(order.tolist()) == list(range(10))
    distinct = tg.multinomial(tg.ones(50, 10, device="cuda"), 10).numpy()
    assert all(sorted(row) == list(range(10)) for row in distinct)
