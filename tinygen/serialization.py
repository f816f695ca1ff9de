"""``tinygen.save`` and ``tinygen.load``: PyTorch's two checkpoint functions, without pickle.

``torch.save`` pickles, so ``torch.load`` of an untrusted file can run code. tinygen writes a
safetensors file instead, and reads back only data:

- every array (a Tensor's, or a raw NumPy/CuPy array such as ``model.state_dict()`` holds) is
  one safetensors tensor, named by where it sits in the object (``"model/fc.weight"``; a flat
  state dict keeps its own keys, so the file also opens with ``safetensors.torch.load_file``);
- everything else is one JSON document in the file's metadata under ``"tinygen"``: the
  nesting of dicts, lists and tuples (dict keys keep their type, so an optimizer state dict's
  integer keys come back as ints), numbers, strings, booleans and None, and for each array
  its dtype, device, CRC-32 and whether it was a Tensor (or a Parameter, a Buffer) and
  required grad.

An array reached twice (a Parameter and the same array in a state dict) is stored once and
loads as one array, shared again. A path is written atomically (a temporary file beside it,
then ``os.replace``), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors_bytes
from safetensors.numpy import save as save_safetensors_bytes

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Buffer, Parameter
from tinygen.train.checkpoint import atomic_write

FORMAT = "tinygen.save"
FORMAT_VERSION = 1
_METADATA_KEY = "tinygen"  # the JSON document's key in the safetensors metadata
# dtypes every safetensors release since 0.4 stores as themselves; others (complex, strings,
# datetimes) are stored as their raw bytes and reinterpreted on load
_SAFETENSORS_DTYPES = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                       "uint64", "float16", "float32", "float64"}
_ARRAY_KINDS = "biufcSUMm"  # fixed-size dtypes: no object pointers, no structured records
_TENSOR_CLASSES = {"Tensor": Tensor, "Parameter": Parameter, "Buffer": Buffer}
_SUPPORTED = ("a Tensor, a NumPy or CuPy array, a NumPy scalar, a dict, list or tuple of "
              "those, int, float, complex, str, bool or None")


class SerializationError(RuntimeError):
    """A file is not one ``tinygen.save`` wrote (or a plain safetensors file), or it is
    truncated or corrupt."""


# ----------------------------------------------------------------------------- save
def save(obj, f: str | os.PathLike | io.BufferedIOBase) -> None:
    """Save ``obj`` to ``f``, as ``torch.save(obj, f)`` does, in a format that cannot run
    code on load.

    Args:
        obj: a Tensor, a NumPy/CuPy array, a NumPy scalar, a number, a str, a bool, None,
            or a dict / list / tuple nesting them: ``model.state_dict()``,
            ``optimizer.state_dict()``, ``{"epoch": 3, "model": ..., "optimizer": ...}``.
            Dict keys may be str, int, float, bool or None.
        f: a path (written atomically; missing folders are created), or a binary file
            object open for writing.

    Raises:
        TypeError: something in ``obj`` cannot be saved without pickle (a function, an
            instance of a custom class, an object array); the message names where it is,
            e.g. ``obj['model']['fc.weight']``. Nothing is written then.
        ValueError: ``obj`` contains itself.
    """
    if not isinstance(f, (str, os.PathLike)):
        _check_writable(f)
    writer = _Writer()
    structure = writer.encode(obj, "obj", ())
    document = {"format": FORMAT, "version": FORMAT_VERSION, "structure": structure,
                "arrays": writer.entries}
    data = save_safetensors_bytes(writer.arrays, metadata={
        _METADATA_KEY: json.dumps(document, allow_nan=False, separators=(",", ":"))})
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as file:
            file.write(data)
    else:
        f.write(data)


def _check_writable(f) -> None:
    if isinstance(f, io.TextIOBase):
        raise TypeError("tinygen.save: f is a text file; open it in binary mode ('wb')")
    if not callable(getattr(f, "write", None)):
        raise TypeError(f"tinygen.save: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")


class _Writer:
    """Turns an object into a JSON-able structure, collecting its arrays.

    Attributes:
        arrays: safetensors name -> C-contiguous little-endian NumPy array, as stored.
        entries: safetensors name -> {"dtype", "shape", "device", "crc32"} of the array
            as it was (its dtype string keeps the byte order).
    """

    def __init__(self):
        self.arrays: dict = {}
        self.entries: dict = {}
        self._name_of: dict = {}  # id(raw array) -> its name: stored once
        self._tensor_index: dict = {}  # id(Tensor) -> its index: loaded as one object
        self._open: set = set()  # ids of the containers on the current path (cycles)

    def encode(self, value, path: str, parts: tuple):
        """The JSON node for ``value``; ``path`` is how errors name it, ``parts`` the
        keys that name its arrays."""
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"float": repr(value)}
        if kind is complex:
            return {"complex": [self.encode(value.real, path, parts),
                                self.encode(value.imag, path, parts)]}
        if isinstance(value, Tensor):
            return self._tensor(value, path, parts)
        if isinstance(value, np.generic):
            self._check_dtype(value.dtype, path)
            return {"scalar": value.dtype.str, "bytes": value.tobytes().hex()}
        if isinstance(value, np.ndarray) or backend.device_of(value) == "cuda":
            return {"array": self._array(value, path, parts)}
        if isinstance(value, (dict, list, tuple)):
            return self._container(value, path, parts)
        hint = "; save its state_dict() instead" if hasattr(value, "state_dict") else ""
        raise TypeError(f"tinygen.save: cannot save {path}, of type {kind.__qualname__}, "
                        f"without pickle{hint}; supported: {_SUPPORTED}")

    def _container(self, value, path: str, parts: tuple) -> dict:
        if id(value) in self._open:
            raise ValueError(f"tinygen.save: {path} contains itself (a reference cycle)")
        self._open.add(id(value))
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not (key is None or type(key) in (str, int, float, bool)):
                    raise TypeError(f"tinygen.save: {path} has the key {key!r} of type "
                                    f"{type(key).__qualname__}; keys must be str, int, "
                                    "float, bool or None")
                items.append([self.encode(key, path, parts),
                              self.encode(item, f"{path}[{key!r}]", (*parts, key))])
            node = {"dict": items}
        elif type(value) in (list, tuple):
            node = {type(value).__name__: [self.encode(item, f"{path}[{index}]",
                                                       (*parts, index))
                                           for index, item in enumerate(value)]}
        else:  # a named tuple or a list subclass would come back as a plain one
            raise TypeError(f"tinygen.save: cannot save {path}, of type "
                            f"{type(value).__qualname__} (a subclass of "
                            f"{type(value).__mro__[1].__name__}), without pickle; supported: "
                            f"{_SUPPORTED}")
        self._open.discard(id(value))
        return node

    def _tensor(self, tensor: Tensor, path: str, parts: tuple) -> dict:
        index = self._tensor_index.setdefault(id(tensor), len(self._tensor_index))
        kind = next(name for name in ("Parameter", "Buffer", "Tensor")
                    if isinstance(tensor, _TENSOR_CLASSES[name]))
        return {"tensor": self._array(tensor.data, path, parts), "class": kind,
                "requires_grad": tensor.requires_grad, "object": index}

    def _array(self, array, path: str, parts: tuple) -> str:
        """Store ``array`` (once) and return its name."""
        if id(array) in self._name_of:
            return self._name_of[id(array)]
        self._check_dtype(array.dtype, path)
        # asarray(order="C"), not ascontiguousarray, which turns a 0-d array 1-d
        host = np.asarray(backend.to_numpy(array), order="C")
        stored = host.astype(host.dtype.newbyteorder("<")) if host.dtype.byteorder == ">" \
            else host
        if stored.dtype.name not in _SAFETENSORS_DTYPES:
            stored = stored.reshape(-1).view(np.uint8)
        name = self._unique_name("/".join(str(part) for part in parts) or "obj")
        self._name_of[id(array)] = name
        self.arrays[name] = stored
        self.entries[name] = {"dtype": host.dtype.str, "shape": list(host.shape),
                              "device": str(backend.device_of(array)),
                              "crc32": _crc32(stored)}
        return name

    def _unique_name(self, name: str) -> str:
        """``name``, or ``name#2``, ``name#3``... if taken (keys may contain '/')."""
        candidate, count = name, 1
        while candidate in self.arrays or candidate == "__metadata__":
            count += 1
            candidate = f"{name}#{count}"
        return candidate

    @staticmethod
    def _check_dtype(dtype: np.dtype, path: str) -> None:
        if dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"tinygen.save: cannot save {path}, an array of dtype {dtype}, "
                            "without pickle; its elements must be numbers, bools, strings "
                            "or datetimes")


