"""Matrix products: batched, broadcasting matmul, the dense layer's x W^T + b, einsum, and
PyTorch's named products (mm, bmm, mv, dot, outer, tensordot, addmm, baddbmm) as
compositions of those."""

from __future__ import annotations

import math
import string

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.axes import swap_last_axes
from tinygen.autograd.ops.elementwise import _as_tensor_pair, where
from tinygen.autograd.ops.shape import expand, permute, reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MatMul(Function):
    """a @ b for a, b with at least 2 axes; leading (batch) axes broadcast."""

    op_name = "matmul"

    broadcasts = True  # batch axes broadcast: the engine sums gradients back to each shape
    owned_grads = (0, 1)  # each a new product
    backward_on_arrays = True  # .mT and backend.matmul mean the same on Tensors and arrays

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return backend.matmul(a, b)

    def backward(self, gy):
        # d(a @ b)/da = gy @ b^T, d(a @ b)/db = a^T @ gy  (.mT: the last two axes swapped)
        a, b = self.saved_tensors
        ga = backend.matmul(gy, b.mT) if self.needs_input_grad[0] else None
        gb = backend.matmul(a.mT, gy) if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row (for a) or a
    column (for b) and the added axis is dropped from the result; leading axes broadcast."""
    a, b = _as_tensor_pair(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 axis, got shapes {a.shape} "
                         f"and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: inner sizes differ: a has shape {a.shape}, b has {b.shape}")
    if a.ndim > 1 and b.ndim > 1:
        return MatMul().apply(a, b)
    # promote 1-D operands: (k,) -> (1, k) for a, (k,) -> (k, 1) for b
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    y = MatMul().apply(a2, b2)
    # drop the promoted axes: (..., 1, n) / (..., m, 1) / (1, 1) -> (..., n) / (..., m) / ()
    shape = y.shape[:-2] + ((y.shape[-2],) if a.ndim > 1 else ()) + (
        (y.shape[-1],) if b.ndim > 1 else ())
    return reshape(y, shape)


class Linear(Function):
    """y = x W^T (+ b), as torch.nn.functional.linear: x (..., in), W (out, in), b (out,).

    One op instead of a transpose, a matmul and an add: the bias is added in place to the
    product, and the weight gradient comes out in W's own (out, in) layout, where the
    composite's came out as a transposed view that had to be copied into W.grad.
    """

    owned_grads = (0, 1, 2)  # new products and a new sum: W.grad takes them as they are

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        # (..., in) @ (in, out) -> (..., out); .T is a view
        y = backend.matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        # dL/dx = gy W; dL/dW = gy^T x and dL/db = sum gy, both summed over the leading axes
        x, weight = self.saved_tensors
        needs = self.needs_input_grad
        out_features, in_features = weight.shape
        gx = gy @ weight if needs[0] else None
        gw = gb = None
        if needs[1] or (len(needs) == 3 and needs[2]):
            gy_rows = reshape(gy, (-1, out_features))  # (..., out) -> (M, out)
            if needs[1]:
                # (out, M) @ (M, in) -> (out, in); (..., in) -> (M, in)
                gw = swap_last_axes(gy_rows) @ reshape(x, (-1, in_features))
            if len(needs) == 3 and needs[2]:
                gb = gy_rows.sum(axis=0)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def linear(x, weight, bias=None) -> Tensor:
    """x W^T + b, as torch.nn.functional.linear.

    Args:
        x: (..., in_features).
        weight: (out_features, in_features).
        bias: optional (out_features,).

    Returns:
        (..., out_features).
    """
    for name, value in (("x", x), ("weight", weight), ("bias", bias)):
        if not isinstance(value, Tensor) and (value is not None or name != "bias"):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(value).__name__}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"linear: x, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype} and {None if bias is None else bias.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x's last axis must be in_features={weight.shape[1]}, got "
                         f"shape {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                         f"{bias.shape}")
    function = Linear()
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


class EinSum(Function):
    """An einsum over explicit subscripts (one letter per axis, the output spelled out, every
    letter of one size): the wrapper has resolved ellipses and broadcasting."""

    op_name = "einsum"

    def __init__(self, inputs: tuple, output: str):
        self.subscripts = inputs
        self.output = output

    def forward(self, *operands):
        self.save_for_backward(*operands)
        self.sizes = {c: n for subs, x in zip(self.subscripts, operands)
                      for c, n in zip(subs, x.shape)}
        equation = ",".join(self.subscripts) + "->" + self.output
        return get_array_module(*operands).einsum(equation, *operands,
                                                  optimize=len(operands) > 1)

    def backward(self, gy):
        # y is linear in each operand: dL/dx_k = einsum(gy, the other operands -> x_k's
        # subscripts), with a delta (eye) for a repeated letter of x_k (its gradient lives on
        # the diagonal) and ones for a letter summed in x_k alone (its gradient broadcasts)
        operands = self.saved_tensors
        xp = get_array_module(gy.data)
        unused = iter(c for c in string.ascii_letters if c not in self.sizes)
        grads = []
        for k, target in enumerate(self.subscripts):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            terms = [self.output] + [s for j, s in enumerate(self.subscripts) if j != k]
            tensors = [gy] + [x for j, x in enumerate(operands) if j != k]
            reached = set("".join(terms))
            result = ""
            for c in target:
                if c in result:
                    fresh = next(unused)
                    terms.append(c + fresh)
                    tensors.append(xp.eye(self.sizes[c], dtype=gy.dtype))
                    result += fresh
                    continue
                if c not in reached:
                    terms.append(c)
                    tensors.append(xp.ones(self.sizes[c], dtype=gy.dtype))
                result += c
            tensors = [t if isinstance(t, Tensor) else Tensor._from_array(t) for t in tensors]
            grads.append(EinSum(tuple(terms), result).apply(*tensors))
        return tuple(grads)


def _einsum_terms(equation: str, operands: list) -> tuple:
    """(input subscripts, output subscripts) with ellipses spelled out as letters, and the
    output of an implicit equation filled in (NumPy's and PyTorch's rule)."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} names {len(terms)} operands, got "
                         f"{len(operands)}")
    letters = set(string.ascii_letters)
    for term in terms + [rhs]:
        if term.count("...") > 1 or not set(term.replace("...", "")) <= letters:
            raise ValueError(f"einsum: subscripts must be letters with at most one '...', "
                             f"got {term!r} in {equation!r}")
    free = [c for c in string.ascii_letters if c not in equation]
    spans = []
    for term, x in zip(terms, operands):
        named = len(term.replace("...", ""))
        if ("..." in term and named > x.ndim) or ("..." not in term and named != x.ndim):
            raise ValueError(f"einsum: subscripts {term!r} do not fit operand of shape "
                             f"{x.shape}")
        spans.append(x.ndim - named if "..." in term else 0)
    width = max(spans, default=0)
    if width > len(free):
        raise ValueError(f"einsum: too many axes under '...' ({width})")
    batch = "".join(free[:width])
    inputs = tuple(term.replace("...", batch[width - span:]) for term, span in zip(terms, spans))
    if not arrow:
        counts = "".join(inputs)
        rhs = "..." + "".join(sorted(c for c in set(lhs) - {"."} if counts.count(c) == 1))
    output = rhs.replace("...", batch)
    for c in output:
        if output.count(c) > 1 or c not in "".join(inputs):
            raise ValueError(f"einsum: output subscript {c!r} must appear once in the output "
                             f"and in some operand ({equation!r})")
    return inputs, output


