"""Module: walking attributes, state dicts, modes, devices, repr."""

import types

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from tinygen import backend


class Block(nn.Module):
    def __init__(self):
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.heads = nn.ModuleList([nn.Linear(2, 1), nn.Linear(2, 3)])
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.not_a_parameter = tg.tensor([1.0])

    def forward(self, x):
        pooled = self.bn(self.conv(x)).mean(axis=(2, 3))
        return [head(pooled) * self.scale for head in self.heads]


def test_parameters_and_buffers_are_found_by_walking_attributes():
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias",
                     "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]
    buffers = [name for name, _ in Block().named_buffers()]
    assert buffers == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]


def test_parameters_are_named_by_module_path_for_error_messages():
    block = Block()
    list(block.named_parameters())
    assert block.heads[1].weight.name == "heads.1.weight"


def test_state_dict_round_trip_restores_every_value():
    source, target = Block(), Block()
    source(tg.randn(2, 1, 4, 4))  # moves the running statistics
    target.load_state_dict(source.state_dict())
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(),
                                 strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_load_state_dict_lists_missing_unexpected_and_wrongly_shaped_keys():
    state = dict(Block().state_dict())
    del state["conv.bias"]
    state["extra.weight"] = np.zeros(2)
    state["heads.0.weight"] = np.zeros((5, 5))
    with pytest.raises(nn.StateDictError) as error:
        Block().load_state_dict(state)
    message = str(error.value)
    assert "missing keys: ['conv.bias']" in message
    assert "unexpected keys: ['extra.weight']" in message
    assert "heads.0.weight: expected (1, 2), got (5, 5)" in message
    del state["heads.0.weight"], state["extra.weight"]
    missing, unexpected = Block().load_state_dict(state, strict=False)
    assert missing == ["conv.bias", "heads.0.weight"] and unexpected == []


def test_train_and_eval_reach_every_submodule():
    block = Block().eval()
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())


def test_zero_grad_clears_every_parameter_gradient():
    block = Block()
    sum(out.sum() for out in block(tg.randn(2, 1, 4, 4))).backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_to_an_unusable_device_is_a_clear_error():
    with pytest.raises(Exception, match="cuda"):
        Block().to("cuda")
    with pytest.raises(Exception, match="device must be one of"):
        Block().to("tpu")


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Linear(3, 4), nn.ReLU()))
    assert text == ("Sequential(\n  (0): Linear(in_features=3, out_features=4, bias=True)\n"
                    "  (1): ReLU()\n)")


def test_parameter_names_lengthen_when_an_outer_module_is_walked():
    class Outer(nn.Module):
        def __init__(self):
            self.encoder = Block()

    outer = Outer()
    list(outer.encoder.named_parameters())
    assert outer.encoder.conv.weight.name == "conv.weight"
    list(outer.named_parameters())
    assert outer.encoder.conv.weight.name == "encoder.conv.weight"


def test_a_plain_list_of_modules_is_an_error_that_points_to_module_list():
    class Hidden(nn.Module):
        def __init__(self):
            self.layers = [nn.Linear(2, 2)]

    with pytest.raises(TypeError, match=r"Hidden.layers is a list holding a Module.*ModuleList"):
        list(Hidden().parameters())


def test_buffers_are_marked_by_type_not_by_requires_grad():
    class Holder(nn.Module):
        def __init__(self):
            self.frozen = nn.Parameter(np.ones(2, dtype=np.float32), requires_grad=False)
            self.stat = nn.Buffer(np.zeros(2, dtype=np.float32))
            self.constant = tg.tensor([1.0, 2.0])

    assert list(Holder().state_dict()) == ["frozen", "stat"]
    assert [name for name, _ in Holder().named_buffers()] == ["stat"]


def test_shared_submodule_is_walked_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias"]


def test_load_state_dict_accepts_tensors_and_casts_to_each_target_dtype():
    source, target = nn.BatchNorm2d(2), nn.BatchNorm2d(2)
    state = {name: tg.tensor(np.asarray(value, dtype=np.float64) + 1)
             for name, value in source.state_dict().items()}
    target.load_state_dict(state)
    assert target.weight.dtype == np.float32 and target.num_batches_tracked.dtype == np.int64
    np.testing.assert_array_equal(target.running_var.numpy(), [2.0, 2.0])
    assert target.num_batches_tracked.item() == 1


def test_wrong_shapes_are_an_error_even_when_not_strict():
    state = dict(nn.Linear(2, 3).state_dict())
    state["weight"] = np.zeros((2, 2))
    with pytest.raises(nn.StateDictError, match=r"weight: expected \(3, 2\), got \(2, 2\)"):
        nn.Linear(2, 3).load_state_dict(state, strict=False)


def test_double_casts_floating_tensors_and_keeps_integer_buffers():
    bn = nn.BatchNorm1d(3).double()
    assert bn.weight.dtype == np.float64 and bn.running_mean.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    assert bn.float().weight.dtype == np.float32


def test_moving_to_the_current_device_keeps_a_recorded_graph_usable():
    layer = nn.Linear(3, 1)
    loss = layer(tg.randn(2, 3)).sum()
    layer.to("cpu")
    loss.backward()  # no version bump, so the mutation guard stays quiet
    assert layer.weight.grad is not None


