"""``Module``: a container of parameters, buffers and submodules, found by walking attributes.

No registration calls: assigning a :class:`Parameter`, a :class:`Buffer` or a ``Module`` to
an attribute is enough. Names follow PyTorch (``layers.0.weight``, ``bn.running_mean``), so
state dicts and exported weights line up with a PyTorch twin.

Buffers are marked by type (``Buffer``), not by ``requires_grad=False``: a plain Tensor
attribute (a cached constant, a fixed noise batch) stays out of the state dict, and a frozen
Parameter (``requires_grad=False``) is still saved as a parameter, as in PyTorch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import flag


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad=True`` unless told otherwise."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)


class Buffer(Tensor):
    """A Tensor of module state that is saved but not trained (e.g. running statistics)."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=False, dtype=dtype, device=device)


class StateDictError(KeyError, RuntimeError):
    """load_state_dict found missing, unexpected or wrongly shaped entries (a RuntimeError too,
    as PyTorch raises, so ``except RuntimeError`` in a PyTorch program still catches it)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch: the keys it did not find and the keys it
    did not use (a tuple, so ``missing, unexpected = ...`` unpacks it)."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer and model. Subclasses set attributes and define forward::

        class MLP(nn.Module):
            def __init__(self):
                self.hidden = nn.Linear(784, 128)   # found as "hidden.weight", "hidden.bias"
                self.out = nn.Linear(128, 10)

            def forward(self, x):
                return self.out(F.relu(self.hidden(x)))

    No ``super().__init__()`` is needed: nothing is registered, everything is found by
    walking ``vars(self)`` (Parameters, Buffers, Modules; ModuleList for lists of modules).
    Calling the module runs ``forward``.
    """

    training: bool = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if observers.forward is None:
            return self.forward(*args, **kwargs)
        observers.module_stack.append((_module_path(self, observers.module_stack), self))
        try:
            return self.forward(*args, **kwargs)
        finally:
            observers.module_stack.pop()

    def __setattr__(self, name: str, value) -> None:
        # As in PyTorch, a plain Tensor assigned over a buffer stays a buffer: a hand-written
        # running average (``self.mean = 0.9 * self.mean + ...``) keeps its state-dict entry.
        # (Unlike PyTorch, a plain Tensor may replace a parameter: gradient checks call a layer
        # with its parameters swapped for plain inputs that way.)
        if (isinstance(value, Tensor) and not isinstance(value, (Parameter, Buffer))
                and isinstance(vars(self).get(name), Buffer)):
            value = Buffer(value)
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ registering
    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer (saved, moved by ``to()``, not trained), as ``self.name = Buffer(t)``.

        Args:
            name: the attribute name.
            tensor: a Tensor (its array is shared, not copied) or None.
            persistent: False keeps it out of the state dict (it still moves with ``to()``).
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: cannot assign a {type(tensor).__name__} to buffer "
                            f"{name!r} (Tensor or None required)")
        flag("register_buffer", "persistent", persistent)
        _check_new_member(self, "register_buffer", name, Buffer)
        if tensor is not None and not isinstance(tensor, Buffer):
            tensor = Buffer(tensor)
        object.__setattr__(self, name, tensor)
        transient = vars(self).setdefault("_transient_buffers", set())
        (transient.discard if persistent else transient.add)(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter, as ``self.name = param`` (None leaves a placeholder)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: cannot assign a {type(param).__name__} to "
                            f"parameter {name!r} (nn.Parameter or None required)")
        _check_new_member(self, "register_parameter", name, Parameter)
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module, as ``self.name = module`` (for names that are not identifiers)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        _check_new_member(self, "add_module", name, Module)
        object.__setattr__(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------ walking
    def _members(self) -> Iterator[tuple[str, object]]:
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple, dict)):
                _reject_hidden_members(self, name, value)
            yield name, value

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in self._members():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Every module in the tree (this one first) with its dotted path; a shared module
        once, under its first path, unless ``remove_duplicate`` is False."""
        _check_walk(self, "named_modules", prefix, remove_duplicate, "remove_duplicate")
        seen: set = set()
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Call ``fn`` on every child (recursively, children first), then on this module (the
        ``model.apply(weights_init)`` idiom); returns this module."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.apply: fn must be callable, got "
                            f"{type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _named_tensors(self, kind, prefix: str = "", recurse: bool = True,
                       persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        _check_walk(self, f"named_{kind.__name__.lower()}s", prefix, recurse, "recurse")
        seen: set = set()
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, module in walk:
            transient = vars(module).get("_transient_buffers", ()) if persistent_only else ()
            for name, value in module._members():
                if isinstance(value, kind) and id(value) not in seen and name not in transient:
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once (shared ones under their first
        path), own parameters before the children's (only this module's with ``recurse=False``).

        Each parameter's ``name`` is set to its path, so that errors (the mutation guard, the
        debug tools) name it; a walk from an outer module lengthens a name an inner walk gave
        (``fc.weight`` becomes ``encoder.fc.weight``).
        """
        for name, parameter in self._named_tensors(Parameter, prefix, recurse):
            if parameter.name is None or name.endswith("." + parameter.name):
                parameter.name = name
            yield name, parameter

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = "",
                      recurse: bool = True) -> Iterator[tuple[str, Buffer]]:
        yield from self._named_tensors(Buffer, prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Buffer]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm on batch statistics) everywhere."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode everywhere (the same as ``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient recording on or off for every parameter; returns this module."""
        flag(f"{type(self).__name__}.requires_grad_", "requires_grad", requires_grad)
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or zero it in place."""
        flag(f"{type(self).__name__}.zero_grad", "set_to_none", set_to_none)
        zero_grads(self.parameters(), set_to_none)

    def to(self, *args, device=None, dtype=None, non_blocking: bool = False) -> Module:
        """Move every parameter, buffer and gradient to a device and/or cast the floating ones
        to a dtype, in place, as PyTorch's ``model.to(device)``, ``model.to(tinygen.float64)``,
        ``model.to(device, dtype)`` or ``model.to(tensor)``; integer buffers keep their dtype.
        ``non_blocking`` is accepted and changes nothing (copies are synchronous).

        Returns:
            This module.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, (str, backend.device)):
                device = arg
            elif isinstance(arg, int) and not isinstance(arg, bool):
                device = f"cuda:{arg}"
            else:
                dtype = arg
        method = f"{type(self).__name__}.to"
        try:
            device = None if device is None else backend.check_device(device)
        except backend.DeviceError as error:
            raise backend.DeviceError(f"{method}: {error}") from None
        try:
            dtype = None if dtype is None else np.dtype(dtype)
        except TypeError:  # not a dtype at all (a float, a bool, an object)
            raise TypeError(f"{method}: expected a device, a floating dtype or a Tensor, got "
                            f"{dtype!r}") from None
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"{method}: dtype must be a floating dtype, got {dtype}")
        for _, tensor in [*self.named_parameters(), *self.named_buffers()]:
            moved = _moved(tensor.data, device, dtype)
            if moved is not tensor.data:  # the setter bumps the version: only on a change
                tensor.data = moved
            if tensor.grad is not None:
                tensor.grad = Tensor(_moved(tensor.grad.data, device, dtype))
        return self

    def cuda(self, device: int | str | None = None) -> Module:
        """Move everything to the GPU (``to("cuda")``); raises DeviceError without one."""
        if device is not None and (isinstance(device, bool) or not isinstance(device, (
                int, str, backend.device))):
            raise TypeError(f"{type(self).__name__}.cuda: device must be None, an int or a "
                            f"str, got {device!r}")
        return self.to("cuda" if device is None else device)

    def cpu(self) -> Module:
        """Move everything to host memory (``to("cpu")``)."""
        return self.to("cpu")

    def half(self) -> Module:
        """Cast floating parameters and buffers to float16."""
        return self.to(dtype=np.float16)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, as raw arrays (not copies: as in
        PyTorch, the values change when training goes on; copy them to keep a snapshot).

        Args:
            destination: a dict to fill instead of a new OrderedDict.
            prefix: put before every name as it is (``"encoder."``: mind the dot).
            keep_vars: the Tensors themselves instead of their arrays.
        """
        method = f"{type(self).__name__}.state_dict"
        if not isinstance(prefix, str):
            raise TypeError(f"{method}: prefix must be a str, got {type(prefix).__name__}")
        if destination is not None and not isinstance(destination, dict):
            raise TypeError(f"{method}: destination must be None or a dict, got "
                            f"{type(destination).__name__}")
        flag(method, "keep_vars", keep_vars)
        state = OrderedDict() if destination is None else destination
        for name, tensor in [*self.named_parameters(),
                             *self._named_tensors(Buffer, persistent_only=True)]:
            state[prefix + name] = tensor if keep_vars else tensor.data
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and persistent buffers of the same names.

        Args:
            state_dict: name -> array (NumPy/CuPy array or Tensor).
            strict: if True, missing or unexpected keys are an error; shapes must always match.

        Returns:
            IncompatibleKeys(missing_keys, unexpected_keys).

        Raises:
            StateDictError: listing every missing, unexpected and wrongly shaped key.
        """
        method = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{method}: state_dict must be a mapping of name -> array, got "
                            f"{type(state_dict).__name__}")
        flag(method, "strict", strict)
        own = dict([*self.named_parameters(),
                    *self._named_tensors(Buffer, persistent_only=True)])
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        wrong_shapes = [
            f"{name}: expected {own[name].shape}, got {tuple(np.shape(_raw(value)))}"
            for name, value in state_dict.items()
            if name in own and tuple(np.shape(_raw(value))) != own[name].shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if wrong_shapes:
            problems.append(f"wrongly shaped keys: {wrong_shapes}")
        if problems:
            raise StateDictError(
                f"load_state_dict into {type(self).__name__} failed: " + "; ".join(problems))
        with no_grad():
            for name, value in state_dict.items():
                if name in own:
                    target = own[name]
                    # to the target's device first: a checkpoint holds NumPy arrays
                    target.copy_(_moved(_raw(value), target.device, target.dtype))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its parentheses."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        if self.extra_repr():
            lines.append(f"  {self.extra_repr()}")
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)


