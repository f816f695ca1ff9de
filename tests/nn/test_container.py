"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict name their
members as PyTorch does, so parameters(), state_dict() and to() find them."""

from collections import OrderedDict

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn


def test_sequential_from_an_ordered_dict_names_children_by_its_keys():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("relu", nn.ReLU())]))

    assert list(model.state_dict()) == ["conv.weight", "conv.bias"]
    assert model[0] is model.conv and len(model) == 2
    assert model(tg.randn(1, 1, 5, 5)).shape == (1, 2, 3, 3)


def test_sequential_slice_keeps_the_names_and_append_and_setitem_extend_it():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))

    head = model[1:]
    model.append(nn.Sigmoid())
    model[0] = nn.Linear(2, 3, bias=False)

    assert [name for name, _ in head.named_children()] == ["1", "2"] and head[1] is model[2]
    assert isinstance(model[3], nn.Sigmoid)
    assert list(model.state_dict()) == ["0.weight", "2.weight", "2.bias"]


def test_sequential_rejects_a_non_module_naming_the_argument():
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list_indexes_slices_and_replaces():
    layers = nn.ModuleList([nn.Linear(1, 1)]).extend([nn.ReLU(), nn.Tanh()])

    layers[-2] = nn.Sigmoid()

    assert len(layers) == 3 and isinstance(layers[1], nn.Sigmoid)
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 2
    with pytest.raises(IndexError, match="ModuleList index 3 out of range for length 3"):
        layers[3]


def test_module_dict_is_a_dict_of_children_in_insertion_order():
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10), "parity": nn.Linear(4, 2)})

    heads["size"] = nn.Linear(4, 1)
    removed = heads.pop("parity")

    assert heads.keys() == ["digit", "size"] and "size" in heads and "parity" not in heads
    assert isinstance(removed, nn.Linear) and len(heads) == 2
    assert list(heads.state_dict()) == ["digit.weight", "digit.bias", "size.weight",
                                        "size.bias"]
    assert [name for name, _ in heads.items()] == list(heads)
    with pytest.raises(KeyError, match="ModuleDict has no module 'parity'"):
        heads["parity"]
    with pytest.raises(KeyError, match="attribute 'keys' already exists"):
        heads["keys"] = nn.ReLU()


def test_parameter_list_and_dict_register_tensors_as_parameters():
    scales = nn.ParameterList([tg.ones(2), nn.Parameter(np.zeros(3, dtype=np.float32))])
    offsets = nn.ParameterDict({"a": tg.zeros(1)})

    scales.append(tg.ones(1))
    offsets["b"] = tg.ones(2)

    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in scales)
    assert list(scales.state_dict()) == ["0", "1", "2"] and scales[-1].shape == (1,)
    assert list(offsets.state_dict()) == ["a", "b"] and isinstance(offsets["b"], nn.Parameter)
    assert "(1): Parameter of shape (3,), float32" in repr(scales)
    with pytest.raises(TypeError, match="ParameterList: expected a Tensor or Parameter, got list"):
        scales.append([1.0])


def test_containers_inside_a_model_are_walked_and_moved():
    class Net(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
            self.heads = nn.ModuleDict({"out": nn.Linear(2, 1)})
            self.gains = nn.ParameterList([tg.ones(2)])

    net = Net().double()

    assert list(net.state_dict()) == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                      "blocks.1.bias", "heads.out.weight", "heads.out.bias",
                                      "gains.0"]
    assert {p.dtype for p in net.parameters()} == {np.dtype(np.float64)}