def einsum(equation: str, *operands) -> Tensor:
    """The Einstein summation ``equation`` over ``operands``, as ``torch.einsum``.

    Args:
        equation: e.g. "ij,jk->ik" (matrix product), "bii->bi" (diagonals), "...ij->...ji";
            without "->", the output is the letters used once, in alphabetical order, after
            the ellipsis axes. A letter of size 1 broadcasts against the same letter of
            another size.
        operands: Tensors (or one list of them).

    Returns:
        The summed product, differentiable in every operand.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(x, Tensor) for x in operands):
        raise TypeError(f"einsum: operands must be Tensors, got "
                        f"{[type(x).__name__ for x in operands]}")
    inputs, output = _einsum_terms(equation, list(operands))
    sizes = {}
    for subs, x in zip(inputs, operands):
        for c, n in zip(subs, x.shape):
            if subs.count(c) > 1 and n != x.shape[subs.index(c)]:
                raise ValueError(f"einsum: letter {c!r} repeats in {subs!r} over axes of "
                                 f"different sizes {x.shape}")
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n}, which "
                                 "do not broadcast")
            if sizes.get(c, 1) == 1:  # the first size seen, or a 1 that broadcasts (to 0 too)
                sizes[c] = n
    # a size-1 axis facing a longer one of the same letter is broadcast (expand sums back)
    operands = [x if all(n == sizes[c] for c, n in zip(subs, x.shape))
                else expand(x, tuple(sizes[c] for c in subs))
                for subs, x in zip(inputs, operands)]
    return EinSum(inputs, output).apply(*operands)


def _check_ndim(op: str, name: str, x, ndim: int) -> None:
    if not isinstance(x, Tensor) or x.ndim != ndim:
        got = f"shape {x.shape}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{op}: {name} must be a {ndim}-d tensor, got {got}")


def _check_inner(op: str, a: Tensor, b: Tensor, a_axis: int, b_axis: int) -> None:
    if a.shape[a_axis] != b.shape[b_axis]:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be multiplied (inner "
                         f"sizes {a.shape[a_axis]} and {b.shape[b_axis]})")


@tensor_args
def mm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """The product of two matrices: (n, m) @ (m, p) -> (n, p)."""
    _check_ndim("mm", "input", input, 2)
    _check_ndim("mm", "mat2", mat2, 2)
    _check_inner("mm", input, mat2, 1, 0)
    return MatMul().apply(input, mat2)


@tensor_args
def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Batched matrix products, no broadcasting: (b, n, m) @ (b, m, p) -> (b, n, p)."""
    _check_ndim("bmm", "input", input, 3)
    _check_ndim("bmm", "mat2", mat2, 3)
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: {input.shape} and {mat2.shape}")
    _check_inner("bmm", input, mat2, 2, 1)
    return MatMul().apply(input, mat2)


