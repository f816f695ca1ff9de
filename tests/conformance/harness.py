"""Run PyTorch's samples of one op through torch and tinygen and compare, at float64.

For each ``SampleInput`` of an op_db entry (float64, inputs requiring grad):

1. forward: the outputs' structure, shapes, dtypes and values;
2. first order: the VJP for a random upstream gradient (seeded per sample) with respect to
   every float input that requires grad;
3. second order: the gradient of ``<VJP, v>`` (v random) with respect to those inputs and to
   the upstream gradient itself (as PyTorch's gradgradcheck does: a backward that is linear
   in the upstream gradient is checked too), where torch has a double backward.

A sample is *skipped* only for a reason in :data:`SKIP_REASONS` (what tinygen deliberately
does not do: complex numbers, sparse layouts, ``out=``, ...). Anything else that differs,
including an exception that only tinygen raises, is a *failure*, described with the sample
and the size of the difference.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

import tinygen
from tinygen import autograd as tg_autograd

from .mapping import Target, is_in_place

#: float64 tolerances for every comparison (values and gradients): ``|a - b| <= ATOL + RTOL*|b|``
RTOL = 1e-7
ATOL = 1e-10

#: the most samples one op runs in the pytest run and the report (max_pool2d alone has 1440):
#: spread evenly over the op's samples, they keep the suite within minutes on two cores
SAMPLE_CAP = 128

# The named reasons a sample may be skipped for. Nothing else is a skip.
COMPLEX = "complex dtype"
SPARSE = "sparse layout"
QUANTIZED = "quantized"
OUT_ARGUMENT = "out= argument"
MEMORY_FORMAT = "memory_format argument (positional)"
GENERATOR = "generator= argument"
NON_FLOAT64 = "non-float64 dtype sample"
NO_FLOAT64_OP = "integer input dtype (no float64 samples in torch)"
IN_PLACE = "in-place op (tinygen records no in-place change of a tensor that requires grad)"
RANDOM = "random output (the two frameworks' generators differ)"
TORCH_RAISES = "torch itself raises on this sample (or returns NotImplemented)"
GAUGE = ("sign-ambiguous output (singular vectors): equal after op_db's own sign-fixing "
         "output_process_fn_grad; gradients checked sign-free in tests/parity")

SKIP_REASONS = (COMPLEX, SPARSE, QUANTIZED, OUT_ARGUMENT, MEMORY_FORMAT, GENERATOR,
                NON_FLOAT64, NO_FLOAT64_OP, IN_PLACE, RANDOM, TORCH_RAISES, GAUGE)
#: ops whose outputs are defined only up to a sign per singular-vector pair: LAPACK builds
#: (torch's MKL, NumPy's OpenBLAS) may choose either, so raw values are not comparable
GAUGE_OPS = ("linalg.svd",)

#: keyword arguments that change how torch lays the result out in memory, never its values
_LAYOUT_ONLY_KWARGS = ("memory_format",)
#: torch dtypes and their NumPy equivalents (bfloat16 and the complex ones have none here)
_NUMPY_DTYPES = {
    torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16,
    torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
    torch.uint8: np.uint8, torch.bool: np.bool_,
}


class Skip(Exception):
    """A sample tinygen deliberately does not support; ``args[0]`` is one of SKIP_REASONS."""


@dataclass
class OpResult:
    """The outcome of one op over its samples.

    Attributes:
        key: the op_db entry id.
        label: the tinygen callable compared.
        order: the highest derivative compared (0: forward only, 1: VJP, 2: double backward).
        passed, failed: sample counts.
        skipped: sample counts per skip reason.
        failures: one description per failing sample.
    """

    key: str
    label: str
    order: int
    passed: int = 0
    failed: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    @property
    def samples(self) -> int:
        return self.passed + self.failed + sum(self.skipped.values())


# --------------------------------------------------------------------------- samples
def _seed(key: str, index: int = 0) -> int:
    return zlib.crc32(f"{key}/{index}".encode())


def samples(target: Target, reference: bool = False, limit: int | None = None) -> list:
    """The op's float64 samples (``reference_inputs`` with ``reference``) as (index, sample)
    pairs, reproducibly: torch's generator is seeded from the op's key, without disturbing
    the caller's generator. Where torch's own generator raises, the list ends with a None
    sample. With ``limit``, at most that many, spread evenly over the list
    (op_db varies one argument at a time, so the first ones alone would miss the others)."""
    opinfo = target.opinfo
    requires_grad = bool(opinfo.supports_autograd)
    make = opinfo.reference_inputs if reference else opinfo.sample_inputs
    generated = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(target.key))
        iterator = iter(make("cpu", torch.float64, requires_grad=requires_grad))
        while True:
            try:
                generated.append(next(iterator))
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - torch's own generator fails: a None sample
                generated.append(None)
                break
    chosen = range(len(generated))
    if limit is not None and len(generated) > limit:
        chosen = sorted({index * len(generated) // limit for index in range(limit)})
    return [(index, _own_leaves(generated[index])) for index in chosen]


def _tensors(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _is_leaf_view(tensor: torch.Tensor) -> bool:
    return tensor.requires_grad and tensor.is_leaf and tensor._base is not None


def _own_leaves(sample):
    """The sample, with every "leaf view" replaced by a real leaf holding the same values.

    Some reference inputs are views of a leaf, taken without grad and then marked as
    requiring grad (``make_tensor(500).as_strided(...)``): torch's autograd gives such a
    tensor no gradient at all, so they would read as zero gradients.
    """
    if sample is None or not any(_is_leaf_view(t) for t in
                                 _tensors((sample.input, sample.args, sample.kwargs))):
        return sample
    copies = {}

    def own(tensor):
        if not isinstance(tensor, torch.Tensor) or not _is_leaf_view(tensor):
            return tensor
        if id(tensor) not in copies:
            copies[id(tensor)] = tensor.detach().clone().requires_grad_()
        return copies[id(tensor)]

    owned = sample.transform(own)
    owned.name = sample.name
    return owned


def _torch_disowns(opinfo, test_name: str) -> bool:
    """Whether op_db marks its own ``test_name`` on CPU float64 as an expected failure or a
    skip (its double backward at the samples' kinks is NaN, say)."""
    for info in opinfo.decorators:
        if getattr(info, "test_name", None) != test_name or not info.active_if:
            continue
        if info.device_type in (None, "cpu") and (
                info.dtypes is None or torch.float64 in info.dtypes):
            return True
    return False


def order_checked(target: Target) -> int:
    """0: forward only; 1: up to the VJP; 2: up to the double backward, where torch has one
    and vouches for it. (A first-order gradient torch does not gradcheck is still compared:
    that is its chosen subgradient, which tinygen should share.)"""
    opinfo = target.opinfo
    if not opinfo.supports_autograd:
        return 0
    if not opinfo.supports_gradgrad or _torch_disowns(opinfo, "test_fn_gradgrad"):
        return 1
    return 2


def describe(sample) -> str:
    """A one-line account of a sample: shapes and dtypes of its tensors, its other values."""

    def show(value):
        if isinstance(value, torch.Tensor):
            dtype = "" if value.dtype == torch.float64 else f" {str(value.dtype)[6:]}"
            shape = "x".join(map(str, value.shape)) or "scalar"
            grad = " rg" if value.requires_grad else ""
            if value.dtype in (torch.int64, torch.bool, torch.int32) and value.numel() <= 8:
                return f"T[{shape}{dtype}]={value.tolist()}"
            return f"T[{shape}{dtype}{grad}]"
        if isinstance(value, list):
            return "[" + ", ".join(show(v) for v in value) + "]"
        if isinstance(value, tuple):
            return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}={show(v)}" for k, v in value.items()) + "}"
        return repr(value)

    text = f"input={show(sample.input)} args={show(tuple(sample.args))} " \
           f"kwargs={show(dict(sample.kwargs))}"
    return f"{text} ({sample.name})" if sample.name else text


