"""tinygen.save / tinygen.load: round trips of nested objects, dtypes and shapes, training
checkpoints that resume bit for bit, and clear errors for what cannot be saved or loaded."""

import io
import json
import math
from collections import namedtuple

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen import backend
from tinygen.serialization import SerializationError

DTYPES = [np.float32, np.float64, np.int64, np.bool_]


# ------------------------------------------------------------------ drawn objects
def _arrays():
    return st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))


@st.composite
def _tensors(draw):
    array = draw(_arrays())
    requires_grad = array.dtype.kind == "f" and draw(st.booleans())
    cls = draw(st.sampled_from([tg.Tensor, nn.Parameter]))
    return cls(array, requires_grad=requires_grad)


_KEYS = (st.text(max_size=8) | st.integers(-5, 10**20) | st.booleans() | st.none()
         | st.floats(allow_nan=False))
_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
           | st.complex_numbers() | _arrays() | _tensors()
           | st.sampled_from(DTYPES[:3]).map(lambda dtype: dtype(1.5)))
_OBJECTS = st.recursive(_LEAVES, lambda children: (
    st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(_KEYS, children, max_size=4)), max_leaves=12)


def assert_same(loaded, saved, path="obj"):
    """Equal in type, dtype, shape and every bit (NaN payloads and -0.0 included)."""
    assert type(loaded) is type(saved), f"{path}: {type(loaded)} != {type(saved)}"
    if isinstance(saved, tg.Tensor):
        assert loaded.requires_grad == saved.requires_grad, path
        loaded, saved = loaded.data, saved.data
    if isinstance(saved, (np.ndarray, np.generic)):
        assert (loaded.dtype, loaded.shape) == (saved.dtype, saved.shape), path
        assert loaded.tobytes() == saved.tobytes(), path
    elif isinstance(saved, dict):
        assert [(type(k), k) for k in loaded] == [(type(k), k) for k in saved], path
        for key, value in saved.items():
            assert_same(loaded[key], value, f"{path}[{key!r}]")
    elif isinstance(saved, (list, tuple)):
        assert len(loaded) == len(saved), path
        for index, (mine, theirs) in enumerate(zip(loaded, saved, strict=True)):
            assert_same(mine, theirs, f"{path}[{index}]")
    elif isinstance(saved, (float, complex)):
        assert repr(loaded) == repr(saved), path  # nan == nan, -0.0 != 0.0
    else:
        assert loaded == saved, path


# ------------------------------------------------------------------ round trips
@given(obj=_OBJECTS)
def test_any_nested_object_round_trips_through_a_file_object(obj):
    buffer = io.BytesIO()
    tg.save(obj, buffer)
    buffer.seek(0)
    assert_same(tg.load(buffer), obj)


@given(obj=_OBJECTS)
def test_any_nested_object_round_trips_through_a_path(obj, tmp_path_factory):
    path = tmp_path_factory.mktemp("save") / "obj.pt"
    tg.save(obj, path)
    assert_same(tg.load(str(path)), obj)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [
    lambda a: a,                       # C order
    lambda a: np.asfortranarray(a),    # Fortran order
    lambda a: a[:, ::2],               # a strided view
    lambda a: a[0, 0, ...],            # 0-d
    lambda a: a[:0],                   # empty
])
def test_arrays_and_tensors_keep_their_dtype_shape_and_values(dtype, make, tmp_path):
    array = make(np.arange(24).reshape(4, 6).astype(dtype))
    saved = {"array": array, "tensor": tg.tensor(array.copy())}
    tg.save(saved, tmp_path / "a.pt")
    loaded = tg.load(tmp_path / "a.pt")
    assert_same(loaded["array"], np.asarray(array))
    assert_same(loaded["tensor"], saved["tensor"])
    assert loaded["array"].flags.writeable and loaded["tensor"].data.flags.writeable


def test_byte_order_and_non_safetensors_dtypes_round_trip(tmp_path):
    saved = {"big_endian": np.arange(3, dtype=">f4"), "complex": np.array([1 + 2j, -0.0j]),
             "strings": np.array(["ab", "c"]), "bytes": np.array([b"x", b"yz"]),
             "dates": np.array(["2024-01-01"], dtype="datetime64[D]"),
             "scalar": np.complex64(1 - 1j), "half": np.float16(0.5)}
    tg.save(saved, tmp_path / "a.pt")
    assert_same(tg.load(tmp_path / "a.pt"), saved)


def test_shared_arrays_and_tensors_load_shared(tmp_path):
    model = nn.Linear(3, 2)
    tensor = tg.randn(2)
    tg.save({"model": model.state_dict(), "weight": model.weight, "t": [tensor, tensor]},
            tmp_path / "a.pt")
    loaded = tg.load(tmp_path / "a.pt")
    assert isinstance(loaded["weight"], nn.Parameter) and loaded["weight"].requires_grad
    assert loaded["weight"].data is loaded["model"]["weight"]  # one array, stored once
    assert loaded["t"][0] is loaded["t"][1]


