"""Activations, math functions and normalizations against PyTorch: values and gradients on
random inputs, the gradient conventions exactly at the kinks (relu at 0, hardtanh at its edges,
clamp at ties, abs at 0, ...), and the layers with the same weights."""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity


def _run(ours, theirs, *values, upstream=None):
    """(output, input gradients) of tinygen and of torch on the same float64 values."""
    ours_in = [tg.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    theirs_in = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
                 for v in values]
    y, y_ref = ours(*ours_in), theirs(*theirs_in)
    gy = np.ones(y.shape) if upstream is None else upstream
    y.backward(tg.tensor(gy))
    y_ref.backward(torch.tensor(gy))
    grads = [t.grad.numpy() for t in ours_in]
    grads_ref = [t.grad.numpy() for t in theirs_in]
    return (y.numpy(), grads), (y_ref.detach().numpy(), grads_ref)


def _assert_same(ours, theirs, rtol=1e-12, atol=1e-14):
    (y, grads), (y_ref, grads_ref) = ours, theirs
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol, err_msg="output")
    for index, (g, g_ref) in enumerate(zip(grads, grads_ref, strict=True)):
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=atol, err_msg=f"grad {index}")


# --------------------------------------------------------------------------- kinks
KINKS = [
    ("relu", F.relu, TF.relu, [-1.0, 0.0, 2.0, math.nan]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2),
     [-1.0, 0.0, 2.0]),
    ("elu", F.elu, TF.elu, [-1.0, 0.0, 2.0, math.nan]),
    ("selu", F.selu, TF.selu, [-1.0, 0.0, 2.0, math.nan]),
    ("celu", lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0), [-1.0, 0.0, 2.0]),
    ("hardtanh", F.hardtanh, TF.hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0, math.nan]),
    ("hardtanh_custom", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0),
     [-0.5, 0.0, 2.0, 3.0]),
    ("relu6", F.relu6, TF.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0, math.nan]),
    ("softsign", F.softsign, TF.softsign, [-1.0, 0.0, 1.0]),
    ("abs", tg.abs, torch.abs, [-1.0, 0.0, 1.0, math.nan]),
    ("clamp_scalar_ties", lambda x: tg.clamp(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0),
     [-2.0, -1.0, 0.0, 1.0, 2.0]),
    ("clamp_min_only_tie", lambda x: tg.clamp(x, min=0.0), lambda x: torch.clamp(x, min=0.0),
     [-1.0, 0.0, 1.0]),
    ("sign", tg.sign, torch.sign, [-1.0, 0.0, 1.0, math.nan, math.inf]),
    ("floor", tg.floor, torch.floor, [-1.0, -0.5, 0.0, 2.0]),
    ("ceil", tg.ceil, torch.ceil, [-1.0, -0.5, 0.0, 2.0]),
    ("round", tg.round, torch.round, [-1.5, -0.5, 0.5, 1.5, 2.5]),
    ("maximum_tie", lambda x: tg.maximum(x, tg.zeros_like(x)),
     lambda x: torch.maximum(x, torch.zeros_like(x)), [-1.0, 0.0, 1.0]),
]


@pytest.mark.parametrize("name, ours, theirs, points", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_the_kinks_and_at_nan_matches_torch(name, ours, theirs, points):
    _assert_same(*_run(ours, theirs, points))


def test_hardsigmoid_gradient_at_its_edges_matches_torch():
    # PyTorch forms the slope 1/6 in float32 even for float64 inputs: compare to that precision
    _assert_same(*_run(F.hardsigmoid, TF.hardsigmoid, [-4.0, -3.0, 0.0, 3.0, 4.0, math.nan]),
                 rtol=1e-7)


@pytest.mark.parametrize("name", ["elu", "selu", "celu"])
def test_elu_family_second_derivatives_at_zero_and_infinity_match_torch(name):
    # PyTorch takes the slope's own derivative on x < 0 only, and a slope of scale at +inf
    values = [-1.0, 0.0, 1.0, math.inf]
    x, x_ref = tg.tensor(values, dtype=np.float64, requires_grad=True), torch.tensor(
        values, dtype=torch.float64, requires_grad=True)
    gy, gy_ref = tg.tensor(np.full(4, 0.5), requires_grad=True), torch.full(
        (4,), 0.5, dtype=torch.float64, requires_grad=True)
    (gx,) = tg.autograd.grad(getattr(F, name)(x), [x], [gy], create_graph=True)
    (gx_ref,) = torch.autograd.grad(getattr(TF, name)(x_ref), x_ref, gy_ref, create_graph=True)
    second = tg.autograd.grad(gx, [x, gy], [tg.ones_like(gx)])
    second_ref = torch.autograd.grad(gx_ref, (x_ref, gy_ref), torch.ones_like(gx_ref))
    for mine, reference in zip(second, second_ref, strict=True):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-12)