def _crc32(array: np.ndarray) -> int:
    return zlib.crc32(array.reshape(-1).view(np.uint8))


# ----------------------------------------------------------------------------- load
def load(f: str | os.PathLike | io.BufferedIOBase, map_location=None,
         weights_only: bool | None = True):
    """Load what :func:`save` wrote, as ``torch.load(f, map_location)`` does.

    Tensors come back as Tensors (Parameters as Parameters, with their ``requires_grad``),
    arrays as arrays, tuples as tuples, and dict keys with their types. A plain safetensors
    file (e.g. one ``safetensors.torch.save_file`` wrote) loads as a dict of Tensors.

    Args:
        f: a path, or a binary file object open for reading.
        map_location: where arrays go: None (back where they were saved; a GPU one needs a
            GPU), ``"cpu"``, ``"cuda"`` (or ``"cuda:0"``, ``tinygen.device("cuda")``), or a
            dict from the saved device to the new one (``{"cuda": "cpu"}``). Raw arrays move
            as well as Tensors: a state dict's arrays are its tensors.
        weights_only: accepted for PyTorch's signature; the format holds only data, so
            every file loads the same way whatever its value.

    Returns:
        The object.

    Raises:
        SerializationError: the file is not one :func:`save` wrote, or it is truncated or
            corrupt (the message names the file).
        FileNotFoundError: there is no file at the path.
        DeviceError: an array would go to a GPU and none is usable.
    """
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"tinygen.load: weights_only must be a bool or None, got "
                        f"{weights_only!r}")
    label, data = _read(f)
    devices = _device_map(map_location)
    try:
        arrays = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, KeyError) as error:
        raise SerializationError(f"tinygen.load: {label} is not a file tinygen.save wrote, "
                                 f"or it is truncated or corrupt ({_hint(data)}{error})"
                                 ) from error
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    metadata = header.get("__metadata__") or {}
    if _METADATA_KEY not in metadata:  # a plain safetensors file: name -> tensor
        return {name: Tensor(_to(np.array(array), "cpu", devices, label))
                for name, array in arrays.items()}
    return _Reader(label, arrays, devices).read(metadata[_METADATA_KEY])


