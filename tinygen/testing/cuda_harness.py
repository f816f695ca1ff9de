"""Run a CuPy ElementwiseKernel's body on the CPU, so that GPU kernel code is tested here.

An ElementwiseKernel is three strings: typed input parameters, typed output parameters and a
C++ body that runs once per element. This harness wraps the body in a C++ loop over plain
arrays (``using T = double;``), compiles it with g++ into a shared library, and calls it
through ctypes on NumPy arrays. The body's C++ is compiled exactly as written; only the
CUDA thread indexing is replaced by the loop.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

# The body sees what CUDA device code sees: exp, tanh, log1p, fabs, ... from <cmath>, and
# CUDA's overloaded min/max.
_TEMPLATE = """#include <algorithm>
#include <cmath>
using std::max;
using std::min;
using T = double;
extern "C" void run(long size, {signature}) {{
  for (long index = 0; index < size; ++index) {{
{bindings}
{body}
  }}
}}
"""


class CompilerMissing(RuntimeError):
    """No C++ compiler on this machine: the harness cannot run."""


class KernelCompileError(RuntimeError):
    """g++ rejected the kernel body; the message carries the generated source and g++'s
    diagnostics."""


def _names(parameters: str) -> list[str]:
    """'T a, T b' -> ['a', 'b'] (every parameter must be of the generic type T)."""
    names = []
    for parameter in parameters.split(","):
        kind, name = parameter.split()
        if kind != "T":
            raise ValueError(f"cuda_harness supports parameters of type T only, got {kind!r}")
        names.append(name)
    return names


def compile_elementwise(in_params: str, out_params: str, body: str):
    """Compile a kernel body for the CPU.

    Args:
        in_params, out_params: the kernel's parameter lists, every one of type T
            (``"T a, T b"``).
        body: the kernel's C++ operation string, run once per element.

    Returns:
        A function taking the input arrays (broadcast together) and returning the output
        arrays, float64.

    Raises:
        ValueError: if a parameter is not of type T.
        CompilerMissing: if g++ is not installed.
        KernelCompileError: if the body does not compile.
    """
    inputs, outputs = _names(in_params), _names(out_params)
    compiler = shutil.which("g++")
    if compiler is None:
        raise CompilerMissing("g++ is not installed; the CUDA kernel harness needs it")
    signature = ", ".join([f"const T* in_{n}" for n in inputs] + [f"T* out_{n}" for n in outputs])
    bindings = "\n".join([f"    const T {n} = in_{n}[index];" for n in inputs]
                         + [f"    T& {n} = out_{n}[index];" for n in outputs])
    source = _TEMPLATE.format(signature=signature, bindings=bindings, body=body)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    build = Path(tempfile.gettempdir()) / "tinygen_cuda_harness"
    build.mkdir(exist_ok=True)
    library = build / f"kernel_{digest}.so"
    if not library.exists():
        source_path = build / f"kernel_{digest}.cpp"
        source_path.write_text(source)
        partial = build / f"kernel_{digest}.{id(source)}.tmp"
        built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", str(source_path), "-o",
                                str(partial)], capture_output=True, text=True)
        if built.returncode != 0:
            raise KernelCompileError(f"g++ could not compile the kernel body:\n{source}\n"
                                     f"{built.stderr}")
        partial.replace(library)  # atomic: a concurrent test never loads half a library
    run = ctypes.CDLL(str(library)).run
    pointer = ctypes.POINTER(ctypes.c_double)

    def call(*arrays):
        if len(arrays) != len(inputs):
            raise ValueError(f"expected {len(inputs)} inputs ({inputs}), got {len(arrays)}")
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
        args = [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64)
                for a in arrays]
        results = [np.empty(shape, dtype=np.float64) for _ in outputs]
        run(ctypes.c_long(int(np.prod(shape))),
            *(a.ctypes.data_as(pointer) for a in args + results))
        return tuple(results)

    return call