# --------------------------------------------------------------------------- conversion
def _check_supported(value) -> None:
    """Raise Skip for a sample value tinygen deliberately does not take."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided:
            raise Skip(SPARSE)
        if value.is_quantized:
            raise Skip(QUANTIZED)
        if value.is_complex():
            raise Skip(COMPLEX)
        if value.is_floating_point() and value.dtype != torch.float64:
            raise Skip(NON_FLOAT64)
        if value.dtype not in _NUMPY_DTYPES:
            raise Skip(NON_FLOAT64)
    elif isinstance(value, complex):
        raise Skip(COMPLEX)
    elif isinstance(value, torch.dtype):
        if value.is_complex:
            raise Skip(COMPLEX)
        if value not in _NUMPY_DTYPES or (value.is_floating_point and value != torch.float64):
            raise Skip(NON_FLOAT64)
    elif isinstance(value, torch.Generator):
        raise Skip(GENERATOR)
    elif isinstance(value, torch.memory_format):
        raise Skip(MEMORY_FORMAT)
    elif isinstance(value, torch.layout) and value != torch.strided:
        raise Skip(SPARSE)


class Converter:
    """Turns torch sample values into tinygen ones; one tinygen leaf per torch tensor, so a
    tensor passed twice stays one tensor."""

    def __init__(self):
        self.leaves: dict[int, tinygen.Tensor] = {}

    def __call__(self, value):
        _check_supported(value)
        if isinstance(value, torch.Tensor):
            if id(value) not in self.leaves:
                array = value.detach().numpy().copy()
                self.leaves[id(value)] = tinygen.Tensor(array, requires_grad=value.requires_grad)
            return self.leaves[id(value)]
        if isinstance(value, torch.Size):
            return tuple(value)
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, torch.dtype):
            return _NUMPY_DTYPES[value]
        if isinstance(value, torch.device):
            return str(value)
        return value


def _kwargs_for_both(sample) -> dict:
    """The sample's keyword arguments, with ``out=`` refused and layout-only ones dropped."""
    kwargs = dict(sample.kwargs)
    if "out" in kwargs:
        raise Skip(OUT_ARGUMENT)
    for name in _LAYOUT_ONLY_KWARGS:
        kwargs.pop(name, None)
    if kwargs.get("layout", torch.strided) != torch.strided:
        raise Skip(SPARSE)
    kwargs.pop("layout", None)
    return kwargs


