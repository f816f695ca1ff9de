"""Every CuPy name tinygen calls exists in CuPy, proven on machines without a GPU.

The ops are written once against ``xp`` and run on NumPy here, so a NumPy-only name
(``xp.add.at``, ``np.random.Generator.normal``-style calls) would only fail on a GPU. This test
parses the source (no import, no GPU) and resolves each name against the real cupy package
where it imports, and everywhere against tests/data/cupy_names.txt, a list generated from
cupy (regenerate it with ``python tools/gen_cupy_names.py``).
"""

import ast
import importlib
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinygen"
NAMES_FILE = ROOT / "tests" / "data" / "cupy_names.txt"
BACKEND = PACKAGE / "backend.py"
# The array-module variable of the ops, and the modules backend.py touches by name.
ROOTS = {"xp": "cupy", "cupy": "cupy", "cupyx": "cupyx"}
# Instance attributes that ``dir(class)`` cannot show: CuPy's Generator.__init__ sets
# ``self.bit_generator`` (cupy/random/_generator_api.pyx), as NumPy's Generator has it too.
INSTANCE_ATTRIBUTES = {"cupy.random.Generator.bit_generator"}


def _sources() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _chain(node: ast.Attribute) -> list[str] | None:
    """['xp', 'linalg', 'norm'] for ``xp.linalg.norm``; None if it is not a pure chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _used_names(path: pathlib.Path) -> set[str]:
    """Dotted CuPy names (``cupy.linalg.norm``) used as xp/cupy/cupyx attribute chains,
    including ``backend.cupy.<...>`` from the ops that need a CuPy-only class."""
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = ROOTS if path == BACKEND else {"xp": "cupy"}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _chain(node)
            if chain and chain[0] == "backend" and len(chain) > 2 and chain[1] in ROOTS:
                chain = chain[1:]
            if chain and chain[0] in roots and not any(p.startswith("__") for p in chain):
                names.add(".".join([roots[chain[0]], *chain[1:]]))
    return names


def _generator_methods(path: pathlib.Path) -> set[str]:
    """Methods called on a variable assigned from ``get_generator(...)``, as
    ``cupy.random.Generator.<method>``: NumPy's Generator has far more of them than CuPy's."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        generators = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                callee = node.value.func
                callee_name = getattr(callee, "attr", getattr(callee, "id", None))
                if callee_name == "get_generator":
                    generators |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(function):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in generators):
                names.add(f"cupy.random.Generator.{node.attr}")
    return names


def _all_used_names() -> dict[str, list[str]]:
    """Each used name, with the files that use it (for the failure message)."""
    used: dict[str, list[str]] = {}
    for path in _sources():
        for name in _used_names(path) | _generator_methods(path):
            used.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return used


def _exists_in_installed_cupy(name: str) -> bool:
    if name in INSTANCE_ATTRIBUTES:
        return True
    module_name, *attributes = name.split(".")
    obj = importlib.import_module(module_name)
    for attribute in attributes:
        if not hasattr(obj, attribute):
            # submodules such as cupy.lib.stride_tricks load on import, not on attribute access
            try:
                obj = importlib.import_module(f"{obj.__name__}.{attribute}")
                continue
            except (ImportError, AttributeError):
                return False
        obj = getattr(obj, attribute)
    return True


def _checked_in_names() -> set[str]:
    lines = NAMES_FILE.read_text().splitlines()
    names = {line for line in lines if line and not line.startswith("#")} | INSTANCE_ATTRIBUTES
    # A listed name implies its parents (``cupy.linalg`` for ``cupy.linalg.norm``).
    for name in list(names):
        parts = name.split(".")
        names |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return names


def test_the_scan_finds_the_array_module_calls():
    # Guards the parser itself: the ops certainly call these, so an empty scan is a bug here.
    used = _all_used_names()
    assert "cupy.exp" in used
    assert "cupyx.scatter_add" in used
    assert "cupy.random.Generator.standard_normal" in used


def test_the_check_rejects_numpy_only_names(tmp_path):
    # Guards the resolver: names NumPy has and CuPy lacks must come out as missing, both
    # against the installed cupy and against the checked-in list.
    source = tmp_path / "numpy_only.py"
    source.write_text(
        "def f(xp, x):\n"
        "    rng = get_generator('cuda')\n"
        "    return xp.einsum_path('ij,jk', x, x), rng.normal(size=3)\n")
    used = _used_names(source) | _generator_methods(source)
    numpy_only = {"cupy.einsum_path", "cupy.random.Generator.normal"}
    assert numpy_only <= used
    assert not numpy_only & _checked_in_names()
    if importlib.util.find_spec("cupy") is not None:
        assert not any(_exists_in_installed_cupy(name) for name in numpy_only)


def _report(missing: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} (in {', '.join(files)})" for name, files in sorted(missing.items()))


def test_every_xp_name_tinygen_uses_exists_in_the_installed_cupy():
    pytest.importorskip("cupy")
    missing = {name: files for name, files in _all_used_names().items()
               if not _exists_in_installed_cupy(name)}
    assert not missing, "names tinygen calls that CuPy lacks: " + _report(missing)


def test_every_xp_name_tinygen_uses_is_in_the_checked_in_cupy_names():
    # Runs where cupy is not installed, too. A name that is missing here but exists in a newer
    # cupy means the list is stale: regenerate it with tools/gen_cupy_names.py.
    listed = _checked_in_names()
    missing = {name: files for name, files in _all_used_names().items() if name not in listed}
    assert not missing, f"names not in {NAMES_FILE.name}: " + _report(missing)


def test_only_backend_imports_cupy():
    offenders = []
    for path in _sources():
        if path == BACKEND:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
                          for module in modules if module.split(".")[0] in ("cupy", "cupyx")]
    assert not offenders, "only tinygen/backend.py may import cupy: " + "; ".join(offenders)
