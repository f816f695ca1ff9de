"""Gradient checks: compare backprop with finite differences, first and second order.

Directional mode (the default) checks one scalar per random direction: for seeded random
``v`` over the inputs and ``u`` over the outputs, the central difference

    <u, J v>  ~=  <u, f(x + eps v) - f(x - eps v)> / (2 eps)

must match ``<J^T u, v>`` from one backward pass. That costs two forward calls per direction
whatever the input size, and a wrong entry of J shows up with probability one. Full mode
builds the whole Jacobian both ways (two forward calls per input element, one backward per
output element) and is meant for small inputs.

The numeric pass runs in float64: float32 (and float16) inputs are cast up, so that the finite
differences measure the function, not the rounding of a low-precision input. The backprop
pass runs at the inputs' own dtype, because that is the code under test. Default ``eps`` and
tolerances follow the least precise float dtype among the differentiated inputs and the
outputs (an output computed in float32 limits what the difference quotient can resolve).

A failure raises :class:`GradcheckError`. Its message names the worst entry (input, element,
analytic and numeric value, error against tolerance), says whether the point sits near a
kink (the one-sided differences disagree), and whether floating-point round-off in the
difference quotient could explain the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import backend
from tinygen.autograd.engine import grad as _autograd_grad
from tinygen.autograd.grad_mode import enable_grad
from tinygen.autograd.tensor import Tensor

#: Default (eps, atol, rtol) per dtype. Float32 and float16 tolerances are looser because the
#: backprop pass, which runs at that dtype, carries that dtype's rounding error.
DEFAULTS = {
    np.dtype(np.float64): (1e-6, 1e-5, 1e-3),
    np.dtype(np.float32): (1e-3, 1e-3, 1e-2),
    np.dtype(np.float16): (1e-2, 1e-1, 1e-1),
}

_DIRECTIONS = 3
# Localising a directional failure to one entry costs two forward calls per input element;
# above this many elements the message reports the failing direction only.
_LOCALIZE_LIMIT = 4096
# Round-off "could explain" a gap when the estimate is within this factor of it: the estimate
# is an order of magnitude, not a bound.
_ROUNDOFF_FACTOR = 10.0


# What the directional failure's symbols mean, for a reader who has not seen the trick.
_DIRECTIONAL_LEGEND = (
    "what this compares: J is the Jacobian (the matrix of d output / d input), v a random "
    "direction for the inputs and u a random weighting of the outputs. <u, J v> is how fast "
    "sum(u * output) changes when the inputs move along v, measured by running the forward "
    "at x + eps v and x - eps v; <J^T u, v> is the same number from backward, which turns "
    "the upstream gradient u into J^T u. They disagree, so the backward (or the forward it "
    "is checked against) is wrong at this point."
)


class GradcheckError(AssertionError):
    """Backprop and finite differences disagree; the message says where and why it may be."""


@dataclass
class _Entry:
    """One compared quantity and the probe that re-evaluates it for the diagnosis."""

    where: str
    analytic: float
    numeric: float
    tolerance: float
    probe: object  # step -> float64 scalar: the compared function along the checked direction

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)

    @property
    def excess(self) -> float:
        return self.error / self.tolerance if self.tolerance > 0 else float("inf")


def gradcheck(fn, inputs, *, mode: str = "directional", eps: float | None = None,
              atol: float | None = None, rtol: float | None = None, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Check ``fn``'s backprop gradients against central finite differences.

    Args:
        fn: takes the input Tensors (positionally) and returns a Tensor or a tuple of Tensors.
        inputs: a Tensor or a sequence of Tensors. Those with ``requires_grad`` are checked;
            the others (integer indices, boolean masks, constants) are passed through as is.
        mode: ``"directional"`` compares <u, J v> with <J^T u, v> for a few seeded random
            directions (O(1) forward calls); ``"full"`` compares every Jacobian entry and is
            meant for small inputs.
        eps: finite-difference step (default by dtype: 1e-6 for float64, 1e-3 for float32).
        atol: absolute tolerance (default by dtype: 1e-5 for float64, 1e-3 for float32).
        rtol: relative tolerance (default by dtype: 1e-3 for float64, 1e-2 for float32).
        seed: seeds the random directions, so a failure reproduces.
        raise_exception: raise :class:`GradcheckError` on failure (else return False).

    Returns:
        True when every checked quantity agrees within ``atol + rtol * scale``; False on a
        failure when ``raise_exception`` is False.

    Raises:
        GradcheckError: on a mismatch, with the worst entry, a kink diagnosis and a round-off
            estimate in the message.
        ValueError: if no input requires grad, or ``mode`` is unknown.
    """
    return _check(fn, _as_tuple(inputs), mode, eps, atol, rtol, seed, raise_exception,
                  label="gradcheck")