# --------------------------------------------------------------------------- comparison
def _leaves(output) -> list:
    """An output's tensors and scalars in order (tuples, lists and named tuples flattened)."""
    if isinstance(output, (tuple, list)) and not isinstance(output, torch.Size):
        return [leaf for item in output for leaf in _leaves(item)]
    return [output]


def _difference(expected: np.ndarray, actual: np.ndarray) -> str | None:
    """None when close at float64 tolerances (NaN matching NaN), else the worst entry."""
    if expected.dtype.kind not in "fc":
        if np.array_equal(expected, actual):
            return None
        wrong = np.argwhere(expected != actual)
        where = tuple(int(i) for i in wrong[0])
        return (f"{len(wrong)} of {expected.size} entries differ; first at {where}: "
                f"torch {expected[where]!r}, tinygen {actual[where]!r}")
    close = np.isclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
    if close.all():
        return None
    with np.errstate(all="ignore"):
        error = np.where(close, 0.0, np.abs(actual - expected))
    error = np.where(np.isnan(error), np.inf, error)
    where = np.unravel_index(int(np.argmax(error)), expected.shape)
    where = tuple(int(i) for i in where)
    return (f"{int((~close).sum())} of {expected.size} entries differ, max |diff| "
            f"{error[where]:.3g} at {where}: torch {expected[where]!r}, "
            f"tinygen {actual[where]!r}")


def _numpy_dtype(dtype: torch.dtype):
    return np.dtype(_NUMPY_DTYPES.get(dtype, np.float64))


