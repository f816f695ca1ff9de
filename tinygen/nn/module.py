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
from collections.abc import Iterable, Iterator

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor


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


class StateDictError(KeyError):
    """load_state_dict found missing, unexpected or wrongly shaped entries."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


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

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree (this one first), each once, with its dotted path."""
        seen: set = set()
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_tensors(self, kind) -> Iterator[tuple[str, Tensor]]:
        seen: set = set()
        for path, module in self.named_modules():
            for name, value in module._members():
                if isinstance(value, kind) and id(value) not in seen:
                    seen.add(id(value))
                    full = f"{path}.{name}" if path else name
                    yield full, value

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once (shared ones under their first
        path), own parameters before the children's.

        Each parameter's ``name`` is set to its path, so that errors (the mutation guard, the
        debug tools) name it; a walk from an outer module lengthens a name an inner walk gave
        (``fc.weight`` becomes ``encoder.fc.weight``).
        """
        for name, parameter in self._named_tensors(Parameter):
            if parameter.name is None or name.endswith("." + parameter.name):
                parameter.name = name
            yield name, parameter

    def parameters(self) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters():
            yield parameter

    def named_buffers(self) -> Iterator[tuple[str, Buffer]]:
        yield from self._named_tensors(Buffer)

    def buffers(self) -> Iterator[Buffer]:
        for _, buffer in self.named_buffers():
            yield buffer

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm on batch statistics) everywhere."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode everywhere (the same as ``train(False)``)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or zero it in place."""
        zero_grads(self.parameters(), set_to_none)

    def to(self, device=None, dtype=None) -> Module:
        """Move every parameter, buffer and gradient to ``device`` and/or cast the floating
        ones to ``dtype``, in place (like PyTorch); integer buffers keep their dtype.

        Returns:
            This module.
        """
        device = None if device is None else backend.check_device(device)
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"Module.to: dtype must be a floating dtype, got {dtype}")
        for _, tensor in [*self.named_parameters(), *self.named_buffers()]:
            moved = _moved(tensor.data, device, dtype)
            if moved is not tensor.data:  # the setter bumps the version: only on a change
                tensor.data = moved
            if tensor.grad is not None:
                tensor.grad = Tensor(_moved(tensor.grad.data, device, dtype))
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Parameters and buffers by dotted name, as raw arrays (not copies: as in PyTorch,
        the values change when training goes on; copy them to keep a snapshot)."""
        state = OrderedDict(
            (name, tensor.data) for name, tensor in self.named_parameters())
        state.update((name, tensor.data) for name, tensor in self.named_buffers())
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> tuple[list, list]:
        """Copy arrays into the parameters and buffers of the same names.

        Args:
            state_dict: name -> array (NumPy/CuPy array or Tensor).
            strict: if True, missing or unexpected keys are an error; shapes must always match.

        Returns:
            (missing keys, unexpected keys).

        Raises:
            StateDictError: listing every missing, unexpected and wrongly shaped key.
        """
        own = dict([*self.named_parameters(), *self.named_buffers()])
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
        return missing, unexpected

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


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ..."""

    def __init__(self, *modules: Module):
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {index} must be a Module, got "
                                f"{type(module).__name__}")
            setattr(self, str(index), module)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __getitem__(self, index: int | slice) -> Module:
        """The index-th module, or a Sequential of a slice of them (sharing the modules)."""
        if isinstance(index, slice):
            return Sequential(*list(self.children())[index])
        return list(self.children())[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self.children()))

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x


class ModuleList(Module):
    """A list of modules whose parameters the parent module finds (children "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] = ()):
        self._count = 0
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(self._count), module)
        self._count += 1
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Module:
        if not -self._count <= index < self._count:
            raise IndexError(f"ModuleList index {index} out of range for length {self._count}")
        return getattr(self, str(index % self._count))

    def __iter__(self) -> Iterator[Module]:
        return (getattr(self, str(i)) for i in range(self._count))

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container, not a layer: iterate over it in the "
                        "parent's forward")
