"""The import rules docs/ARCHITECTURE.md states, checked on the source.

Each layer imports only from itself and the layers below it; module-level imports form no
cycle; nothing imports below a definition (no import at the bottom of a file to break a
circle); only backend.py imports CuPy. The one upward edge allowed is Tensor's: its
operators and methods (``tensor_methods.py``) call the op wrappers and ``backward()`` calls the
engine, imported at first call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinygen"

# Bottom to top, as in docs/ARCHITECTURE.md; a module's layer is its longest matching prefix.
LAYERS = [
    ("tinygen.backend", "tinygen.host_memory"),
    ("tinygen.autograd.hooks", "tinygen.autograd.grad_mode", "tinygen.autograd.display"),
    ("tinygen.autograd.tensor", "tinygen.autograd.tensor_methods",
     "tinygen.autograd.tensor_math_methods"),
    ("tinygen.autograd.function",),
    ("tinygen.autograd.engine",),
    ("tinygen.autograd.gradcheck", "tinygen.autograd.creation", "tinygen.autograd.sampling",
     "tinygen.autograd"),
    ("tinygen.autograd.ops",),
    ("tinygen.nn",),
    ("tinygen.optim",),
    ("tinygen.data",),
    ("tinygen.train",),
    ("tinygen.testing",),
    ("tinygen.debug",),
    ("tinygen",),
]
# (importer, imported) pairs that may go up a layer, inside a function only.
DEFERRED_UPWARD = {
    ("tinygen.autograd.tensor_math_methods", "tinygen.autograd.ops"),
    ("tinygen.autograd.tensor_methods", "tinygen.autograd.engine"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _targets(module: str, node, is_package: bool) -> list[str]:
    """The modules an import statement names (a from-import of a submodule names it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports(module: str):
    """(module-level targets, deferred targets, imports placed after a definition)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    top, late, seen_definition = set(), [], False
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            seen_definition = True
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            top.update(_targets(module, statement, is_package))
            if seen_definition:
                late.append(statement.lineno)
    top_nodes = {id(s) for s in tree.body}
    deferred = {
        target for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top_nodes
        for target in _targets(module, node, is_package)
    }
    return top, deferred, late


def _layer(module: str) -> int:
    best, rank = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    return rank


def _tinygen(targets) -> set[str]:
    return {t for t in targets if t == "tinygen" or t.startswith("tinygen.")}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_own_layer_or_below(module):
    top, deferred, _ = _imports(module)
    upward = sorted(t for t in _tinygen(top) if _layer(t) > _layer(module))
    assert upward == [], f"{module} imports from a layer above it: {upward}"
    upward_deferred = {t for t in _tinygen(deferred) if _layer(t) > _layer(module)}
    assert upward_deferred <= {t for m, t in DEFERRED_UPWARD if m == module}, (
        f"{module} imports from a layer above it inside a function: {sorted(upward_deferred)}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_sits_below_a_definition(module):
    _, _, late = _imports(module)
    assert late == [], f"{module}: imports after a def/class at lines {late}"


def test_module_level_imports_form_no_cycle():
    graph = {m: sorted(t for t in _tinygen(_imports(m)[0]) if t in MODULES and t != m)
             for m in MODULES}
    state: dict = {}  # module -> "open" while on the DFS path, "done" after
    for start in graph:
        stack = [(start, iter(graph[start]))]
        state.setdefault(start, "open")
        if state[start] == "done":
            continue
        path = [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                cycle = path[path.index(child):] + [child]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(graph[child])))
                path.append(child)


def test_only_backend_imports_cupy():
    importers = sorted(
        module for module in MODULES
        if any(t.split(".")[0] in ("cupy", "cupyx")
               for t in set.union(*_imports(module)[:2]))
    )
    assert importers == ["tinygen.backend"]


def test_tinygen_never_imports_models_tests_or_benchmarks():
    for module in MODULES:
        top, deferred, _ = _imports(module)
        outside = {t for t in top | deferred if t.split(".")[0] in
                   ("models", "tests", "benchmarks", "examples", "torch")}
        assert outside == set(), f"{module} imports {sorted(outside)}"


def test_every_module_has_a_layer():
    assert all(_layer(module) is not None for module in MODULES)


# ---------------------------------------------------------------- docs/ARCHITECTURE.md
DOC = PACKAGE.parent / "docs" / "ARCHITECTURE.md"


def _op_classes() -> list[type]:
    """Every Function subclass the package defines, with all op modules imported."""
    import importlib
    import pkgutil

    from tinygen.autograd import Function, ops

    for info in pkgutil.walk_packages(ops.__path__, ops.__name__ + "."):
        importlib.import_module(info.name)
    found, stack = [], [Function]
    while stack:
        for subclass in stack.pop().__subclasses__():
            stack.append(subclass)
            if subclass.__module__.startswith("tinygen."):
                found.append(subclass)
    return found


def test_the_op_index_lists_every_op_class_with_its_file():
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ")]
    missing = []
    for op in _op_classes():
        path = MODULES[op.__module__].relative_to(PACKAGE.parent).as_posix()
        if not any(f"`{path}`" in row and f"`{op.__name__}`" in row for row in rows):
            missing.append(f"{op.__name__} ({path})")
    assert missing == [], f"docs/ARCHITECTURE.md's op index lacks: {missing}"


def test_every_source_path_the_architecture_doc_names_exists():
    import re

    named = set(re.findall(r"`((?:tinygen|models|tests|benchmarks)/[\w/.]+\.py)`",
                           DOC.read_text()))
    assert named, "the doc names no source files"
    assert sorted(p for p in named if not (PACKAGE.parent / p).exists()) == []


# ---------------------------------------------------------------- sizes a reader can take in
MAX_FILE_LINES = 500  # a file past this gets split by role (docs/ARCHITECTURE.md)
MAX_MAIN_LINES = 50   # a model script's main() parses, builds, trains, reports: no more


def _sources(*folders):
    root = PACKAGE.parent
    return sorted(p for folder in folders for p in (root / folder).rglob("*.py"))


def test_no_file_in_the_package_or_the_models_exceeds_500_lines():
    long_files = {p.relative_to(PACKAGE.parent).as_posix(): n for p in _sources("tinygen", "models")
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert long_files == {}


def test_every_model_scripts_main_is_short():
    long_mains = {}
    for path in _sources("models"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == "main":
                length = node.end_lineno - node.lineno + 1
                if length > MAX_MAIN_LINES:
                    long_mains[path.name] = length
    assert long_mains == {}


def test_no_model_script_defines_a_helper_after_main():
    late = {}
    for path in _sources("models"):
        names = [n.name for n in ast.parse(path.read_text()).body
                 if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        if "main" in names and names[-1] != "main":
            late[path.name] = names[names.index("main") + 1:]
    assert late == {}