def test_zero_grad_without_set_to_none_zeroes_in_place():
    layer = nn.Linear(3, 2)
    layer(tg.randn(4, 3)).sum().backward()
    grad = layer.weight.grad
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad is grad and not grad.numpy().any()


def test_sequential_slices_and_module_list_extends():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    head = model[1:]
    assert isinstance(head, nn.Sequential) and head[1] is model[2]
    layers = nn.ModuleList([nn.Linear(1, 1)]).extend([nn.ReLU(), nn.Tanh()])
    assert len(layers) == 3 and isinstance(layers[-1], nn.Tanh)
    with pytest.raises(IndexError, match="index 3 out of range for length 3"):
        layers[3]


def test_nested_repr_names_every_child():
    text = repr(Block())
    assert text.startswith("Block(\n  (conv): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), "
                           "padding=(1, 1))\n  (bn): BatchNorm2d(2, eps=1e-05")
    assert "  (heads): ModuleList(\n    (0): Linear(in_features=2, out_features=1" in text


class FakeDeviceArray(np.ndarray):
    """Stands in for ``cupy.ndarray`` (as in tests/test_backend.py): a distinct array type."""

    __cuda_array_interface__ = {}


@pytest.fixture
def fake_gpu(monkeypatch):
    fake_cupy = types.SimpleNamespace(
        ndarray=FakeDeviceArray,
        asarray=lambda array, dtype=None: np.asarray(array, dtype=dtype).view(FakeDeviceArray),
        asnumpy=lambda array: np.asarray(array).view(np.ndarray).copy(),
    )
    monkeypatch.setattr(backend, "cupy", fake_cupy)
    monkeypatch.setattr(backend, "_gpu_state", {"usable": True, "reason": "GPU: fake"})


def test_to_moves_parameters_buffers_and_gradients_in_place(fake_gpu):
    block = Block()
    weight = block.conv.weight
    block.conv.weight.grad = tg.ones(*weight.shape)
    assert block.to("cuda") is block and block.conv.weight is weight
    assert {t.device for t in [*block.parameters(), *block.buffers()]} == {"cuda"}
    assert weight.grad.device == "cuda"
    on_cpu = Block()
    on_cpu.load_state_dict(block.state_dict())
    assert on_cpu.conv.weight.device == "cpu"
    block.load_state_dict(on_cpu.state_dict())  # NumPy arrays into device parameters
    assert block.bn.running_mean.device == "cuda"
    np.testing.assert_array_equal(block.conv.weight.numpy(), on_cpu.conv.weight.numpy())


@pytest.mark.gpu
def test_a_model_trains_on_the_gpu_and_its_state_dict_loads_back_on_the_cpu():
    import tinygen.optim as optim

    tg.manual_seed(0)
    model = Block().to("cuda")
    assert {p.device for p in model.parameters()} == {"cuda"}
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    sum(out.sum() for out in model(tg.randn(2, 1, 4, 4, device="cuda"))).backward()
    optimizer.step()
    cpu_copy = Block()
    cpu_copy.load_state_dict(model.state_dict())  # CuPy arrays into NumPy parameters
    np.testing.assert_array_equal(cpu_copy.conv.weight.numpy(), model.conv.weight.numpy())
    model.load_state_dict(cpu_copy.state_dict())  # and back
    assert model.conv.weight.device == "cuda"


# ---------------------------------------------------------------- the PyTorch conveniences
def test_apply_visits_children_before_their_parent_and_returns_the_module():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh()))
    visited = []

    result = model.apply(lambda m: visited.append(type(m).__name__))

    assert result is model
    assert visited == ["Linear", "ReLU", "Tanh", "Sequential", "Sequential"]


def test_to_takes_a_dtype_a_device_or_a_tensor_positionally_as_pytorch():
    block = Block()

    assert block.to(tg.float64) is block
    assert block.conv.weight.dtype == np.float64
    block.to("cpu", tg.float32)
    assert block.conv.weight.dtype == np.float32
    block.to(tg.zeros(1, dtype=tg.float64), non_blocking=True)
    assert block.heads[0].bias.dtype == np.float64
    assert block.bn.num_batches_tracked.dtype == np.int64
    assert block.cpu() is block and block.conv.weight.device == "cpu"
    with pytest.raises(TypeError, match="dtype must be a floating dtype, got int32"):
        block.to(tg.int32)


def test_cuda_without_a_gpu_says_why():
    if backend.gpu_available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(backend.DeviceError, match="cuda"):
        Block().cuda()


def test_walk_without_recursion_sees_only_the_modules_own_tensors():
    block = Block()

    assert [name for name, _ in block.named_parameters(recurse=False)] == ["scale"]
    assert list(block.buffers(recurse=False)) == []
    assert len(list(block.bn.buffers(recurse=False))) == 3
    assert [n for n, _ in block.named_parameters(prefix="model")][:2] == ["model.scale",
                                                                          "model.conv.weight"]


