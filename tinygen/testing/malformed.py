"""Malformed calls: strategies that break one argument of a valid op call, and a classifier
that says whether the error it raised is a proper tinygen error.

tinygen's error contract (docs/ARCHITECTURE.md, "Errors and dtypes"): bad input fails with a
TypeError, ValueError, IndexError or RuntimeError raised by tinygen itself, naming the
function, the argument, the expected and the actual value; never with an AttributeError, a
NumPy ``AxisError`` or a "not enough values to unpack" from deep inside an array routine.

Start from a valid call drawn from a registry spec and corrupt exactly one argument::

    from hypothesis import given
    from tinygen.testing import all_specs
    from tinygen.testing.malformed import internal_escape, malformed_calls

    spec = next(s for s in all_specs() if s.name == "my_op")

    @given(malformed_calls(spec))
    def test_my_op_refuses_malformed_input(call):
        try:
            call.run()
        except Exception as error:
            assert internal_escape(error, call.names) is None, call

:func:`malformed_calls` draws a :class:`MalformedCall`; :func:`input_corruptions` and
:func:`hyperparameter_corruptions` list what it may do to one argument, so a test of an op
outside the registry can use the same vocabulary.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.tensor import Tensor
from tinygen.testing.registry import OpCase, OpSpec

#: The exception types a proper refusal may have (subclasses included).
ALLOWED_ERRORS = (TypeError, ValueError, IndexError, RuntimeError, NotImplementedError)

#: The root of the tinygen package: a proper refusal is raised by a file under it.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

#: A hyperparameter value "too large for any drawn shape" (a dim, a kernel size, a
#: padding), still small enough that an op which accepts it allocates little: an output
#: size of HUGE on three spatial axes is 10**6 entries per channel.
HUGE = 100


@dataclass(frozen=True)
class MalformedCall:
    """One op call with exactly one argument broken.

    Attributes:
        spec: the registry spec whose valid case was corrupted.
        case: that valid case (arrays and hyperparameters).
        what: the corruption, in words ("input 1 -> float32 (mixed dtypes)",
            "kwarg stride -> nan").
        inputs: the values passed positionally (Tensors, or the corrupted value).
        kwargs: the hyperparameters passed (one corrupted, or all valid).
    """

    spec: OpSpec
    case: OpCase
    what: str
    inputs: tuple = field(repr=False)
    kwargs: dict = field(repr=False)

    def __repr__(self) -> str:
        return f"MalformedCall({self.spec.name}: {self.what}; valid case {self.case!r})"

    @property
    def names(self) -> tuple:
        """The names a proper error may call the op by: the spec's and the function's."""
        return (self.spec.name, getattr(self.spec.function, "__name__", self.spec.name))

    def run(self):
        """Call the op (``spec.call`` or ``spec.function``) with the broken arguments."""
        return self.spec.apply(self.inputs, self.kwargs)


# --------------------------------------------------------------------------- the classifier
@functools.cache
def _raise_lines(filename: str) -> frozenset:
    """The line numbers covered by ``raise`` statements in a Python source file."""
    tree = ast.parse(Path(filename).read_text())
    return frozenset(line for node in ast.walk(tree) if isinstance(node, ast.Raise)
                     for line in range(node.lineno, node.end_lineno + 1))


def _normalized(text: str) -> str:
    return text.lower().replace("_", "").replace(" ", "")


def internal_escape(error: BaseException, names) -> str | None:
    """Why ``error`` is not a proper tinygen refusal, or None when it is one.

    A proper refusal is an instance of :data:`ALLOWED_ERRORS` whose type is not NumPy's
    (``AxisError`` and ``UFuncTypeError`` subclass ValueError/TypeError), raised by an
    explicit ``raise`` statement (the last frame of its traceback) in a file of the tinygen
    package, with a message that names the op: one of ``names``, compared without case and
    underscores (``batch_norm`` matches "BatchNorm"). The message may name the inner op that
    raised if a note (PEP 678, added by the public wrapper) names the op called.

    Args:
        error: the exception the call raised.
        names: the op's names (a spec name, the public function's name).

    Returns:
        None for a proper refusal, else the reason in words.
    """
    kind = type(error)
    if not isinstance(error, ALLOWED_ERRORS):
        return f"{kind.__name__} is not one of TypeError/ValueError/IndexError/RuntimeError"
    if kind.__module__.split(".")[0] not in ("builtins", "tinygen"):
        return f"{kind.__module__}.{kind.__name__} is another library's exception"
    traceback = error.__traceback__
    if traceback is None:
        return "the exception carries no traceback"
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    filename = Path(traceback.tb_frame.f_code.co_filename).resolve()
    where = f"{filename}:{traceback.tb_lineno}"
    if PACKAGE_ROOT not in filename.parents:
        return f"raised outside tinygen, at {where}"
    if traceback.tb_lineno not in _raise_lines(str(filename)):
        return f"not an explicit raise statement: {where}"
    message = _normalized(" ".join([str(error), *getattr(error, "__notes__", ())]))
    if not any(_normalized(name) in message for name in names):
        return f"the message does not name the op ({' or '.join(names)}): {error}"
    return None


# --------------------------------------------------------------------------- corruptions
def _other_float(dtype) -> np.dtype:
    return np.dtype(np.float32 if np.dtype(dtype) == np.float64 else np.float64)


def input_corruptions(array: np.ndarray) -> dict:
    """The ways to break one tensor input, by name: each maps the valid array to the value
    passed in its place (a Tensor or something else). Only the ways that change something
    for this array are listed (no "fewer axes" for a 0-d array, no NaN for integers)."""
    floating = array.dtype.kind == "f"
    ways: dict[str, Callable] = {
        "ndarray (not a Tensor)": lambda a: a.copy(),
        "list (not a Tensor)": lambda a: a.tolist(),
        "None": lambda a: None,
        "str": lambda a: "x",
        "one more leading axis": lambda a: Tensor(a[None].copy(), requires_grad=floating),
    }
    if floating:
        ways["int64 tensor"] = lambda a: Tensor(np.nan_to_num(a, posinf=0, neginf=0).astype(
            np.int64))  # NaN and infinities have no int64 value: 0 instead
        ways["bool tensor"] = lambda a: Tensor(a != 0)
        ways[f"{_other_float(array.dtype)} (mixed dtypes)"] = lambda a: Tensor(
            a.astype(_other_float(a.dtype)), requires_grad=True)
        ways["all NaN"] = lambda a: Tensor(np.full_like(a, np.nan), requires_grad=True)
    else:
        ways["float64 tensor"] = lambda a: Tensor(a.astype(np.float64))
    if array.ndim > 0:
        ways["one fewer leading axis"] = lambda a: Tensor(
            np.zeros_like(a, shape=a.shape[1:]) if a.shape[0] == 0 else a[0].copy(),
            requires_grad=floating)
        ways["one more entry in the last axis"] = lambda a: Tensor(
            np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, 1)]), requires_grad=floating)
        ways["empty first axis"] = lambda a: Tensor(a[:0].copy(), requires_grad=floating)
    return ways


def hyperparameter_corruptions(value) -> dict:
    """The ways to break one hyperparameter of valid value ``value``, by name: each is the
    value passed in its place. The same list for every kind of value (a None, a str, a
    bool, NaN, inf), plus what fits its type: a float, a negative, zero or a huge value for
    an int; a tuple of the wrong length, or with a str inside, for a tuple."""
    ways = {"None": None, "str": "bogus", "bool": True, "nan": math.nan, "inf": math.inf}
    if isinstance(value, bool):
        ways.update({"int 2": 2})
    elif isinstance(value, (int, np.integer)):
        ways.update({"float": int(value) + 0.5, "negative": -abs(int(value)) - 1, "zero": 0,
                     "huge": HUGE})
    elif isinstance(value, (float, np.floating)):
        ways.update({"negative": -abs(float(value)) - 1.0, "zero": 0.0, "huge": 1e30})
    elif isinstance(value, (tuple, list)):
        ways.update({"one more element": (*value, value[-1] if value else 1),
                     "a str inside": ("bogus", *value[1:])})
        if value:
            ways["one fewer element"] = tuple(value[:-1])
    return ways


def _rebuilt(case: OpCase, index: int | None, value) -> tuple:
    tensors = list(case.tensors())
    if index is not None:
        tensors[index] = value
    return tuple(tensors)


def _hyperparameter(spec: OpSpec, name: str, value) -> bool:
    """Whether a kwarg of a case reaches the op as it is: not an array (the spec's ``call``
    turns those into buffers), and, for a spec with a ``call``, a parameter of the op."""
    if isinstance(value, np.ndarray):
        return False
    if spec.call is None:
        return True
    try:
        return name in inspect.signature(spec.function).parameters
    except (TypeError, ValueError):  # no signature to read: corrupt it anyway
        return True


def harness_failure(error: BaseException) -> bool:
    """Whether ``error`` was raised inside a registry spec module (a spec's ``call`` helper
    choking on a corrupted value before the op ran), not by the op under test."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and Path(
        traceback.tb_frame.f_code.co_filename).name.startswith("op_specs")


def malformed_calls(spec: OpSpec) -> st.SearchStrategy:
    """A strategy of :class:`MalformedCall`: a valid case of ``spec``, then one tensor input
    or one hyperparameter broken in one of the ways of :func:`input_corruptions` /
    :func:`hyperparameter_corruptions`."""

    def corrupt(case: OpCase) -> st.SearchStrategy:
        options = []
        for index, array in enumerate(case.arrays):
            for what, make in input_corruptions(array).items():
                options.append((f"input {index} -> {what}", index, make, None))
        for name, value in case.kwargs.items():
            if not _hyperparameter(spec, name, value):
                continue
            for what, bad in hyperparameter_corruptions(value).items():
                options.append((f"kwarg {name} -> {what}", None, None, (name, bad)))

        def build(option) -> MalformedCall:
            what, index, make, kwarg = option
            if kwarg is None:
                inputs = _rebuilt(case, index, make(case.arrays[index]))
                return MalformedCall(spec, case, what, inputs, dict(case.kwargs))
            name, bad = kwarg
            return MalformedCall(spec, case, what, _rebuilt(case, None, None),
                                 {**case.kwargs, name: bad})

        return st.sampled_from(options).map(build)

    return spec.cases().flatmap(corrupt)
