"""docs/PORTING.md is true: its import lines run, the names it maps one to one exist, and each
difference it states is what the code does (one test per paragraph, in the page's order)."""

import copy
import re
from pathlib import Path

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen import backend

PORTING = Path(__file__).resolve().parents[2] / "docs" / "PORTING.md"


def _import_lines() -> list[str]:
    block = re.search(r"## The import lines\n\n```python\n(.*?)```", PORTING.read_text(), re.S)
    return block.group(1).strip().splitlines()


def _utils_data_missing() -> bool:
    try:
        from tinygen.utils.data import DataLoader, TensorDataset  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.mark.parametrize("line", [
    pytest.param(line, marks=pytest.mark.xfail(
        _utils_data_missing(), strict=True,
        reason="needs tinygen.utils.data.DataLoader(dataset, ...) and TensorDataset"))
    if "utils.data" in line else line
    for line in _import_lines()])
def test_each_import_line_runs(line):
    exec(line, {})


ONE_TO_ONE = {
    tg: ["tensor", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn",
         "randint", "zeros_like", "randn_like", "no_grad", "enable_grad", "set_grad_enabled",
         "save", "load", "manual_seed", "device", "float32", "float", "long"],
    tg.Tensor: ["size", "dim", "numel", "item", "view", "reshape", "view_as", "permute",
                "flatten", "sum", "max", "argmax", "eq", "detach", "to", "cpu", "cuda",
                "float", "long", "backward", "requires_grad_", "retain_grad"],
    tg.autograd: ["grad"],
    tg.cuda: ["is_available"],
    nn.Module: ["parameters", "named_parameters", "buffers", "children", "modules",
                "named_modules", "apply", "train", "eval", "zero_grad", "requires_grad_", "to",
                "cuda", "cpu", "float", "double", "half", "register_buffer",
                "register_parameter", "add_module", "state_dict", "load_state_dict",
                "extra_repr"],
    nn: ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Linear",
         "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
         "LayerNorm", "GroupNorm", "Dropout", "Embedding", "RNN", "GRU", "LSTM", "RNNCell",
         "GRUCell", "LSTMCell", "MaxPool2d", "AvgPool2d", "Upsample", "Flatten", "ReLU",
         "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss"],
    F: ["nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits",
        "mse_loss"],
    nn.init: ["uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
              "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
              "calculate_gain"],
    tg.optim: ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam"],
    tg.optim.lr_scheduler: ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                            "LambdaLR", "OneCycleLR", "ReduceLROnPlateau"],
}


@pytest.mark.parametrize("owner", ONE_TO_ONE, ids=lambda owner: owner.__name__)
def test_every_name_the_page_maps_one_to_one_exists(owner):
    assert [name for name in ONE_TO_ONE[owner] if not hasattr(owner, name)] == []


def test_data_is_the_raw_array_and_init_accepts_it():
    layer = nn.Linear(3, 2)

    nn.init.normal_(layer.weight.data, 0.0, 0.02)

    assert isinstance(layer.weight.data, np.ndarray) and not isinstance(layer.weight.data,
                                                                        tg.Tensor)
    assert not hasattr(layer.weight.data, "normal_")


def test_dtypes_are_numpys_and_elementwise_promotion_is_pytorchs():
    x = tg.ones(2)

    assert tg.float32 is np.float32 and tg.float is np.float32 and tg.long is np.int64
    assert x.dtype == tg.float32 and str(x.dtype) == "float32"
    assert not any(hasattr(tg, name) for name in ["set_default_dtype", "bfloat16", "complex64"])
    assert (tg.tensor([1, 2]) / 2).dtype == np.float64
    assert (tg.tensor([1, 2]) * x).dtype == np.float32  # an int tensor with a float32 one
    assert (x * tg.ones(2, dtype=tg.float64)).dtype == np.float64


@pytest.mark.parametrize("change", [
    lambda t: t.add_(1), lambda t: t.sub_(1), lambda t: t.mul_(2), lambda t: t.copy_(t.detach()),
    lambda t: t.fill_(0), lambda t: t.zero_(), lambda t: t.normal_(), lambda t: t.uniform_(),
    lambda t: t.__setitem__(0, 1.0)])
def test_in_place_changes_need_no_grad_on_a_tensor_that_requires_grad(change):
    leaf = tg.zeros(2, requires_grad=True)

    with pytest.raises(RuntimeError, match="in-place change of a tensor that requires grad"):
        change(leaf)
    with tg.no_grad():
        change(leaf)
    change(tg.zeros(2))