def test_children_and_modules_walk_in_definition_order():
    block = Block()

    assert [name for name, _ in block.named_children()] == ["conv", "bn", "heads"]
    assert list(block.children())[1] is block.bn
    assert [name for name, _ in block.named_modules()] == ["", "conv", "bn", "heads",
                                                           "heads.0", "heads.1"]
    assert next(block.modules()) is block


def test_requires_grad_freezes_and_unfreezes_every_parameter():
    block = Block()

    assert block.requires_grad_(False) is block
    assert not any(p.requires_grad for p in block.parameters())
    block.conv.requires_grad_()
    assert [n for n, p in block.named_parameters() if p.requires_grad] == ["conv.weight",
                                                                          "conv.bias"]


def test_register_buffer_saves_and_moves_it_and_non_persistent_ones_stay_out_of_state():
    class Scaler(nn.Module):
        def __init__(self):
            self.register_buffer("mean", tg.zeros(3))
            self.register_buffer("cache", tg.ones(3), persistent=False)

    scaler = Scaler()

    assert isinstance(scaler.mean, nn.Buffer)
    assert [name for name, _ in scaler.named_buffers()] == ["mean", "cache"]
    assert list(scaler.state_dict()) == ["mean"]
    scaler.load_state_dict({"mean": np.full(3, 2.0)})  # the transient buffer is not expected
    scaler.double()
    assert scaler.cache.dtype == np.float64 and scaler.mean.numpy().tolist() == [2.0] * 3


def test_a_tensor_assigned_over_a_buffer_stays_a_buffer():
    class Average(nn.Module):
        def __init__(self):
            self.register_buffer("value", tg.zeros(2))

        def forward(self, x):
            self.value = 0.5 * self.value + 0.5 * x
            return self.value

    average = Average()
    average(tg.ones(2))

    assert isinstance(average.value, nn.Buffer)
    assert average.state_dict()["value"].tolist() == [0.5, 0.5]


def test_register_parameter_and_add_module_register_under_any_name():
    model = nn.Module()

    model.register_parameter("scale", nn.Parameter(np.ones(1)))
    model.register_parameter("shift", None)
    model.add_module("block-1", nn.Linear(2, 2))

    assert list(model.state_dict()) == ["scale", "block-1.weight", "block-1.bias"]
    assert model.shift is None


def test_registering_rejects_wrong_kinds_and_taken_or_dotted_names():
    model = nn.Module()
    model.plain = 3
    with pytest.raises(TypeError, match="register_buffer: cannot assign a int to buffer 'b'"):
        model.register_buffer("b", 5)
    with pytest.raises(TypeError, match="register_parameter: cannot assign a Tensor"):
        model.register_parameter("w", tg.ones(1))
    with pytest.raises(TypeError, match="add_module: int is not a Module subclass"):
        model.add_module("m", 1)
    with pytest.raises(KeyError, match="contain no '.', got 'a.b'"):
        model.register_buffer("a.b", tg.ones(1))
    with pytest.raises(KeyError, match="attribute 'plain' already exists on Module"):
        model.register_parameter("plain", None)
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        model.register_buffer("training", tg.ones(1))


def test_load_state_dict_returns_named_keys_and_its_error_is_a_runtime_error():
    layer = nn.Linear(2, 3)
    state = dict(layer.state_dict())
    bias = state.pop("bias")

    result = layer.load_state_dict({**state, "extra": bias}, strict=False)

    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="missing keys: \\['bias'\\]"):
        layer.load_state_dict(state)


def test_state_dict_takes_a_literal_prefix_and_keeps_tensors_when_asked():
    layer = nn.Linear(2, 3)

    state = layer.state_dict(prefix="fc.", keep_vars=True)

    assert list(state) == ["fc.weight", "fc.bias"] and state["fc.weight"] is layer.weight


def test_train_mode_must_be_a_bool():
    with pytest.raises(ValueError, match="train: mode must be a bool, got 'eval'"):
        Block().train("eval")


def test_named_modules_lists_a_shared_module_once_unless_asked_for_every_path():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)

    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert [name for name, _ in model.named_modules(prefix="net", remove_duplicate=False)] == [
        "net", "net.0", "net.1", "net.2"]


def test_half_casts_floating_tensors_to_float16():
    bn = nn.BatchNorm1d(3).half()

    assert bn.weight.dtype == np.float16 and bn.running_var.dtype == np.float16
    assert bn.num_batches_tracked.dtype == np.int64


def test_a_plain_tensor_may_replace_a_parameter_as_gradient_checks_do():
    layer = nn.Linear(2, 2)

    layer.weight = tg.ones(2, 2, requires_grad=True)

    assert list(layer.state_dict()) == ["bias"]  # no longer a parameter: PORTING.md says so
    assert layer(tg.ones(1, 2)).shape == (1, 2)


def test_cuda_and_cpu_move_everything_and_return_the_module(fake_gpu):
    block = Block()

    assert block.cuda() is block
    assert {t.device for t in [*block.parameters(), *block.buffers()]} == {"cuda"}
    assert block.cpu() is block
    assert {t.device for t in [*block.parameters(), *block.buffers()]} == {"cpu"}