def gradgradcheck(fn, inputs, grad_outputs=None, *, mode: str = "directional",
                  eps: float | None = None, atol: float | None = None,
                  rtol: float | None = None, seed: int = 0,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck the map (inputs, grad_outputs) -> dL/d(inputs).

    The checked function is ``autograd.grad(fn(*inputs), inputs, grad_outputs,
    create_graph=True)``, differentiated with respect to both the inputs and the upstream
    gradients, so a backward that treats a differentiable quantity as a constant fails here
    even when its first derivatives are right.

    Args:
        fn: takes the input Tensors and returns a Tensor or a tuple of Tensors.
        inputs: a Tensor or a sequence of Tensors (those with ``requires_grad`` are checked).
        grad_outputs: upstream gradients, one per output of ``fn`` (each requiring grad);
            default: seeded random normal arrays of the outputs' shapes and dtypes.
        mode, eps, atol, rtol, seed, raise_exception: as in :func:`gradcheck`.

    Returns:
        True when the second derivatives agree; False on a failure when ``raise_exception``
        is False.

    Raises:
        GradcheckError: on a mismatch (see :func:`gradcheck`).
        ValueError: if no input requires grad, or ``mode`` is unknown.
    """
    inputs = _as_tuple(inputs)
    differentiable = [x for x in inputs if x.requires_grad]
    if not differentiable:
        raise ValueError("gradgradcheck: no input requires grad; nothing to check")
    with enable_grad():
        outputs = _outputs_requiring_grad(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)  # independent of the directions drawn below
        grad_outputs = tuple(
            _random_like(rng, y, requires_grad=True) for y in outputs
        )
    else:
        grad_outputs = _as_tuple(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise ValueError(
                f"gradgradcheck: expected {len(outputs)} grad_outputs (one per output that "
                f"requires grad), got {len(grad_outputs)}"
            )
    count = len(inputs)

    def first_derivatives(*tensors):
        xs, gys = tensors[:count], tensors[count:]
        ys = _outputs_requiring_grad(fn(*xs))
        wanted = [x for x in xs if x.requires_grad]
        grads = _autograd_grad(ys, wanted, grad_outputs=list(gys), create_graph=True,
                               allow_unused=True)
        # an input the outputs ignore has a zero first derivative, constant in everything
        return tuple(
            g if g is not None else Tensor._from_array(_xp(x).zeros(x.shape, dtype=x.dtype))
            for g, x in zip(grads, wanted)
        )

    return _check(first_derivatives, inputs + tuple(grad_outputs), mode, eps, atol, rtol,
                  seed, raise_exception, label="gradgradcheck",
                  names=_second_order_names(inputs, grad_outputs))


# --------------------------------------------------------------------------- the check
def _check(fn, inputs, mode, eps, atol, rtol, seed, raise_exception, label, names=None):
    if mode not in ("directional", "full"):
        raise ValueError(f"{label}: mode must be 'directional' or 'full', got {mode!r}")
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError(f"{label}: no input requires grad; nothing to check")
    names = names or [f"input {i}" for i in range(len(inputs))]
    with enable_grad():
        outputs = _as_tuple(fn(*inputs))
    dtype = _working_dtype([inputs[i] for i in wrt], outputs)
    default_eps, default_atol, default_rtol = DEFAULTS[dtype]
    eps = default_eps if eps is None else eps
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    problem = _Problem(fn, inputs, wrt, outputs, eps, atol, rtol, names)
    if mode == "full":
        worst = problem.worst_jacobian_entry()
        if worst is None or worst.error <= worst.tolerance:
            return True
        headline = f"{label} failed (full mode: every Jacobian entry compared)"
    else:
        rng = np.random.default_rng(seed)
        for direction in range(_DIRECTIONS):  # noqa: B007 - reported after the loop
            entry, us = problem.directional(rng)
            if entry.error > entry.tolerance:
                break
        else:
            return True
        headline = (
            f"{label} failed (directional mode, direction {direction + 1} of {_DIRECTIONS}, "
            f"seed {seed}): <u, J v> by central difference = {entry.numeric:.6g}, "
            f"<J^T u, v> by backprop = {entry.analytic:.6g}; error {entry.error:.3g} > "
            f"tolerance {entry.tolerance:.3g}"
        )
        # the worst element of J^T u names the culprit; too many elements: the direction
        worst = problem.localize(us) or entry
        headline += "\n" + _DIRECTIONAL_LEGEND
    message = "\n".join([headline, *problem.diagnose(worst)])
    if raise_exception:
        raise GradcheckError(message)
    return False


class _Problem:
    """The function, its point, and both ways of differentiating it."""

    def __init__(self, fn, inputs, wrt, outputs, eps, atol, rtol, names):
        self.fn, self.inputs, self.wrt = fn, inputs, wrt
        self.eps, self.atol, self.rtol, self.names = eps, atol, rtol, names
        self.outputs = [y for y in outputs if _is_float(y)]
        # float64 copies of the point: the numeric pass perturbs these, never the inputs
        self.point = {i: _numpy(inputs[i]).astype(np.float64) for i in wrt}

    # ----------------------------------------------------------------- evaluations
    def evaluate(self, steps: dict) -> list:
        """f at the point moved by ``steps`` (input index -> float64 array), as float64."""
        args = list(self.inputs)
        for i in self.wrt:
            moved = self.point[i] if i not in steps else self.point[i] + steps[i]
            data = _xp(self.inputs[i]).asarray(moved)
            args[i] = Tensor(data, requires_grad=True)
        with enable_grad():  # gradgradcheck's function runs a backward inside
            results = _as_tuple(self.fn(*args))
        return [_numpy(y).astype(np.float64) for y in results if _is_float(y)]

    def backprop(self, us: list) -> list:
        """J^T u for each checked input, as float64 arrays (zeros where unused)."""
        grads = [None] * len(self.wrt)
        pairs = [(y, u) for y, u in zip(self.outputs, us) if y.requires_grad]
        if pairs:
            ys = [y for y, _ in pairs]
            gys = [Tensor._from_array(_xp(y).asarray(u, dtype=y.dtype)) for y, u in pairs]
            grads = _autograd_grad(ys, [self.inputs[i] for i in self.wrt], grad_outputs=gys,
                                   retain_graph=True, allow_unused=True)
        return [
            np.zeros(self.inputs[i].shape) if g is None else _numpy(g).astype(np.float64)
            for i, g in zip(self.wrt, grads)
        ]

    def tolerance(self, scale: float) -> float:
        return self.atol + self.rtol * scale

    # ----------------------------------------------------------------- directional mode
    def directional(self, rng):
        """Compare <u, J v> with <J^T u, v> for one random (u, v); return the entry and u."""
        v = {i: rng.standard_normal(self.inputs[i].shape) for i in self.wrt}
        # u is rounded to each output's dtype, so both passes use exactly the same u
        us = [rng.standard_normal(y.shape).astype(y.dtype).astype(np.float64)
              for y in self.outputs]

        def projected(step):
            values = self.evaluate({i: step * v[i] for i in self.wrt})
            return sum(float(np.sum(u * f)) for u, f in zip(us, values))

        plus = self.evaluate({i: self.eps * v[i] for i in self.wrt})
        minus = self.evaluate({i: -self.eps * v[i] for i in self.wrt})
        terms = [u * (p - m) / (2 * self.eps) for u, p, m in zip(us, plus, minus)]
        numeric = sum(float(np.sum(t)) for t in terms)
        grads = self.backprop(us)
        products = [g * v[i] for g, i in zip(grads, self.wrt)]
        analytic = sum(float(np.sum(p)) for p in products)
        # The expected size of a sum of random-signed terms is their root sum of squares;
        # rounding errors of the terms scale with it, where the sum itself may cancel.
        scale = max(abs(numeric), abs(analytic), _rss(terms), _rss(products))
        entry = _Entry("<u, J v>", analytic, numeric, self.tolerance(scale), projected)
        return entry, us

    def localize(self, us):
        """The worst element of J^T u, by per-element central differences of <u, f>."""
        if sum(self.inputs[i].numel() for i in self.wrt) > _LOCALIZE_LIMIT:
            return None
        worst = None
        for i, grad in zip(self.wrt, self.backprop(us)):
            for flat in range(grad.size):
                index = np.unravel_index(flat, grad.shape)
                probe = self._element_probe(i, index, lambda fs: sum(
                    float(np.sum(u * f)) for u, f in zip(us, fs)))
                numeric = (probe(self.eps) - probe(-self.eps)) / (2 * self.eps)
                analytic = float(grad[index])
                entry = _Entry(
                    f"{self.names[i]}, index {_index_text(index)} of J^T u (the gradient "
                    "of sum(u * output) at that element)",
                    analytic, numeric,
                    self.tolerance(max(abs(numeric), abs(analytic))), probe,
                )
                if worst is None or entry.excess > worst.excess:
                    worst = entry
        return worst

    # ----------------------------------------------------------------- full mode
    def worst_jacobian_entry(self):
        """Build J column by column (numeric) and row by row (backprop); the worst entry."""
        rows = self._analytic_jacobian()
        worst = None
        for position, i in enumerate(self.wrt):
            shape = self.inputs[i].shape
            for flat in range(int(np.prod(shape))):
                index = np.unravel_index(flat, shape)
                plus = self._moved(i, index, self.eps)
                minus = self._moved(i, index, -self.eps)
                for k, (p, m) in enumerate(zip(plus, minus)):
                    column = (p - m) / (2 * self.eps)
                    analytic = rows[k][position][(Ellipsis, *index)]
                    for out_flat in range(column.size):
                        out_index = np.unravel_index(out_flat, column.shape)
                        a, n = float(analytic[out_index]), float(column[out_index])
                        tolerance = self.tolerance(max(abs(a), abs(n)))
                        error = abs(a - n)
                        if worst is not None and error <= worst.excess * tolerance:
                            continue
                        probe = self._element_probe(
                            i, index, lambda fs, k=k, o=out_index: float(fs[k][o]))
                        worst = _Entry(
                            f"{self.names[i]}, index {_index_text(index)} -> output {k}, "
                            f"index {_index_text(out_index)}", a, n, tolerance, probe)
        return worst

    def _analytic_jacobian(self):
        """rows[k][position] has shape output_k.shape + input.shape: d out_k / d input."""
        rows = []
        for k, y in enumerate(self.outputs):
            blocks = [np.zeros(y.shape + self.inputs[i].shape) for i in self.wrt]
            for out_flat in range(y.numel()):
                out_index = np.unravel_index(out_flat, y.shape)
                us = [np.zeros(o.shape) for o in self.outputs]
                us[k][out_index] = 1.0
                for block, g in zip(blocks, self.backprop(us)):
                    block[out_index] = g
            rows.append(blocks)
        return rows

    def _moved(self, i, index, step):
        delta = np.zeros(self.point[i].shape)
        delta[index] = step
        return self.evaluate({i: delta})

    def _element_probe(self, i, index, reduce):
        return lambda step: reduce(self._moved(i, index, step))

    # ----------------------------------------------------------------- diagnosis
    def diagnose(self, worst: _Entry) -> list:
        """Lines for the message: worst entry, kink, round-off."""
        lines = [(
            f"worst entry: {worst.where}: analytic {worst.analytic:.6g}, numeric "
            f"{worst.numeric:.6g}, error {worst.error:.3g} vs tolerance {worst.tolerance:.3g} "
            f"(atol {self.atol:g} + rtol {self.rtol:g} * scale; eps {self.eps:g})"
        )]
        center = worst.probe(0.0)
        forward = (worst.probe(self.eps) - center) / self.eps
        backward = (center - worst.probe(-self.eps)) / self.eps
        gap = abs(forward - backward)
        kink_tolerance = self.tolerance(max(abs(forward), abs(backward)))
        if gap > kink_tolerance:
            lines.append(
                f"near a kink: yes: one-sided differences disagree (forward {forward:.6g}, "
                f"backward {backward:.6g}, gap {gap:.3g} > {kink_tolerance:.3g}); the "
                "function is not differentiable within eps of this point, so move the point "
                "away from the kink (or use a smaller eps)"
            )
        else:
            lines.append(
                f"near a kink: no: one-sided differences agree (forward {forward:.6g}, "
                f"backward {backward:.6g})"
            )
        machine = self._machine_eps()
        magnitude = max(abs(center), abs(worst.probe(self.eps)), abs(worst.probe(-self.eps)))
        roundoff = machine * magnitude / self.eps
        if _ROUNDOFF_FACTOR * roundoff >= worst.error:
            verdict = (
                "yes: the difference quotient is dominated by rounding; use a larger eps, "
                "or compute in float64"
            )
        else:
            verdict = "no: the gap is far larger than rounding can make it"
        lines.append(
            f"round-off could explain the gap: {verdict} (estimated round-off "
            f"{roundoff:.3g} = machine eps {machine:.3g} * |f| {magnitude:.3g} / eps "
            f"{self.eps:g}, gap {worst.error:.3g})"
        )
        return lines

    def _machine_eps(self) -> float:
        """The rounding unit of the numeric pass: float64, unless the outputs are coarser."""
        resolutions = [np.finfo(np.float64).eps]
        resolutions += [np.finfo(y.dtype).eps for y in self.outputs]
        return float(max(resolutions))


# --------------------------------------------------------------------------- helpers
def _as_tuple(values) -> tuple:
    if isinstance(values, Tensor):
        return (values,)
    return tuple(values)


def _outputs_requiring_grad(outputs) -> tuple:
    return tuple(y for y in _as_tuple(outputs) if _is_float(y) and y.requires_grad)


def _is_float(y) -> bool:
    return isinstance(y, Tensor) and np.dtype(y.dtype).kind == "f"


def _working_dtype(inputs, outputs) -> np.dtype:
    """The least precise float dtype among the differentiated inputs and float outputs."""
    dtypes = [np.dtype(x.dtype) for x in inputs]
    dtypes += [np.dtype(y.dtype) for y in outputs if _is_float(y)]
    coarsest = min(dtypes, key=lambda d: np.finfo(d).bits)
    return coarsest if coarsest in DEFAULTS else np.dtype(np.float64)


def _random_like(rng, y: Tensor, requires_grad: bool) -> Tensor:
    values = rng.standard_normal(y.shape).astype(y.dtype)
    return Tensor(_xp(y).asarray(values), requires_grad=requires_grad)


def _second_order_names(inputs, grad_outputs) -> list:
    names = [f"input {i}" for i in range(len(inputs))]
    return names + [f"grad_output {k}" for k in range(len(grad_outputs))]


def _rss(arrays) -> float:
    return float(np.sqrt(sum(float(np.sum(a * a)) for a in arrays)))


def _numpy(x: Tensor) -> np.ndarray:
    return backend.to_numpy(x.data)


def _xp(x: Tensor):
    return backend.get_array_module(x.data)


def _index_text(index) -> str:
    return str(tuple(int(i) for i in index))