def test_prelu_gradient_at_zero_matches_torch():
    _assert_same(*_run(F.prelu, TF.prelu, [[-1.0, 0.0], [0.0, 2.0]], [0.25, 0.5]))


def test_clamp_tensor_bounds_at_ties_and_crossed_bounds_match_torch():
    x = [-1.0, 0.0, 1.0, 2.0, 0.5, -3.0, 5.0]
    low = [-1.0, -1.0, -1.0, 3.0, 1.0, -2.0, -2.0]  # ties with x, then low > high
    high = [1.0, 1.0, 1.0, 2.0, 0.0, 2.0, 2.0]
    _assert_same(*_run(tg.clamp, torch.clamp, x, low, high))
    _assert_same(*_run(lambda a, b: tg.clamp(a, min=b), lambda a, b: torch.clamp(a, min=b),
                       x, low))
    _assert_same(*_run(lambda a, b: tg.clamp(a, max=b), lambda a, b: torch.clamp(a, max=b),
                       x, high))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the NaN cases, as NumPy
def test_xlogy_at_zero_matches_torch_including_nans():
    x = [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
    y = [0.0, -1.0, 2.0, math.inf, 0.5, 3.0]
    _assert_same(*_run(tg.xlogy, torch.xlogy, x, y))
    nan_case = tg.xlogy(tg.tensor([0.0]), tg.tensor([math.nan]))
    assert np.isnan(nan_case.item())


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # -inf - -inf, as NumPy
def test_logaddexp_at_infinities_matches_torch():
    a, b = [0.0, -math.inf, math.inf, 1e4], [1.0, -math.inf, 0.0, -1e4]
    (y, grads), (y_ref, grads_ref) = _run(tg.logaddexp, torch.logaddexp, a, b)
    np.testing.assert_array_equal(y, y_ref)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-12)  # NaN where torch has NaN


def _second_order(framework, function, *values):
    """(first derivatives, second derivatives) of sum(function(*values)): the gradient of the
    summed first derivatives with respect to every input (zeros where it does not depend)."""
    inputs = [framework.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
              for v in values]
    grad = tg.autograd.grad if framework is tg else torch.autograd.grad
    first = grad(function(*inputs).sum(), inputs, create_graph=True)
    recorded = [g.sum() for g in first if g.requires_grad]  # x ** 0's is a constant
    second = grad(sum(recorded), inputs, allow_unused=True) if recorded else [None] * len(values)
    second = [np.zeros(np.shape(v)) if g is None else g.detach().numpy()
              for g, v in zip(second, values, strict=True)]
    return [g.detach().numpy() for g in first], second


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 ** -1, log(0), as NumPy
def test_pow_gradients_at_base_zero_match_torch_to_second_order():
    # PyTorch masks d/dbase where exponent == 0 and d/dexponent where base == 0 <= exponent
    base = [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.5, -0.0]
    exponent = [0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 3.0, 2.0]
    ours, theirs = _second_order(tg, tg.pow, base, exponent), \
        _second_order(torch, torch.pow, base, exponent)
    for mine, reference in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-12)  # NaN where torch has NaN


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 0.5, -1.0])
def test_pow_of_a_scalar_exponent_at_zero_matches_torch_to_second_order(exponent):
    x = [0.0, 1.5, math.nan]
    ours = _second_order(tg, lambda t: t ** exponent, x)
    theirs = _second_order(torch, lambda t: t ** exponent, x)
    for mine, reference in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("base", [0.0, 2.0])
def test_rpow_of_a_scalar_base_matches_torch_to_second_order(base):
    exponent = [0.0, 1.0, -1.0, 0.5]
    ours = _second_order(tg, lambda t: base ** t, exponent)
    theirs = _second_order(torch, lambda t: base ** t, exponent)
    for mine, reference in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-12)