def _read(f) -> tuple[str, bytes]:
    """(how errors name the file, its bytes)."""
    if isinstance(f, (str, os.PathLike)):
        return repr(str(f)), Path(f).read_bytes()
    if not callable(getattr(f, "read", None)):
        raise TypeError(f"tinygen.load: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    label = repr(getattr(f, "name", None) or f"<{type(f).__name__}>")
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"tinygen.load: {label} is open in text mode; open it with 'rb'")
    return label, bytes(data)


def _hint(data: bytes) -> str:
    """Why a file that is not safetensors may be what it is."""
    if data[:2] == b"PK" or data[:1] == b"\x80":
        return ("it looks like a torch.save file, which is pickle: tinygen never unpickles; "
                "in PyTorch, save the state dict with safetensors.torch.save_file instead; ")
    return ""


def _device_map(map_location) -> dict | str | None:
    """map_location as None, one device name, or {saved device: new device}."""
    if map_location is None:
        return None
    if isinstance(map_location, (str, backend.device)):
        return _device_name(map_location)
    if isinstance(map_location, dict):
        return {_device_name(saved): _device_name(new) for saved, new in map_location.items()}
    raise TypeError(f"tinygen.load: map_location must be None, a device ('cpu', 'cuda') or "
                    f"a dict of devices, got {type(map_location).__name__}")