def test_a_flat_state_dict_is_a_plain_safetensors_file_and_vice_versa(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    tg.save(model.state_dict(), tmp_path / "model.safetensors")
    plain = safetensors.numpy.load_file(tmp_path / "model.safetensors")
    assert plain.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(plain[key], value)
    safetensors.numpy.save_file({"w": np.ones((2, 2), np.float32)}, tmp_path / "hub.st")
    loaded = tg.load(tmp_path / "hub.st")
    assert list(loaded) == ["w"] and isinstance(loaded["w"], tg.Tensor)
    np.testing.assert_array_equal(loaded["w"].numpy(), np.ones((2, 2), np.float32))


# ------------------------------------------------------------------ checkpoints
def _train(model, optimizer, scheduler, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
        optimizer.zero_grad()
        ((model(tg.tensor(x)) - tg.tensor(y)) ** 2).mean().backward()
        optimizer.step()
        scheduler.step()


def _run(optimizer_factory):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    optimizer = optimizer_factory([{"params": list(model[0].parameters())},
                                   {"params": list(model[2].parameters()), "lr": 0.005}])
    return model, optimizer, optim.ExponentialLR(optimizer, gamma=0.9)


@pytest.mark.parametrize("optimizer_factory", [
    lambda groups: optim.SGD(groups, lr=0.01, momentum=0.9, nesterov=True),
    lambda groups: optim.Adam(groups, lr=0.01, amsgrad=True),
    lambda groups: optim.AdamW(groups, lr=0.01),
    lambda groups: optim.RMSprop(groups, lr=0.01, centered=True, momentum=0.5),
    lambda groups: optim.Adagrad(groups, lr=0.01, lr_decay=0.1),
    lambda groups: optim.Adadelta(groups),
    lambda groups: optim.Adamax(groups, lr=0.01),
    lambda groups: optim.NAdam(groups, lr=0.01, decoupled_weight_decay=True,
                               weight_decay=0.1),
])
def test_a_torch_style_checkpoint_resumes_training_bit_for_bit(optimizer_factory, tmp_path):
    model, optimizer, scheduler = _run(optimizer_factory)
    _train(model, optimizer, scheduler, steps=3, seed=1)
    tg.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict()}, tmp_path / "checkpoint.pt")
    _train(model, optimizer, scheduler, steps=3, seed=2)

    resumed_model, resumed_optimizer, resumed_scheduler = _run(optimizer_factory)
    checkpoint = tg.load(tmp_path / "checkpoint.pt")
    resumed_model.load_state_dict(checkpoint["model"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed_scheduler.load_state_dict(checkpoint["scheduler"])
    _train(resumed_model, resumed_optimizer, resumed_scheduler, steps=3, seed=2)

    assert checkpoint["epoch"] == 3
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed_model.state_dict()[key], value, err_msg=key)
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_optimizer_state_dict_keeps_int_keys_tuples_and_numbers(tmp_path):
    param = nn.Parameter(np.zeros(2))
    optimizer = optim.NAdam([param], betas=(0.8, 0.9))
    param.grad = tg.ones(2, dtype=np.float64)
    optimizer.step()
    tg.save(optimizer.state_dict(), tmp_path / "opt.pt")
    assert_same(tg.load(tmp_path / "opt.pt"), optimizer.state_dict())


# ------------------------------------------------------------------ what cannot be saved
class Custom:
    pass


@pytest.mark.parametrize(("obj", "where", "what"), [
    ({"model": {"fc.weight": lambda: 0}}, r"obj\['model'\]\['fc.weight'\]", "function"),
    ([1, (2, Custom())], r"obj\[1\]\[1\]", "Custom"),
    ({"s": {1, 2}}, r"obj\['s'\]", "set"),
    ({"a": np.array([None])}, r"obj\['a'\], an array of dtype object", ""),
    ({3: namedtuple("Point", "x y")(1, 2)}, r"obj\[3\], of type Point", "tuple"),
    ({"model": nn.Linear(2, 2)}, r"obj\['model'\], of type Linear", "state_dict"),
])
def test_an_unsupported_object_raises_type_error_naming_its_path(obj, where, what, tmp_path):
    path = tmp_path / "keep.pt"
    tg.save({"old": 1}, path)
    with pytest.raises(TypeError, match=where) as error:
        tg.save(obj, path)
    assert what in str(error.value)
    assert tg.load(path) == {"old": 1}  # the failed save left the file alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]  # and no temp file


def test_bad_keys_cycles_and_files_are_refused():
    with pytest.raises(TypeError, match=r"obj\['a'\] has the key \(1, 2\) of type tuple"):
        tg.save({"a": {(1, 2): 3}}, io.BytesIO())
    cycle = [1]
    cycle.append({"again": cycle})
    with pytest.raises(ValueError, match=r"obj\[1\]\['again'\] contains itself"):
        tg.save(cycle, io.BytesIO())
    with pytest.raises(TypeError, match="text file; open it in binary mode"):
        tg.save(1, io.StringIO())
    with pytest.raises(TypeError, match="f must be a path or a binary file object, got int"):
        tg.save(1, 3)
    with pytest.raises(TypeError, match="map_location must be None, a device"):
        tg.load(io.BytesIO(), map_location=lambda storage, location: storage)


# ------------------------------------------------------------------ what cannot be loaded
def _saved_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    tg.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a file tinygen.save wrote, or it is truncated or corrupt"),
    (b"garbage that is not a checkpoint", "truncated or corrupt"),
    (_saved_bytes({"w": np.ones(100)})[:-10], "truncated or corrupt"),
    (_saved_bytes({"w": np.ones(100)})[:20], "truncated or corrupt"),
    (b"PK\x03\x04" + bytes(60), "looks like a torch.save file, which is pickle"),
])
def test_a_garbage_or_truncated_file_raises_one_error_naming_it(content, message, tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(SerializationError, match=message) as error:
        tg.load(path)
    assert str(path) in str(error.value)


def test_flipped_bytes_in_an_array_fail_its_checksum(tmp_path):
    content = bytearray(_saved_bytes({"w": np.zeros(100)}))
    content[-5] ^= 0xFF  # inside the array's data, which safetensors does not check
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(content))
    with pytest.raises(SerializationError, match=r"array 'w' fail their CRC-32 check"):
        tg.load(path)