@pytest.mark.parametrize("op", ["maximum", "minimum", "max", "min"])
def test_maximum_and_minimum_gradients_at_ties_and_nan_match_torch(op):
    # a tie splits the gradient; a NaN on either side gives the whole of it to both
    a = [1.0, 2.0, math.nan, math.nan, math.inf, 3.0, -math.inf, 0.0]
    b = [1.0, math.nan, 2.0, math.nan, math.nan, 1.0, math.nan, 4.0]
    _assert_same(*_run(getattr(tg, op), getattr(torch, op), a, b,
                       upstream=np.arange(1.0, 9.0)))


@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("alpha", [2, -0.5])
def test_add_and_sub_with_alpha_match_torch(op, alpha):
    a, b = [[1.0, -2.0], [0.5, 3.0]], [0.25, -4.0]
    _assert_same(*_run(lambda x, y: getattr(tg, op)(x, y, alpha=alpha),
                       lambda x, y: getattr(torch, op)(x, y, alpha=alpha), a, b))


# torch refuses to subtract bools; dividing ints gives float64 (NumPy's promotion, PORTING.md)
NUMBER_PAIRS = [(op, a, b) for op in ("add", "sub", "mul", "div")
                for a, b in [(2.5, -4), (7, 2), (True, True), (np.float64(0.1), 0.2)]
                if not (op == "sub" and a is True)
                and not (op == "div" and not isinstance(a, float) and not isinstance(b, float))]


@pytest.mark.parametrize("op, a, b", NUMBER_PAIRS)
def test_arithmetic_of_two_numbers_is_a_0d_tensor_as_in_torch(op, a, b):
    ours, theirs = getattr(tg, op)(a, b), getattr(torch, op)(a, b)

    assert isinstance(ours, tg.Tensor) and ours.shape == ()
    assert ours.dtype == theirs.numpy().dtype
    assert ours.item() == theirs.item()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # x / 0, as NumPy
@pytest.mark.parametrize("rounding_mode", ["trunc", "floor"])
def test_div_rounding_modes_match_torch_with_zero_gradients(rounding_mode):
    a = [7.0, -7.0, 7.5, -7.5, 0.0, 1.0, -1.0, 1e300]
    b = [2.0, 2.0, -2.0, -2.0, 3.0, 0.0, math.inf, 3.0]
    _assert_same(*_run(lambda x, y: tg.div(x, y, rounding_mode=rounding_mode),
                       lambda x, y: torch.div(x, y, rounding_mode=rounding_mode), a, b))


@pytest.mark.parametrize("a, b", [([7, -7, 7, -7, 0], [2, 2, -2, -2, 3]),
                                  ([5, -5], 3)])