def _module_path(module: Module, stack: list) -> str:
    """The dotted path of ``module`` under the module whose forward called it (debug only);
    the outermost module called is named by its class."""
    if not stack:
        return type(module).__name__
    parent_path, parent = stack[-1][0], stack[-1][1]
    for name, value in vars(parent).items():
        if value is module:
            return f"{parent_path}.{name}" if parent_path else name
    return parent_path


def _check_walk(module: Module, method: str, prefix, switch, switch_name: str) -> None:
    """A walk's arguments: ``prefix`` a str, its on/off argument a bool."""
    if not isinstance(prefix, str):
        raise TypeError(f"{type(module).__name__}.{method}: prefix must be a str, got "
                        f"{type(prefix).__name__}")
    flag(f"{type(module).__name__}.{method}", switch_name, switch)


def _check_new_member(module: Module, method: str, name, kind) -> None:
    """PyTorch's checks on a registered name: a non-empty string without dots that does not
    already name something other than a ``kind`` (or None)."""
    if not isinstance(name, str):
        raise TypeError(f"{method}: name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{method}: name must be non-empty and contain no '.', got {name!r}")
    current = vars(module).get(name)
    exists = name in vars(module) or hasattr(type(module), name)
    if exists and not (current is None and name in vars(module) or isinstance(current, kind)):
        raise KeyError(f"{method}: attribute {name!r} already exists on "
                       f"{type(module).__name__} and is not a {kind.__name__}")


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _moved(array, device, dtype):
    """``array`` on ``device`` (None: where it is) as ``dtype`` (None, or for an integer
    array: its own dtype); the same array when nothing changes."""
    if not hasattr(array, "shape"):  # a list or a number in a hand-written state dict
        array = np.asarray(array)
    if device is not None:
        array = backend.to_device(array, device)
    if dtype is not None and np.dtype(array.dtype).kind == "f":
        array = backend.get_array_module(array).asarray(array, dtype=dtype)
    return array


def zero_grads(parameters: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Drop each tensor's gradient (``set_to_none``), or zero it in place: the rule shared
    by ``Module.zero_grad`` and ``Optimizer.zero_grad``."""
    for parameter in parameters:
        if set_to_none or parameter.grad is None:
            parameter.grad = None
        elif parameter.grad.grad_fn is not None:
            # a gradient recorded with create_graph belongs to a graph: replace, never overwrite
            parameter.grad = Tensor(parameter.grad.data * 0)
        else:
            with no_grad():
                parameter.grad.zero_()


def _reject_hidden_members(module: Module, name: str, value) -> None:
    """A plain list, tuple or dict of modules or parameters would be invisible to the walk
    (its parameters untrained, missing from the state dict): say so instead of failing
    silently later."""
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        if isinstance(item, (Module, Parameter)):
            kind = "Module" if isinstance(item, Module) else "Parameter"
            raise TypeError(
                f"{type(module).__name__}.{name} is a {type(value).__name__} holding a {kind}, "
                f"which Module does not look into; use nn.ModuleList (or one attribute per "
                f"parameter) so that parameters(), state_dict() and to() find it")

