"""Write tests/data/cupy_names.txt: the public names of the CuPy modules tinygen may call.

tests/test_cupy_conformance.py checks tinygen's ``xp.*`` calls against the real cupy package
when it imports, and against this list where it does not (a machine without cupy installed).
Regenerate after upgrading cupy:

    python tools/gen_cupy_names.py
"""

import importlib
import inspect
import pathlib

import cupy

# The namespaces reachable as ``xp.<...>`` (and, in backend.py, ``cupy.<...>``/``cupyx.<...>``).
MODULES = (
    "cupy", "cupy.linalg", "cupy.random", "cupy.fft", "cupy.lib", "cupy.lib.stride_tricks",
    "cupy.cuda", "cupy.cuda.runtime", "cupyx",
)
# Classes whose methods tinygen calls on instances (the generator behind manual_seed).
CLASSES = ("cupy.random.Generator",)
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "cupy_names.txt"


def public_names(qualified: str, obj) -> set[str]:
    return {f"{qualified}.{name}" for name in dir(obj) if not name.startswith("_")}


def main() -> None:
    names = set()
    for module_name in MODULES:
        names |= public_names(module_name, importlib.import_module(module_name))
    for class_path in CLASSES:
        module_name, _, class_name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        assert inspect.isclass(cls), class_path
        names |= public_names(class_path, cls)
    header = f"# public CuPy names, by tools/gen_cupy_names.py from cupy {cupy.__version__}"
    OUTPUT.write_text("\n".join([header, *sorted(names)]) + "\n")
    print(f"wrote {len(names)} names to {OUTPUT}")


if __name__ == "__main__":
    main()