def _compare_leaf(what: str, expected, actual, values: bool = True) -> str | None:
    """The difference between one torch output and tinygen's (None: the same); ``values``
    False compares only the kind, shape and dtype."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, tinygen.Tensor):
            return f"{what}: torch returns a Tensor, tinygen a {type(actual).__name__}"
        if tuple(expected.shape) != tuple(actual.shape):
            return f"{what}: shape {tuple(expected.shape)} in torch, {tuple(actual.shape)} " \
                   f"in tinygen"
        if _numpy_dtype(expected.dtype) != np.dtype(actual.dtype):
            return f"{what}: dtype {expected.dtype} in torch, {actual.dtype} in tinygen"
        problem = _difference(expected.detach().numpy(force=True), actual.numpy()) \
            if values else None
        return None if problem is None else f"{what}: {problem}"
    mismatch = f"{what}: torch returns {expected!r}, tinygen {actual!r}"
    if isinstance(actual, tinygen.Tensor):
        return mismatch
    if isinstance(expected, numbers.Number) and isinstance(actual, (numbers.Number, np.bool_)):
        if isinstance(expected, bool) != isinstance(actual, (bool, np.bool_)):
            return mismatch
        problem = _difference(np.asarray(expected, dtype=float), np.asarray(actual, dtype=float))
        return None if problem is None or not values else f"{what}: {problem}"
    return None if expected == actual else mismatch


def _compare(what: str, expected: list, actual: list, values: bool = True) -> list:
    if len(expected) != len(actual):
        return [f"{what}: torch returns {len(expected)} values, tinygen {len(actual)}"]
    problems = []
    for index, (e, a) in enumerate(zip(expected, actual)):
        label = what if len(expected) == 1 else f"{what}[{index}]"
        problem = _compare_leaf(label, e, a, values)
        if problem is not None:
            problems.append(problem)
    return problems


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


# --------------------------------------------------------------------------- one sample
@contextlib.contextmanager
def _generator_in_use():
    """op_db calls its random ops through ``wrapper_set_seed``, which seeds torch's generator
    with 42 on every call; undo that for a while, so a random op shows it is random."""
    database = sys.modules["torch.testing._internal.common_methods_invocations"]
    fixed = database.wrapper_set_seed
    database.wrapper_set_seed = lambda op, *args, **kwargs: op(*args, **kwargs)
    try:
        yield
    finally:
        database.wrapper_set_seed = fixed


def _is_random(target: Target, sample, kwargs: dict) -> bool:
    """Whether the op draws from torch's generator on this sample (its state moves), or has an
    undefined output (``empty``-like ops, whose output is whatever memory held)."""
    if getattr(target.opinfo, "has_nondeterministic_output", False):
        return True
    with _generator_in_use(), torch.random.fork_rng(devices=[]):
        before = torch.random.get_rng_state()
        target.torch_call(sample.input, *sample.args, **kwargs)
        return not torch.equal(before, torch.random.get_rng_state())


def _differentiable(pairs) -> list:
    """The (torch, tinygen) pairs whose torch side is a float tensor that requires grad."""
    return [(t, g) for t, g in pairs
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad]


def _as_zeros(grads, like) -> list:
    """Gradients as arrays, None (an unused input) read as zeros."""
    arrays = []
    for grad, tensor in zip(grads, like):
        if grad is None:
            arrays.append(np.zeros(tuple(tensor.shape)))
        elif isinstance(grad, torch.Tensor):
            arrays.append(grad.detach().numpy(force=True))  # force: a ZeroTensor too
        else:
            arrays.append(grad.numpy())
    return arrays


def _compare_grads(what: str, names: list, expected: list, actual: list) -> list:
    problems = []
    for name, e, a in zip(names, expected, actual):
        if e.shape != a.shape:
            problems.append(f"{what} wrt {name}: shape {e.shape} in torch, {a.shape} in tinygen")
            continue
        problem = _difference(e, a)
        if problem is not None:
            problems.append(f"{what} wrt {name}: {problem}")
    return problems


def _torch_grad(outputs, inputs, grad_outputs=None, create_graph=False):
    # torch cannot differentiate a leaf output (``contiguous`` returns its input): an identity
    # view gives it a graph node
    used = [o if o.grad_fn is not None else o.view_as(o) for o in outputs if o.requires_grad]
    if not used:
        return [None] * len(inputs)
    if grad_outputs is not None:
        grad_outputs = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    try:
        return list(torch.autograd.grad(used, inputs, grad_outputs, create_graph=create_graph,
                                        allow_unused=True))
    except Exception as error:  # noqa: BLE001 - torch's own backward fails on this sample
        raise Skip(TORCH_RAISES) from error


def _tinygen_grad(outputs, inputs, grad_outputs=None, create_graph=False):
    used = [i for i, o in enumerate(outputs) if o.requires_grad]
    if not used:
        return [None] * len(inputs)
    grad_outputs = None if grad_outputs is None else [grad_outputs[i] for i in used]
    return list(tg_autograd.grad([outputs[i] for i in used], inputs, grad_outputs,
                                 create_graph=create_graph, allow_unused=True))


def _input_pairs(sample, converter: Converter) -> list:
    """(name, torch tensor, tinygen tensor) for every float input that requires grad."""
    found = []

    def walk(value, name):
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and value.requires_grad and all(
                    value is not seen for _, seen, _ in found):
                found.append((name, value, converter.leaves[id(value)]))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{name}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}[{key!r}]")

    walk(sample.input, "input")
    walk(tuple(sample.args), "args")
    walk(dict(sample.kwargs), "kwargs")
    return found


def check_sample(target: Target, sample, index: int) -> list:
    """Compare one sample. Returns the list of problems (empty: it passed); raises Skip."""
    if is_in_place(target.opinfo):
        raise Skip(IN_PLACE)
    kwargs = _kwargs_for_both(sample)
    converter = Converter()
    tg_input = converter(sample.input)
    tg_args = converter(tuple(sample.args))
    tg_kwargs = converter(kwargs)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(target.key, index))
        try:
            expected = target.torch_call(sample.input, *sample.args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any torch error makes the sample moot
            raise Skip(TORCH_RAISES) from error
    if expected is NotImplemented:  # ``Tensor.__rsub__(2.0, t)``: a number for ``self``
        raise Skip(TORCH_RAISES)
    try:
        actual = target.call(tg_input, *tg_args, **tg_kwargs)
    except Exception as error:  # noqa: BLE001 - a tinygen error is the finding
        return [f"forward: tinygen raises {_short(error)}"]

    expected_leaves, actual_leaves = _leaves(expected), _leaves(actual)
    if _is_random(target, sample, kwargs):
        problems = _compare("forward", expected_leaves, actual_leaves, values=False)
        if problems:
            return problems
        raise Skip(RANDOM)
    problems = _compare("forward", expected_leaves, actual_leaves)
    if problems and target.opinfo.name in GAUGE_OPS:
        return _compare_up_to_gauge(sample, expected, actual)
    if problems or order_checked(target) == 0:
        return problems
    return _check_gradients(target, sample, index, converter, expected_leaves, actual_leaves)


def _compare_up_to_gauge(sample, expected, actual) -> list:
    """Compare through op_db's gauge-fixing function (raises Skip(GAUGE) when they agree)."""
    fix = sample.output_process_fn_grad
    ours = tuple(torch.from_numpy(np.array(leaf.numpy())) for leaf in actual)
    fixed_ours = [tinygen.tensor(leaf.detach().numpy()) for leaf in _leaves(fix(ours))]
    problems = _compare("forward (sign-fixed)", _leaves(fix(expected)), fixed_ours)
    if problems:
        return problems
    raise Skip(GAUGE)