def test_a_tampered_structure_description_is_reported_as_corrupt(tmp_path):
    metadata = {"tinygen": json.dumps({"format": "tinygen.save", "version": 1,
                                       "structure": {"array": "missing"}, "arrays": {}})}
    (tmp_path / "odd.pt").write_bytes(safetensors.numpy.save({}, metadata=metadata))
    with pytest.raises(SerializationError, match="odd.pt' has a corrupt structure"):
        tg.load(tmp_path / "odd.pt")
    metadata["tinygen"] = json.dumps({"format": "tinygen.save", "version": 99})
    (tmp_path / "new.pt").write_bytes(safetensors.numpy.save({}, metadata=metadata))
    with pytest.raises(SerializationError, match="format version 99; this tinygen reads"):
        tg.load(tmp_path / "new.pt")


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "absent.pt")


# ------------------------------------------------------------------ devices
def test_map_location_cpu_and_a_device_map_load_on_the_cpu(tmp_path):
    saved = {"t": tg.randn(2, 3), "a": np.ones(2)}
    tg.save(saved, tmp_path / "a.pt")
    for map_location in ("cpu", tg.device("cpu"), {"cuda:0": "cpu"}, None):
        loaded = tg.load(tmp_path / "a.pt", map_location=map_location, weights_only=False)
        assert loaded["t"].device == "cpu" and isinstance(loaded["a"], np.ndarray)
        assert_same(loaded, saved)


@pytest.mark.skipif(backend.gpu_available(), reason="checks the message when no GPU is usable")
def test_map_location_cuda_without_a_gpu_names_the_file_and_the_fix(tmp_path):
    tg.save(tg.ones(2), tmp_path / "a.pt")
    with pytest.raises(backend.DeviceError, match=r"a.pt' puts arrays on the GPU.*"
                                                  r"map_location='cpu'"):
        tg.load(tmp_path / "a.pt", map_location="cuda")


@pytest.mark.gpu
def test_gpu_arrays_load_back_on_the_gpu_or_where_map_location_sends_them(tmp_path):
    model = nn.Linear(3, 2).to("cuda")
    optimizer = optim.NAdam(model.parameters(), lr=0.01)
    model(tg.randn(4, 3, device="cuda")).sum().backward()
    optimizer.step()
    tg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "w": model.weight}, tmp_path / "gpu.pt")
    on_gpu = tg.load(tmp_path / "gpu.pt")
    assert on_gpu["w"].device == "cuda" and on_gpu["w"].data is on_gpu["model"]["weight"]
    assert backend.device_of(on_gpu["optimizer"]["state"][0]["exp_avg"]) == "cuda"
    on_cpu = tg.load(tmp_path / "gpu.pt", map_location={"cuda": "cpu"})
    assert on_cpu["w"].device == "cpu"
    np.testing.assert_array_equal(on_cpu["model"]["weight"], model.weight.numpy())
    cpu_model = nn.Linear(3, 2)
    cpu_model.load_state_dict(on_cpu["model"])
    assert math.isclose(float(cpu_model.bias.numpy()[0]), float(model.bias.numpy()[0]))