def test_inplace_flags_compute_out_of_place():
    x = tg.tensor([-1.0, 2.0])

    for y in [nn.ReLU(True)(x), nn.LeakyReLU(0.2, inplace=True)(x), F.relu(x, inplace=True)]:
        assert y is not x
    assert x.tolist() == [-1.0, 2.0]
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert not hasattr(x, "relu_")


def test_modules_find_members_by_type_and_have_no_hooks():
    class Net(nn.Module):
        def __init__(self):  # no super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("mean", tg.zeros(2))

    net = Net()
    net.mean = net.mean + 1
    hidden = Net()
    hidden.layers = [nn.Linear(2, 2)]

    assert isinstance(net.mean, nn.Buffer) and "mean" in net.state_dict()
    with pytest.raises(TypeError, match="use nn.ModuleList"):
        hidden.state_dict()
    net.fc.weight = tg.ones(2, 2)
    assert "fc.weight" not in net.state_dict()
    assert not any(hasattr(net, name) for name in ["register_forward_hook",
                                                  "register_forward_pre_hook",
                                                  "register_full_backward_hook"])
    assert not hasattr(tg.ones(1), "register_hook")


def test_state_dict_holds_raw_arrays_and_load_reports_keys():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()

    assert state["weight"] is layer.weight.data and not hasattr(state["weight"], "clone")
    assert copy.deepcopy(state)["weight"] is not layer.weight.data
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight
    result = layer.load_state_dict({"weight": tg.zeros(2, 2)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == []
    assert issubclass(nn.StateDictError, KeyError) and issubclass(nn.StateDictError,
                                                                  RuntimeError)


def test_save_writes_safetensors_and_refuses_objects(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = nn.Linear(2, 2)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "model.pt"

    tg.save(model.state_dict(), path)
    tg.save({"optimizer": optimizer.state_dict(), "epoch": 3}, tmp_path / "run.pt")

    assert sorted(safetensors_torch.load_file(path)) == ["bias", "weight"]
    assert tg.load(tmp_path / "run.pt", weights_only=False)["epoch"] == 3
    for obj in [model, optimizer]:
        with pytest.raises(TypeError, match=r"save its state_dict\(\) instead"):
            tg.save(obj, tmp_path / "object.pt")
    with pytest.raises(TypeError, match="map_location must be None, a device"):
        tg.load(path, map_location=lambda storage, location: storage)


def test_one_device_of_each_kind():
    x = tg.ones(2, requires_grad=True)

    assert x.device == "cpu" and x.to("cpu", non_blocking=True) is x
    assert x.numpy().tolist() == [1.0, 1.0]
    functions = {name for name, value in vars(tg.cuda).items()
                 if callable(value) and getattr(value, "__module__", "") == "tinygen.cuda"}
    assert functions == {"device_count", "is_available", "manual_seed", "manual_seed_all",
                         "synchronize"}
    if not backend.gpu_available():
        with pytest.raises(backend.DeviceError, match="device='cuda' was requested"):
            backend.check_device("cuda:3")  # any index names the one GPU


def test_random_numbers_come_from_numpys_generator_without_generator_objects():
    tg.manual_seed(0)
    draw = tg.randn(3).numpy()

    np.testing.assert_array_equal(draw, np.random.default_rng(0).standard_normal(3)
                                  .astype(np.float32))
    assert not hasattr(tg, "Generator")
    with pytest.raises(TypeError):
        tg.randn(2, generator=None)


def test_the_data_loader_takes_pytorchs_arguments_and_builds_batches_in_process():
    import inspect

    parameters = inspect.signature(tg.utils.data.DataLoader).parameters

    assert {"batch_size", "shuffle", "drop_last", "collate_fn", "num_workers",
            "pin_memory", "generator", "seed"} <= set(parameters)
    assert parameters["batch_size"].default == 1 and "sampler" not in parameters
    loader = tg.utils.data.DataLoader(tg.utils.data.TensorDataset(np.arange(4)),
                                      batch_size=2, num_workers=4)
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3]]


def test_custom_functions_use_instance_methods_not_ctx():
    class Square(tg.autograd.Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, gy):
            (x,) = self.saved_tensors
            return 2 * x * gy

    x = tg.tensor([3.0], requires_grad=True)
    Square().apply(x).backward()

    assert x.grad.tolist() == [6.0]


def test_what_is_not_provided_is_absent():
    assert not any(hasattr(tg, name) for name in ["compile", "jit", "autocast", "amp",
                                                  "sparse", "fft", "func", "distributed"])
    assert not hasattr(nn, "DataParallel") and not hasattr(tg.cuda, "amp")
    x = tg.ones(2)
    assert x.contiguous() is x
    assert not hasattr(x, "stride") and not hasattr(x, "is_contiguous")