@tensor_args
def mv(input: Tensor, vec: Tensor) -> Tensor:  # noqa: A002
    """Matrix times vector: (n, m) @ (m,) -> (n,)."""
    _check_ndim("mv", "input", input, 2)
    _check_ndim("mv", "vec", vec, 1)
    _check_inner("mv", input, vec, 1, 0)
    return matmul(input, vec)


@tensor_args
def dot(input: Tensor, tensor: Tensor) -> Tensor:  # noqa: A002
    """The inner product of two 1-d tensors of one length (a 0-d result)."""
    _check_ndim("dot", "input", input, 1)
    _check_ndim("dot", "tensor", tensor, 1)
    _check_inner("dot", input, tensor, 0, 0)
    return matmul(input, tensor)


@tensor_args
def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    """The outer product of two 1-d tensors: (n,), (m,) -> (n, m)."""
    _check_ndim("outer", "input", input, 1)
    _check_ndim("outer", "vec2", vec2, 1)
    # (n,) -> (n, 1) times (m,) -> (1, m)
    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


@tensor_args
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sum the products over the axes ``dims`` of a and b, as ``torch.tensordot``.

    Args:
        a, b: tensors.
        dims: an int n (the last n axes of a against the first n of b), or a pair of lists
            (axes of a, axes of b) of one length.

    Returns:
        a's other axes followed by b's other axes.
    """
    if isinstance(dims, int) and not isinstance(dims, bool):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims must be in [0, {min(a.ndim, b.ndim)}], got "
                             f"{dims}")
        a_axes, b_axes = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    elif (isinstance(dims, (list, tuple)) and len(dims) == 2
          and all(isinstance(d, (list, tuple)) for d in dims)):
        a_axes = [d % max(a.ndim, 1) for d in dims[0]]
        b_axes = [d % max(b.ndim, 1) for d in dims[1]]
    else:
        raise TypeError(f"tensordot: dims must be an int or a pair of lists of axes, got "
                        f"{dims!r}")
    if len(a_axes) != len(b_axes) or any(a.shape[i] != b.shape[j] and 1 not in (
            a.shape[i], b.shape[j]) for i, j in zip(a_axes, b_axes)):
        raise ValueError(f"tensordot: axes {dims!r} of shapes {a.shape} and {b.shape} do not "
                         "pair up")
    # a summed axis of size 1 facing a longer one broadcasts, as in PyTorch
    a_sides, b_sides = list(a.shape), list(b.shape)
    for i, j in zip(a_axes, b_axes):
        a_sides[i] = b_sides[j] = max(a.shape[i], b.shape[j]) if 0 not in (
            a.shape[i], b.shape[j]) else 0
    a, b = expand(a, tuple(a_sides)), expand(b, tuple(b_sides))
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    rows, inner = math.prod(a.shape[i] for i in a_free), math.prod(a.shape[i] for i in a_axes)
    # a: (free..., summed...) -> (M, K); b: (summed..., free...) -> (K, N)
    a2 = reshape(permute(a, a_free + a_axes), (rows, inner))
    b2 = reshape(permute(b, b_axes + b_free), (inner, math.prod(b.shape[j] for j in b_free)))
    # (M, N) -> (a's free axes..., b's free axes...)
    return reshape(MatMul().apply(a2, b2), tuple(a.shape[i] for i in a_free) + tuple(
        b.shape[j] for j in b_free))


def _scaled_sum(op: str, input: Tensor, product: Tensor, beta, alpha) -> Tensor:  # noqa: A002
    # beta * input + alpha * product
    scaled = product if alpha == 1 else product * alpha
    try:
        shift = expand(input, product.shape)
    except ValueError:
        raise ValueError(f"{op}: input of shape {input.shape} does not broadcast to the "
                         f"product's shape {product.shape}") from None
    if beta == 0:
        # input is ignored, nan and inf included, yet gets its (zero) gradient, as PyTorch's
        everywhere = get_array_module(product.data).ones(product.shape, dtype=bool)
        return where(Tensor._from_array(everywhere), scaled, shift)
    return (shift if beta == 1 else shift * beta) + scaled


@tensor_args
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2), input broadcasting to (n, p)."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


@tensor_args
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1,  # noqa: A002
            alpha=1) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2), input broadcasting to (b, n, p)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)