def _check_gradients(target, sample, index, converter, expected_leaves, actual_leaves) -> list:
    inputs = _input_pairs(sample, converter)
    outputs = _differentiable(zip(expected_leaves, actual_leaves))
    if not inputs or not outputs:
        return []
    names = [name for name, _, _ in inputs]
    t_inputs = [t for _, t, _ in inputs]
    g_inputs = [g for _, _, g in inputs]
    rng = np.random.default_rng(_seed(target.key, index))
    second = order_checked(target) == 2
    # in the output's dtype: torch rounds a float64 upstream gradient to a float16 output's
    upstream = [rng.standard_normal(tuple(t.shape)).astype(_numpy_dtype(t.dtype))
                for t, _ in outputs]
    t_up = [torch.tensor(u, requires_grad=second) for u in upstream]
    g_up = [tinygen.Tensor(u.copy(), requires_grad=second) for u in upstream]
    t_outputs = [t for t, _ in outputs]
    g_outputs = [g for _, g in outputs]

    t_grads = _torch_grad(t_outputs, t_inputs, t_up, create_graph=second)
    try:
        g_grads = _tinygen_grad(g_outputs, g_inputs, g_up, create_graph=second)
    except Exception as error:  # noqa: BLE001
        return [f"first order: tinygen raises {_short(error)}"]
    problems = _compare_grads("first order", names, _as_zeros(t_grads, t_inputs),
                              _as_zeros(g_grads, g_inputs))
    problems += [f"(tinygen's output {position} does not require grad)" for position, g in
                 enumerate(g_outputs) if problems and not g.requires_grad]
    if problems or not second:
        return problems

    directions = [rng.standard_normal(tuple(t.shape)) for t in t_inputs]
    t_dot = [(g * torch.from_numpy(v)).sum() for g, v in zip(t_grads, directions)
             if g is not None]
    g_dot = [(g * tinygen.Tensor(v)).sum() for g, v in zip(g_grads, directions)
             if g is not None]
    wrt_names = names + [f"upstream[{i}]" for i in range(len(upstream))]
    t_wrt, g_wrt = t_inputs + t_up, g_inputs + g_up
    t_second = _torch_grad([sum(t_dot)] if t_dot else [], t_wrt)
    try:
        g_second = _tinygen_grad([sum(g_dot)] if g_dot else [], g_wrt)
    except Exception as error:  # noqa: BLE001
        return [f"second order: tinygen raises {_short(error)}"]
    return _compare_grads("second order", wrt_names, _as_zeros(t_second, t_wrt),
                          _as_zeros(g_second, g_wrt))


# --------------------------------------------------------------------------- one op
def run_op(target: Target, reference: bool = False, limit: int | None = None) -> OpResult:
    """Run the samples of ``target`` (at most ``limit``, see :func:`samples`) and count."""
    result = OpResult(target.key, target.label, order_checked(target))
    opinfo = target.opinfo
    if not opinfo.supports_dtype(torch.float64, "cpu"):
        result.skipped[NO_FLOAT64_OP] += 1
        return result
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for index, sample in samples(target, reference, limit):
            try:
                if sample is None:
                    raise Skip(TORCH_RAISES)
                problems = check_sample(target, sample, index)
            except Skip as skip:
                result.skipped[skip.args[0]] += 1
                continue
            if problems:
                result.failed += 1
                result.failures.append(f"sample {index} {describe(sample)}: "
                                       + "; ".join(problems))
            else:
                result.passed += 1
    return result