def _device_name(device) -> str:
    """'cpu' or 'cuda' (tinygen uses one GPU: 'cuda:N' names it)."""
    return backend.device(device).type


def _to(array: np.ndarray, saved: str, devices, label: str):
    """``array`` on the device ``map_location`` sends arrays saved on ``saved`` to."""
    if devices is None:
        target = saved
    elif isinstance(devices, str):
        target = devices
    else:
        target = devices.get(saved, saved)
    if target == "cuda" and not backend.gpu_available():
        raise backend.DeviceError(
            f"tinygen.load: {label} puts arrays on the GPU (saved on {saved!r}), and no GPU "
            f"is usable: {backend.info()['fallback_reason']}; pass map_location='cpu'")
    return backend.to_device(array, target)


class _Reader:
    """Rebuilds the object from the JSON structure and the stored arrays."""

    def __init__(self, label: str, arrays: dict, devices):
        self.label, self.stored, self.devices = label, arrays, devices
        self._arrays: dict = {}  # name -> the array, once rebuilt (shared arrays stay shared)
        self._tensors: dict = {}  # object index -> the Tensor

    def read(self, document: str):
        try:
            document = json.loads(document)
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {FORMAT!r}")
            if document.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {document.get('version')!r}; this tinygen "
                                 f"reads version {FORMAT_VERSION}")
            self.entries = document["arrays"]
            return self.decode(document["structure"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise SerializationError(f"tinygen.load: {self.label} has a corrupt structure "
                                     f"description: {type(error).__name__}: {error}"
                                     ) from error

    def decode(self, node):
        if not isinstance(node, dict):  # None, bool, int, float, str
            return node
        tag, value = list(node.items())[0]  # the tag comes first; attributes follow
        if tag == "dict":
            return {self.decode(key): self.decode(item) for key, item in value}
        if tag == "list":
            return [self.decode(item) for item in value]
        if tag == "tuple":
            return tuple(self.decode(item) for item in value)
        if tag == "float":
            return float(value)
        if tag == "complex":
            return complex(self.decode(value[0]), self.decode(value[1]))
        if tag == "scalar":
            return np.frombuffer(bytes.fromhex(node["bytes"]), dtype=np.dtype(value))[0]
        if tag == "array":
            return self.array(value)
        if tag == "tensor":
            index = node["object"]
            if index not in self._tensors:
                cls = _TENSOR_CLASSES[node["class"]]
                array = self.array(value)
                self._tensors[index] = (Buffer(array) if cls is Buffer else
                                        cls(array, requires_grad=bool(node["requires_grad"])))
            return self._tensors[index]
        raise ValueError(f"unknown node {tag!r}")

    def array(self, name: str):
        if name in self._arrays:
            return self._arrays[name]
        entry, stored = self.entries[name], self.stored[name]
        if _crc32(stored) != entry["crc32"]:
            raise SerializationError(f"tinygen.load: {self.label} is corrupt: the bytes of "
                                     f"array {name!r} fail their CRC-32 check")
        dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
        if stored.dtype.name not in _SAFETENSORS_DTYPES or stored.dtype != dtype:
            # raw bytes, or a byte order other than the stored little-endian one
            stored = stored.view(np.uint8).reshape(-1).view(dtype.newbyteorder("<"))
        array = np.array(stored, dtype=dtype).reshape(shape)  # a writable copy
        self._arrays[name] = _to(array, entry["device"], self.devices, self.label)
        return self._arrays[name]