@pytest.mark.parametrize("rounding_mode", ["trunc", "floor"])
def test_integer_division_rounds_as_torch(a, b, rounding_mode):
    ours = tg.div(tg.tensor(a), b if isinstance(b, int) else tg.tensor(b),
                  rounding_mode=rounding_mode)
    theirs = torch.div(torch.tensor(a), b if isinstance(b, int) else torch.tensor(b),
                       rounding_mode=rounding_mode)

    assert ours.dtype == np.int64
    assert ours.numpy().tolist() == theirs.tolist()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_floor_divide_and_remainder_operators_match_torch():
    a = [7.0, -7.0, 7.5, -7.5, 0.0, 5.0, -3.0, 1e300]
    b = [2.0, 2.0, -2.0, -2.0, 3.0, 0.0, math.inf, 3.0]
    # torch has no derivative for floor_divide (tinygen's is zero, as div's floor mode)
    quotient = tg.tensor(np.array(a)) // tg.tensor(np.array(b))
    np.testing.assert_array_equal(quotient.numpy(),
                                  (torch.tensor(a, dtype=torch.float64)
                                   // torch.tensor(b, dtype=torch.float64)).numpy())
    _assert_same(*_run(lambda x, y: x % y, lambda x, y: x % y, a, b))
    divisors = [2.0, -3.0, 0.75]  # torch has no derivative for a number % a tensor
    np.testing.assert_array_equal((5.5 % tg.tensor(np.array(divisors))).numpy(),
                                  (5.5 % torch.tensor(divisors, dtype=torch.float64)).numpy())
    _assert_same(*_run(lambda x: tg.remainder(x, -2.5), lambda x: torch.remainder(x, -2.5),
                       a))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_1d_input_is_an_empty_copy_as_in_torch(training):
    stats = np.zeros(0), np.ones(0)
    ours = F.batch_norm(tg.tensor(np.zeros(0), requires_grad=True),
                        *(tg.tensor(s) for s in stats), training=training)
    theirs = TF.batch_norm(torch.zeros(0, dtype=torch.float64, requires_grad=True),
                           *(torch.tensor(s) for s in stats), training=training)

    assert ours.shape == tuple(theirs.shape) == (0,)
    assert ours.requires_grad and theirs.requires_grad


def test_nan_to_num_values_and_gradient_match_torch():
    x = [math.nan, math.inf, -math.inf, 1.5]
    _assert_same(*_run(tg.nan_to_num, torch.nan_to_num, x))
    _assert_same(*_run(lambda t: tg.nan_to_num(t, 1.0, 2.0, -2.0),
                       lambda t: torch.nan_to_num(t, 1.0, 2.0, -2.0), x))


# --------------------------------------------------------------------------- smooth parts
RNG = np.random.default_rng(0)
SAMPLE = RNG.standard_normal((3, 4, 5)) * 2
SMOOTH = [
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
     lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu),
    ("mish", F.mish, TF.mish),
    ("selu", F.selu, TF.selu),
    # PyTorch's celu backward forms 1/alpha in float32: an alpha whose inverse is exact
    ("celu", lambda x: F.celu(x, 0.5), lambda x: TF.celu(x, 0.5)),
    ("softplus_beta", lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    ("softsign", F.softsign, TF.softsign),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid),
    ("glu", lambda x: F.glu(x, 1), lambda x: TF.glu(x, 1)),
    ("erf", tg.erf, torch.erf),
    ("expm1", tg.expm1, torch.expm1),
    ("sin", tg.sin, torch.sin),
    ("cos", tg.cos, torch.cos),
    ("square", tg.square, torch.square),
    ("round_decimals", lambda x: tg.round(x, decimals=2), lambda x: torch.round(x, decimals=2)),
    ("round_negative_decimals", lambda x: tg.round(x * 100, decimals=-1),
     lambda x: torch.round(x * 100, decimals=-1)),
    ("layer_norm", lambda x: F.layer_norm(x, (4, 5)), lambda x: TF.layer_norm(x, (4, 5))),
    ("group_norm", lambda x: F.group_norm(x, 2), lambda x: TF.group_norm(x, 2)),
    ("instance_norm", F.instance_norm, TF.instance_norm),
    ("normalize", F.normalize, TF.normalize),
    ("normalize_p1_dim", lambda x: F.normalize(x, 1.0, -1), lambda x: TF.normalize(x, 1.0, -1)),
    ("normalize_inf", lambda x: F.normalize(x, math.inf, 0),
     lambda x: TF.normalize(x, math.inf, 0)),
    ("batch_norm_ncl", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: TF.batch_norm(x, None, None, training=True)),
]


@pytest.mark.parametrize("name, ours, theirs", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_values_and_gradients_match_torch(name, ours, theirs):
    upstream = None
    if name not in ("glu",):
        upstream = RNG.standard_normal(SAMPLE.shape)
    _assert_same(*_run(ours, theirs, SAMPLE, upstream=upstream), rtol=1e-10, atol=1e-12)


def test_math_functions_of_positive_inputs_match_torch():
    x = np.abs(SAMPLE) + 0.1
    for ours, theirs in ((tg.log1p, torch.log1p), (tg.rsqrt, torch.rsqrt),
                         (tg.reciprocal, torch.reciprocal)):
        _assert_same(*_run(ours, theirs, x), rtol=1e-12)
    _assert_same(*_run(tg.xlogy, torch.xlogy, SAMPLE, x), rtol=1e-12)


def test_lerp_matches_torch_with_tensor_and_scalar_weights():
    start, end, weight = SAMPLE, SAMPLE[::-1] * 3, RNG.uniform(-0.5, 1.5, SAMPLE.shape[-1])
    _assert_same(*_run(tg.lerp, torch.lerp, start, end, weight))
    for scalar in (0.0, 0.3, 0.5, 1.0):
        _assert_same(*_run(lambda s, e, w=scalar: tg.lerp(s, e, w),
                           lambda s, e, w=scalar: torch.lerp(s, e, w), start, end))


def test_erf_matches_torch_over_the_float64_range():
    x = np.concatenate([np.linspace(-7, 7, 100_001), np.geomspace(1e-300, 30, 2000)])
    np.testing.assert_allclose(tg.erf(tg.tensor(x)).numpy(), torch.erf(torch.tensor(x)).numpy(),
                               rtol=5e-16, atol=0)


# --------------------------------------------------------------------------- layers
def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


LAYERS = [
    (lambda: nn.LayerNorm(5), lambda: torch.nn.LayerNorm(5), (4, 3, 5)),
    (lambda: nn.LayerNorm((3, 5), bias=False), lambda: torch.nn.LayerNorm((3, 5), bias=False),
     (4, 3, 5)),
    (lambda: nn.GroupNorm(2, 6), lambda: torch.nn.GroupNorm(2, 6), (3, 6, 4, 4)),
    (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
     lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 5)),
    (lambda: nn.InstanceNorm1d(3), lambda: torch.nn.InstanceNorm1d(3), (2, 3, 6)),
    (lambda: nn.InstanceNorm1d(3, track_running_stats=True),
     lambda: torch.nn.InstanceNorm1d(3, track_running_stats=True), (3, 6)),
    (lambda: nn.PReLU(3, 0.1), lambda: torch.nn.PReLU(3, 0.1), (2, 3, 4)),
    (lambda: nn.PReLU(), lambda: torch.nn.PReLU(), (2, 3, 4)),
    (lambda: nn.GLU(1), lambda: torch.nn.GLU(1), (2, 4, 3)),
    (lambda: nn.Softmax(1), lambda: torch.nn.Softmax(1), (2, 4, 3)),
    (lambda: nn.LogSoftmax(-1), lambda: torch.nn.LogSoftmax(-1), (2, 4, 3)),
    (lambda: nn.Hardtanh(-0.5, 0.5), lambda: torch.nn.Hardtanh(-0.5, 0.5), (2, 4, 3)),
    (lambda: nn.CELU(0.5), lambda: torch.nn.CELU(0.5), (2, 4, 3)),
]


@pytest.mark.parametrize("make_ours, make_theirs, shape", LAYERS)
def test_layer_matches_torch_with_the_same_weights(make_ours, make_theirs, shape):
    ours, theirs = make_ours(), make_theirs()
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(3)
    for _ in range(2):  # twice: running statistics move in between
        x = rng.standard_normal(shape).astype(np.float32)
        x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, y_ref = ours(x_ours), theirs(x_theirs)
        np.testing.assert_allclose(y.numpy(), y_ref.detach().numpy(), rtol=1e-5, atol=1e-5)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(tg.tensor(gy))
        y_ref.backward(torch.tensor(gy))
        np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-4,
                                   atol=1e-5)
        reference = dict(theirs.named_parameters())
        for name, param in ours.named_parameters():
            np.testing.assert_allclose(param.grad.numpy(), reference[name].grad.numpy(),
                                       rtol=1e-4, atol=1e-5, err_msg=name)
    for name, buffer in theirs.named_buffers():
        np.testing.assert_allclose(dict(ours.named_buffers())[name].numpy(), buffer.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach()
                               .numpy(), rtol=1e-5, atol=1e-5)


def test_layer_reprs_and_state_dict_keys_match_torch():
    pairs = [(nn.ReLU(True), torch.nn.ReLU(True)), (nn.LeakyReLU(0.2, inplace=True),
             torch.nn.LeakyReLU(0.2, inplace=True)), (nn.ELU(alpha=1.0, inplace=False),
             torch.nn.ELU(alpha=1.0, inplace=False)), (nn.GELU("tanh"), torch.nn.GELU("tanh")),
             (nn.Mish(True), torch.nn.Mish(True)), (nn.Hardsigmoid(True),
             torch.nn.Hardsigmoid(True)), (nn.Hardtanh(-2.0, 2.0), torch.nn.Hardtanh(-2.0, 2.0)),
             (nn.PReLU(3), torch.nn.PReLU(3)), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
             (nn.Softplus(), torch.nn.Softplus()), (nn.LayerNorm((2, 3)),
             torch.nn.LayerNorm((2, 3))), (nn.GroupNorm(2, 4, affine=False),
             torch.nn.GroupNorm(2, 4, affine=False)), (nn.InstanceNorm2d(3),
             torch.nn.InstanceNorm2d(3)), (nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
