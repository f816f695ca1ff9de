"""Which tinygen callable answers each entry of PyTorch's ``op_db``.

Discovery is automatic, so an op picks up its conformance test the day it lands: an entry named
``name`` (with ``variant_test_name`` ``variant``) maps to the first of

1. :data:`CALLS`, for the entries whose op_db function does not take ``(input, *args,
   **kwargs)`` in that order (``where``, ``embedding``, the ``T`` property, ...);
2. ``tinygen.<name>``, or ``tinygen.<prefix>.<rest>`` for a dotted name
   (``tinygen.nn.functional.relu``, ``tinygen.linalg.norm``, ``tinygen.special.erf``);
3. the Tensor method ``<name>`` when its op wrapper exists (``Tensor.view``,
   ``Tensor.__radd__``): ``tensor_methods.py`` already names wrappers that are still to be
   written, and those do not count until they exist;
4. :data:`RENAMES`, for the ops tinygen has under another name only.

PyTorch's aliases (``clip`` for ``clamp``, ``nn.functional.softmax`` for ``softmax``) are
entries of their own when tinygen exposes them under a different callable.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import types
import unittest
from collections.abc import Callable
from dataclasses import dataclass

import tinygen
from tinygen.autograd import ops as tinygen_ops


@functools.cache
def op_db() -> tuple:
    """PyTorch's OpInfo database (``torch.testing._internal.common_methods_invocations``).

    Its import chain needs ``expecttest`` (a PyTorch developer dependency that the pinned
    torch wheel does not install) only for the base class of PyTorch's own ``TestCase``, which
    this suite never uses; when the package is missing a stand-in module provides that base.
    """
    if "expecttest" not in sys.modules:
        try:
            importlib.import_module("expecttest")
        except ImportError:
            stand_in = types.ModuleType("expecttest")
            stand_in.TestCase = unittest.TestCase
            sys.modules["expecttest"] = stand_in
    from torch.testing._internal.common_methods_invocations import op_db as database

    return tuple(database)


def _at(path: str) -> Callable:
    """The tinygen callable at ``path`` (``nn.functional.embedding``), looked up when called."""
    prefix, _, name = path.rpartition(".")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(f"tinygen.{prefix}"), name)(*args, **kwargs)

    return call


#: op_db entries (``name`` or ``name.variant``) whose op_db function reorders its arguments or
#: is not a call: (the tinygen spelling shown in reports, the call on tinygen values).
CALLS: dict[str, tuple[str, Callable]] = {
    # op_db: lambda self, condition, other: torch.where(condition, self, other)
    "where": ("tinygen.where(condition, input, other)",
              lambda x, condition, other, **kw: tinygen.where(condition, x, other, **kw)),
    # op_db: lambda weight, idx: F.embedding(idx, weight)
    "nn.functional.embedding": (
        "tinygen.nn.functional.embedding(idx, weight)",
        lambda weight, idx, **kw: _at("nn.functional.embedding")(idx, weight, **kw)),
    "nn.functional.embedding_bag": (
        "tinygen.nn.functional.embedding_bag(idx, weight)",
        lambda weight, idx, **kw: _at("nn.functional.embedding_bag")(idx, weight, **kw)),
    # op_db: lambda tensors, equation: torch.einsum(equation, tensors)
    "einsum": ("tinygen.einsum(equation, tensors)",
               lambda tensors, equation: tinygen.einsum(equation, tensors)),
    # op_db: lambda x, n: torch.polygamma(n, x)
    **{f"polygamma.polygamma_n_{n}": (
        "tinygen.polygamma(n, input)",
        lambda x, n, **kw: tinygen.polygamma(n, x, **kw)) for n in range(5)},
    "special.polygamma.special_polygamma_n_0": (
        "tinygen.special.polygamma(n, input)",
        lambda x, n, **kw: _at("special.polygamma")(n, x, **kw)),
    "linalg.pinv.singular": ("tinygen.linalg.pinv(a @ b.mT)",
                             lambda a, b: _at("linalg.pinv")(a @ b.mT)),
    "linalg.lstsq.grad_oriented": (
        "tinygen.linalg.lstsq(a, b, driver=driver)[:2]",
        lambda a, b, driver: _at("linalg.lstsq")(a, b, driver=driver)[:2]),
    # properties, not calls
    "T": ("Tensor.T", lambda x: x.T),
    "mT": ("Tensor.mT", lambda x: x.mT),
    "H": ("Tensor.H", lambda x: x.H),
    "mH": ("Tensor.mH", lambda x: x.mH),
}

#: op_db names that tinygen spells differently, used while tinygen has no function of
#: PyTorch's name: op_db name -> tinygen dotted path (relative to ``tinygen``, or
#: ``Tensor.<method>``).
#: Empty today: tinygen took PyTorch's names (``log_sigmoid`` and ``clip`` are kept beside
#: ``logsigmoid`` and ``clamp``; ``upsample_nearest2d`` is not ``upsample_nearest``, whose
#: ``size`` and fractional ``scale_factor`` it does not take).
RENAMES: dict[str, str] = {}

@dataclass(frozen=True)
class Target:
    """One op_db entry and the tinygen callable it is compared with.

    Attributes:
        key: the test id: the op_db name, ``.variant`` appended when there is one, and
            ``[alias]`` for an alias entry.
        opinfo: PyTorch's OpInfo (samples, the reference op, what autograd supports).
        label: the tinygen spelling, for reports (``tinygen.nn.functional.relu``).
        call: runs the op on tinygen values: ``call(input, *args, **kwargs)``.
        torch_call: runs the op on torch values, the same way.
    """

    key: str
    opinfo: object
    label: str
    call: Callable
    torch_call: Callable


def entry_key(opinfo) -> str:
    """``name`` or ``name.variant``: the id of an op_db entry in tests and reports."""
    variant = opinfo.variant_test_name
    return f"{opinfo.name}.{variant}" if variant else opinfo.name


def is_in_place(opinfo) -> bool:
    """Whether the entry runs an in-place op (``zero_``, ``normal`` ``in_place``)."""
    name = opinfo.name
    return (name.endswith("_") and not name.startswith("__")) or \
        opinfo.variant_test_name == "in_place"


def _method_exists(name: str) -> bool:
    """Whether ``Tensor.<name>`` exists and works: a method of ``tensor_methods.py`` counts only
    once one of the op wrappers it calls exists."""
    attribute = inspect.getattr_static(tinygen.Tensor, name, None)
    if attribute is None:
        return False
    function = attribute.fget if isinstance(attribute, property) else attribute
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return True  # a builtin slot (object.__hash__, ...): nothing to look up
    wrappers = re.findall(r"_ops\.(\w+)", source)
    return not wrappers or any(hasattr(tinygen_ops, wrapper) for wrapper in wrappers)


def _method_call(name: str) -> Callable:
    # unbound, as op_db calls it: ``Tensor.__rpow__(2.0, t)`` has a number for ``self``
    return lambda x, *args, **kwargs: getattr(tinygen.Tensor, name)(x, *args, **kwargs)


def _resolve_path(path: str) -> tuple[str, Callable] | None:
    """The tinygen callable at ``path`` (``nn.functional.relu``, ``Tensor.view``, ``add``)."""
    if path.startswith("Tensor."):
        method = path[len("Tensor."):]
        return (path, _method_call(method)) if _method_exists(method) else None
    prefix, _, attribute = path.rpartition(".")
    module_name = f"tinygen.{prefix}" if prefix else "tinygen"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    function = getattr(module, attribute, None)
    if function is None or not callable(function) or isinstance(function, (type, types.ModuleType)):
        return None
    return f"{module_name}.{attribute}", function


def resolve(name: str, key: str | None = None) -> tuple[str, Callable] | None:
    """The (label, callable) tinygen offers for op_db ``name`` (entry ``key``), or None."""
    if key in CALLS or name in CALLS:
        label, call = CALLS.get(key) or CALLS[name]
        head = label.split("(")[0]
        return (label, call) if _resolve_path(head.removeprefix("tinygen.")) else None
    found = _resolve_path(name)
    if found is None and "." not in name:
        found = _resolve_path(f"Tensor.{name}")
    if found is None and name in RENAMES:
        found = _resolve_path(RENAMES[name])
    return found


def _torch_call(opinfo, alias=None) -> Callable:
    function = opinfo.op if alias is None else alias.op
    return lambda x, *args, **kwargs: function(x, *args, **kwargs)


def targets() -> list[Target]:
    """Every op_db entry (and alias) that tinygen exposes, in op_db order."""
    found = []
    names = {opinfo.name for opinfo in op_db()}
    for opinfo in op_db():
        key = entry_key(opinfo)
        # an in_place variant runs the method with PyTorch's trailing underscore
        in_place = opinfo.variant_test_name == "in_place"
        resolved = resolve(f"{opinfo.name}_" if in_place else opinfo.name, key)
        if resolved is not None:
            found.append(Target(key, opinfo, *resolved, _torch_call(opinfo)))
        for alias in opinfo.aliases:
            if alias.name in names:  # the alias has its own entry
                continue
            aliased = resolve(alias.name)
            if aliased is None or (resolved is not None and aliased[1] is resolved[1]):
                continue
            found.append(Target(f"{key}[{alias.name}]", opinfo, *aliased,
                                _torch_call(opinfo, alias)))
    return found


def unexposed() -> list[str]:
    """The op_db entry names tinygen does not expose at all (sorted, without duplicates)."""
    exposed = {target.opinfo.name for target in targets()}
    return sorted({opinfo.name for opinfo in op_db()} - exposed)
