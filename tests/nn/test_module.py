"""Module: walking attributes, state dicts, modes, devices, repr."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn


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
