"""The Optimizer base class: parameter groups, per-parameter state, the array-code step.

``step()`` is array code: each parameter's raw array is updated in place by a handful of
NumPy (or CuPy) calls that write into the optimizer's state and into one or two scratch
arrays reused across steps, so a step allocates nothing after the first. The write goes
through ``tensor._writable``, the sanctioned-writer path of Tensor's in-place methods: it
bumps the parameter's version, so a graph still holding the old values refuses to backward
(the engine's mutation guard) instead of giving wrong gradients.

Each update follows torch.optim's single-tensor rule term for term (the same state names and
order of operations); where fewer passes over the arrays need a constant folded differently
(Adam's bias corrections), the result differs from PyTorch's by roundings only.

A large CPU parameter is updated in blocks of rows on several threads (see
:func:`elementwise`), bit for bit as in one piece.

One contiguous buffer per group, with the parameters as views into it, was measured and not
taken (``python benchmarks/optimizers.py --flat``, one thread, CPU time): Adam over the 8
tensors of a 1.2M-parameter CNN costs the same as over one flat tensor of that size (within
4%); over 160 tensors of 7,500 it costs 4.6 ms against 2.6 ms flat, but torch.optim's
per-tensor loop takes 6.2 ms there. The saving would be paid for with a link that breaks
whenever a user assigns ``p.data``, loads a state dict or moves a parameter, and with locks:
a graph that saves one parameter makes the whole buffer read-only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from tinygen.autograd.grad_mode import enable_grad, no_grad
from tinygen.autograd.tensor import Tensor, _is_float, _writable
from tinygen.backend import blas_threads, device_of, even_blocks, get_array_module, run_blocks
from tinygen.nn.module import Parameter, zero_grads

# Group keys that lr schedulers add (OneCycleLR, and PyTorch's schedulers through a loaded
# state dict): add_param_group accepts them beside the optimizer's own hyperparameters.
_SCHEDULE_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum",
                            "base_momentum"})
# an entry of Optimizer._RANGES: (low, high, high_inclusive)
_NON_NEGATIVE = (0.0, math.inf, False)

#: A large CPU parameter is updated in blocks of rows of at least this many elements on
#: several threads (NumPy releases the GIL inside a ufunc's loop), at most as many as NumPy's
#: BLAS may use (so ``threadpool_limits`` caps both), as PyTorch runs its elementwise kernels
#: on its intra-op threads. A smaller block costs more in hand-offs than it saves.
PARALLEL_BLOCK_SIZE = 1 << 16


def elementwise(kernel: Callable, arrays: tuple, **constants) -> None:
    """Run ``kernel(*arrays, **constants)``, an in-place update of same-shaped arrays, split
    into blocks of rows across threads when the first array is a large CPU array and NumPy
    may use several threads; each block runs the same kernel on views of the same rows of
    every array, so the result is the same bit for bit.

    Args:
        kernel: an elementwise update, writing only into its array arguments.
        arrays: the arrays, all of one shape (None where the kernel takes none).
        **constants: the kernel's scalar arguments, the same for every block.
    """
    first = arrays[0]
    parts = 1
    if first.size >= 2 * PARALLEL_BLOCK_SIZE and first.ndim:
        parts = min(blas_threads(first), first.shape[0], first.size // PARALLEL_BLOCK_SIZE)
    if parts < 2:
        kernel(*arrays, **constants)
        return
    run_blocks(lambda low, high: kernel(
        *(None if array is None else array[low:high] for array in arrays), **constants),
        even_blocks(first.shape[0], parts))


def _descent(p, grad, out, maximize: bool, weight_decay: float):
    """The direction the update descends: ``grad``, negated when maximizing, plus
    ``weight_decay * p`` (the L2 penalty's gradient), as PyTorch forms it, in ``out`` (a
    scratch array; None when ``grad`` itself is the direction: it is never written)."""
    if out is None:
        return grad
    xp = get_array_module(p)
    if not weight_decay:
        return xp.negative(grad, out=out)
    xp.multiply(p, weight_decay, out=out)
    # -g + wd p as wd p - g: the same rounding, one pass fewer
    return xp.subtract(out, grad, out=out) if maximize else xp.add(out, grad, out=out)


class Optimizer:
    """Base class: parameter groups with their own hyperparameters, per-parameter state.

    Args:
        params: an iterable of Parameters (e.g. ``model.parameters()``), or of dicts
            ``{"params": [...], "lr": ...}``, one per group; a group's missing
            hyperparameters come from ``defaults``.
        defaults: the subclass's hyperparameters.

    Attributes:
        param_groups: a list of dicts, each with "params" and the group's hyperparameters
            (an lr scheduler changes ``group["lr"]``).
        state: id(parameter) -> that parameter's state ({name: array or number}).

    Subclasses name their hyperparameters' ranges in ``_RANGES`` ({name: (low, high,
    high_inclusive)}) and their flags in ``_FLAGS``; "lr" and "betas" are checked here.
    """

    _RANGES: dict = {}
    _FLAGS: tuple = ()

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        if isinstance(params, (Tensor, Mapping, set, str)) or not isinstance(params, Iterable):
            # a set has no order, so its parameters could not be matched to a saved state
            raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts (in a "
                            f"fixed order), got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        groups = params if isinstance(params[0], Mapping) else [{"params": params}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._scratch_arrays: dict = {}  # (dtype, device, slot) -> flat work array
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. a lower lr).

        Args:
            param_group: {"params": parameters, hyperparameter: value, ...}; the missing
                hyperparameters come from the optimizer's defaults.

        Raises:
            TypeError: not a dict, a parameter that is not a floating tensor, or a
                hyperparameter of the wrong type.
            ValueError: no "params", an unknown key, a parameter already optimized, a
                non-leaf parameter, or a hyperparameter out of its range.
        """
        name = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: param_group must have a 'params' key, "
                             f"got keys {sorted(map(str, param_group))}")
        unknown = set(param_group) - set(self.defaults) - _SCHEDULE_KEYS - {"params"}
        if unknown:
            raise ValueError(f"{name}.add_param_group: unknown keys {sorted(map(str, unknown))}"
                             f"; expected 'params' and some of {sorted(self.defaults)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, Mapping, str)) or not isinstance(params, Iterable):
            raise TypeError(f"{name}.add_param_group: 'params' must be a Tensor or an "
                            f"iterable of Tensors (in a fixed order), got "
                            f"{type(params).__name__}")
        group = {**self.defaults, **param_group, "params": list(params)}
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for index, param in enumerate(group["params"]):
            self._check_param(param, index)
            if id(param) in seen:
                # it would be updated twice per step
                raise ValueError(f"{name}: parameter {_label(param, index)} appears more "
                                 "than once in the parameter groups")
            seen.add(id(param))
        self._validate(group)
        self.param_groups.append(group)

    def _check_param(self, param, index: int) -> None:
        name = type(self).__name__
        if not isinstance(param, Tensor):
            raise TypeError(f"{name}: params[{index}] must be a Tensor, got "
                            f"{type(param).__name__}")
        if not _is_float(param.dtype):
            raise TypeError(f"{name}: params[{index}] must have a floating dtype, got "
                            f"{param.dtype}")
        if not isinstance(param, Parameter) and not param.requires_grad:
            raise TypeError(f"{name}: params[{index}] must be a tensor that requires grad, "
                            "got one with requires_grad=False")
        if param.grad_fn is not None:
            raise ValueError(f"{name}: params[{index}] must be a leaf tensor, got the output "
                             f"of {type(param.grad_fn).__name__} (optimize the tensors it "
                             "was computed from, or detach it)")

    def _validate(self, group: dict) -> None:
        """Check every hyperparameter of ``group``: its type, then its range."""
        lr = group["lr"]
        _check_real(self, "lr", lr)
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)):
                raise TypeError(f"{type(self).__name__}: betas must be a tuple (beta1, beta2),"
                                f" got {type(betas).__name__}")
            if len(betas) != 2:
                raise ValueError(f"{type(self).__name__}: betas must have 2 entries, got "
                                 f"{len(betas)}")
            for index, beta in enumerate(betas):
                self._check_range(f"betas[{index}]", beta, 0.0, 1.0)
            group["betas"] = tuple(betas)
        for key, (low, high, high_inclusive) in self._RANGES.items():
            self._check_range(key, group[key], low, high, high_inclusive)
        for key in self._FLAGS:
            if not isinstance(group[key], (bool, np.bool_)):
                raise TypeError(f"{type(self).__name__}: {key} must be a bool, got "
                                f"{group[key]!r}")

    def _state_layout(self, group: dict) -> tuple[tuple, tuple]:
        """The state a parameter of ``group`` needs once it has any: (the names of its
        numbers, the names of its arrays shaped like the parameter). Subclasses say."""
        return (), ()

    def _check_saved_state(self, where: str, index, param, value: Mapping,
                           group: dict) -> None:
        """A loaded parameter state: numbers where the update keeps numbers, numeric arrays
        of the parameter's shape where it keeps arrays, nothing missing."""
        scalars, arrays = self._state_layout(group)
        missing = [name for name in (*scalars, *arrays) if name not in value]
        if value and missing:
            raise ValueError(f"{where}: the state of parameter {index} lacks {missing}")
        for name, entry in value.items():
            what = f"{where}: state {name!r} of parameter {index}"
            if not hasattr(entry, "shape"):
                if name in arrays or isinstance(entry, bool) or not isinstance(
                        entry, numbers.Real):
                    expected = "an array" if name in arrays else "a number or an array"
                    raise TypeError(f"{what} must be {expected}, got "
                                    f"{type(entry).__name__}")
                continue
            if getattr(entry, "dtype", np.dtype(object)).kind not in "biuf":
                raise TypeError(f"{what} must be numeric, got {entry!r}")
            shape = tuple(entry.shape)
            allowed = [()] if name in scalars else [param.shape] if name in arrays else [
                (), param.shape]
            if shape not in allowed:
                raise ValueError(f"{what} has shape {shape}, expected "
                                 f"{' or '.join(map(str, allowed))}")

    def _check_range(self, name: str, value, low: float, high: float = math.inf,
                     high_inclusive: bool = False) -> None:
        """Raise a TypeError unless ``value`` is a real number, a ValueError naming the
        optimizer and ``name`` unless it lies in [low, high) (or [low, high])."""
        _check_real(self, name, value)
        inside = low <= value <= high if high_inclusive else low <= value < high
        if not inside:
            bracket = "]" if high_inclusive else ")"
            raise ValueError(f"{type(self).__name__}: {name} must be in [{low}, {high}"
                             f"{bracket}, got {value}")

    def _scratch(self, like, slot: str = "work"):
        """A work array shaped like ``like``: a view of one flat array per (dtype, device,
        slot), as large as the largest parameter so far, reused by every parameter (they
        are updated one after another) and across steps, so the scratch memory is one
        parameter's per slot; ``slot`` tells apart the work arrays one update needs at the
        same time."""
        key = (like.dtype.str, str(device_of(like)), slot)
        flat = self._scratch_arrays.get(key)
        if flat is None or flat.size < like.size:
            flat = self._scratch_arrays[key] = get_array_module(like).empty_like(
                like, shape=(like.size,))  # on like's device
        return flat[:like.size].reshape(like.shape)  # a view: the slice is contiguous

    def _descent_scratch(self, p, maximize: bool, weight_decay: float):
        """The scratch array :func:`_descent` writes to, or None when it needs none."""
        return self._scratch(p, "grad") if maximize or weight_decay else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or zero it in place."""
        zero_grads(self._ordered_params(), set_to_none)

    def step(self, closure: Callable[[], object] | None = None):
        """Update every parameter that has a gradient, in place (bumping its version).

        Args:
            closure: as in PyTorch, a function that recomputes the loss (zeroing the
                gradients and calling backward); it runs with gradients enabled, before
                the update.

        Returns:
            What ``closure`` returned, or None.

        Raises:
            TypeError: ``closure`` is not callable.
            RuntimeError: a gradient's shape differs from its parameter's.
        """
        name = type(self).__name__
        if closure is not None and not callable(closure):
            raise TypeError(f"{name}.step: closure must be callable or None, got "
                            f"{type(closure).__name__}")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # "sub_" ends the label: the update is an in-place subtraction, reported as such
        # when the parameter shares a read-only array
        what = f"{name}.step: sub_"
        with no_grad():
            for group in self.param_groups:
                for index, param in enumerate(group["params"]):
                    if param.grad is None:
                        continue
                    grad = param.grad.data
                    if grad.shape != param.shape:
                        raise RuntimeError(f"{name}.step: the gradient of parameter "
                                           f"{_label(param, index)} has shape {grad.shape}, "
                                           f"expected {param.shape}")
                    state = self.state.setdefault(id(param), {})
                    with _writable(param, what) as array:
                        self._update(array, grad, state, group)
        return loss

    def _update(self, p, grad, state: dict, group: dict) -> None:
        """Update the raw array ``p`` in place from the raw gradient ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    # ------------------------------------------------------------------ state
    def _ordered_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """Plain data: {"state": {index: {name: array | number}}, "param_groups": [...]}.

        Parameters are referred to by their position across the groups, as in PyTorch. The
        arrays are the live state (not copies), also as in PyTorch: a checkpoint writes them
        out at once; copy them to keep an in-memory snapshot.
        """
        index_of = {id(p): i for i, p in enumerate(self._ordered_params())}
        state = {index_of[key]: dict(value) for key, value in self.state.items()
                 if key in index_of}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` produced (also after a round trip through a
        checkpoint: string indices, NumPy arrays), checking that the parameters match.

        Raises:
            TypeError: ``state_dict`` or one of its parts is not a dict or list.
            ValueError: a different number of groups or parameters, wrongly shaped state,
                or a saved hyperparameter out of its range.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"{where}: expected keys 'state' and 'param_groups', "
                                 f"got {sorted(map(str, state_dict))}")
        groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(
                isinstance(g, Mapping) and "params" in g for g in groups):
            raise TypeError(f"{where}: 'param_groups' must be a list of dicts with 'params'")
        if not isinstance(saved_state, Mapping) or not all(
                isinstance(v, Mapping) for v in saved_state.values()):
            raise TypeError(f"{where}: 'state' must be a dict of dicts, one per parameter")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{where}: expected {len(self.param_groups)} parameter "
                             f"groups, got {len(groups)}")
        params = self._ordered_params()
        for mine, saved in zip(self.param_groups, groups, strict=True):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(f"{where}: a group has {len(mine['params'])} "
                                 f"parameters, the saved one {len(saved['params'])}")
        candidates = [{**mine, **{k: _number(v) for k, v in saved.items() if k != "params"}}
                      for mine, saved in zip(self.param_groups, groups, strict=True)]
        for candidate in candidates:  # before anything changes: a bad file leaves us whole
            self._validate(candidate)
        group_of = {id(p): candidate for mine, candidate in
                    zip(self.param_groups, candidates, strict=True) for p in mine["params"]}
        state = {}
        for index, value in saved_state.items():
            position = _index(index)
            if position is None or not 0 <= position < len(params):
                raise ValueError(f"{where}: state for parameter {index!r}, but the "
                                 f"optimizer has parameters 0 to {len(params) - 1}")
            param = params[position]
            # PyTorch before 2.0 saved SGD's momentum_buffer as None without momentum
            value = {name: entry for name, entry in value.items() if entry is not None}
            self._check_saved_state(where, index, param, value, group_of[id(param)])
            xp = get_array_module(param.data)
            state[id(param)] = {
                name: xp.array(array, dtype=param.dtype) if hasattr(array, "shape")
                and tuple(array.shape) == param.shape else _number(array)
                for name, array in value.items()
            }
        for mine, candidate in zip(self.param_groups, candidates, strict=True):
            mine.update(candidate)
        self.state = state


def _check_real(optimizer, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{type(optimizer).__name__}: {name} must be a real number, got "
                        f"{type(value).__name__} {value!r}")


def _index(key) -> int | None:
    """A saved state's parameter index (an int, or its string after a checkpoint)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


def _number(value):
    """A NumPy scalar or 0-d array as a Python number; tuples (betas) element by element."""
    if isinstance(value, (tuple, list)):
        return tuple(_number(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def _label(param, index: int) -> str:
    return repr(param.name) if param.name else f"params[{index}] of shape {param.shape}"


def _moving_average_(average, value, beta: float, work) -> None:
    """average = beta average + (1 - beta) value, in place, in that form (the papers' and
    the rules'; torch's ``lerp_`` rounds one step apart) and with one read fewer than the
    lerp form; ``work`` is a scratch array."""
    xp = get_array_module(average)
    average *= beta
    average += xp.multiply(value, 1 - beta, out=work)


def _addcmul_(average, x, weight: float, work) -> None:
    """average += weight x^2 in place, rounded as torch's ``addcmul_(x, x, value=weight)``
    rounds it: (weight x) x; ``work`` is a scratch array."""
    xp = get_array_module(average)
    xp.multiply(x, weight, out=work)
    work *= x
    average += work


def _rms_step_(p, numerator, second, eps: float, scale: float, work) -> None:
    """p -= scale numerator / (sqrt(second) + eps) in place, through the scratch ``work``:
    the step Adam and Adagrad share (in torch's order of rounding)."""
    xp = get_array_module(p)
    update = xp.sqrt(second, out=work)
    update += eps
    xp.divide(numerator, update, out=update)
    update *= scale
    p -= update


def _torch_only_flags(optimizer, differentiable: bool) -> None:
    """PyTorch's implementation switches (foreach, fused, capturable) choose between
    kernels that compute the same update: tinygen has one, so they are accepted and
    ignored. ``differentiable=True`` would record the step in the graph: refused."""
    if differentiable:
        raise NotImplementedError(f"{type(optimizer).__name__}: differentiable=True (a step "
                                  "recorded for autograd) is not supported; got True")
