"""Containers, as PyTorch's: ``Sequential``, ``ModuleList`` and ``ModuleDict`` hold modules,
``ParameterList`` and ``ParameterDict`` hold parameters.

Each keeps its members as attributes named by position ("0", "1", ...) or by key, so
``Module``'s attribute walk finds them and state-dict names read as PyTorch's
(``layers.0.weight``, ``heads.digit.bias``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Module, Parameter


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b)`` names them "0", "1";
    ``Sequential(OrderedDict([("conv", a), ("relu", b)]))`` by the keys."""

    def __init__(self, *modules: Module):
        named = (modules[0].items() if len(modules) == 1 and isinstance(modules[0], OrderedDict)
                 else ((str(index), module) for index, module in enumerate(modules)))
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {name} must be a Module, got "
                                f"{type(module).__name__}")
            self.add_module(name, module)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __getitem__(self, index: int | slice) -> Module:
        """The index-th module, or a Sequential of a slice of them (the same modules, under
        their names)."""
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self.named_children())[index]))
        return list(self.children())[index]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(list(self.named_children())[index][0], module)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self.children()))

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for module in self.children():
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters the parent module finds (children "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] = ()):
        self._count = 0
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(self._count), module)
        self._count += 1
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in _members("ModuleList", modules):
            self.append(module)
        return self

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        if isinstance(index, slice):
            return ModuleList(list(self)[index])
        return getattr(self, _position("ModuleList", index, self._count))

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(_position("ModuleList", index, self._count), module)

    def __iter__(self) -> Iterator[Module]:
        return (getattr(self, str(i)) for i in range(self._count))

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container, not a layer: iterate over it in the "
                        "parent's forward")


class ModuleDict(Module):
    """Modules by name, in insertion order (``heads["digit"]``, ``heads.digit``)."""

    def __init__(self, modules: Mapping | Iterable[tuple] | None = None):
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self:
            raise KeyError(f"ModuleDict has no module {key!r}; it has {self.keys()}")
        return getattr(self, key)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} must be a Module, got {type(module).__name__}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - the missing-key error
        delattr(self, key)

    def __contains__(self, key) -> bool:
        return isinstance(vars(self).get(key), Module)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def items(self) -> list[tuple[str, Module]]:
        return list(self.named_children())

    def values(self) -> list[Module]:
        return list(self.children())

    def update(self, modules: Mapping | Iterable[tuple]) -> None:
        for key, module in _pairs("ModuleDict", modules):
            self[key] = module

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleDict is a container, not a layer: index it in the parent's "
                        "forward")


class ParameterList(Module):
    """A list of parameters ("0", "1", ...); a plain Tensor is made a Parameter, as PyTorch."""

    def __init__(self, values: Iterable[Tensor] = ()):
        self._count = 0
        self.extend(values)

    def append(self, value: Tensor) -> ParameterList:
        self.register_parameter(str(self._count), _as_parameter("ParameterList", value))
        self._count += 1
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        for value in _members("ParameterList", values):
            self.append(value)
        return self

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Parameter:
        return getattr(self, _position("ParameterList", index, self._count))

    def __setitem__(self, index: int, value: Tensor) -> None:
        self.register_parameter(_position("ParameterList", index, self._count),
                                _as_parameter("ParameterList", value))

    def __iter__(self) -> Iterator[Parameter]:
        return (getattr(self, str(i)) for i in range(self._count))

    def extra_repr(self) -> str:
        return "\n".join(_describe(str(i), p) for i, p in enumerate(self))


class ParameterDict(Module):
    """Parameters by name, in insertion order; a plain Tensor is made a Parameter."""

    def __init__(self, parameters: Mapping | Iterable[tuple] | None = None):
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        if key not in self:
            raise KeyError(f"ParameterDict has no parameter {key!r}; it has {self.keys()}")
        return getattr(self, key)

    def __setitem__(self, key: str, value: Tensor) -> None:
        self.register_parameter(key, _as_parameter("ParameterDict", value))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - the missing-key error
        delattr(self, key)

    def __contains__(self, key) -> bool:
        return isinstance(vars(self).get(key), Parameter)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        return [name for name, _ in self.named_parameters(recurse=False)]

    def items(self) -> list[tuple[str, Parameter]]:
        return list(self.named_parameters(recurse=False))

    def values(self) -> list[Parameter]:
        return list(self.parameters(recurse=False))

    def update(self, parameters: Mapping | Iterable[tuple]) -> None:
        for key, value in _pairs("ParameterDict", parameters):
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(_describe(key, p) for key, p in self.items())


def _members(container: str, values) -> list:
    """The members of an iterable (not a string), as a list."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{container}: expected an iterable of members, got "
                        f"{type(values).__name__}")
    return list(values)


def _pairs(container: str, values) -> list:
    """(key, member) pairs from a mapping or an iterable of pairs with string keys."""
    pairs = list(values.items()) if isinstance(values, Mapping) else _members(container, values)
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise TypeError(f"{container}: expected a mapping or (str key, value) pairs, got "
                            f"an entry {pair!r}")
    return pairs


def _position(container: str, index, length: int) -> str:
    """The attribute name of position ``index`` (negative counts from the end)."""
    if not isinstance(index, int) or not -length <= index < length:
        raise IndexError(f"{container} index {index!r} out of range for length {length}")
    return str(index % length)


def _as_parameter(container: str, value) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{container}: expected a Tensor or Parameter, got {type(value).__name__}")


def _describe(name: str, parameter: Parameter) -> str:
    return f"({name}): Parameter of shape {parameter.shape}, {parameter.dtype}"
