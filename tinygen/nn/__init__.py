"""Modules and layers: ``Module`` finds parameters by walking attributes; layers follow
PyTorch's names, layouts and default initialisations."""

from tinygen.nn import functional, init
from tinygen.nn.layers import (
    ELU,
    LSTM,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LSTMCell,
    MaskedConv2d,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    Unflatten,
)
from tinygen.nn.module import Buffer, Module, ModuleList, Parameter, Sequential, StateDictError
from tinygen.nn.pixelrnn import DiagonalBiLSTM, DiagonalLSTM, RowLSTM

__all__ = [
    "ELU", "LSTM", "BatchNorm1d", "BatchNorm2d", "Buffer", "Conv2d", "ConvTranspose2d",
    "Dropout", "Embedding", "Flatten", "Identity", "LSTMCell", "LeakyReLU", "Linear",
    "MaskedConv2d", "Module", "ModuleList", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "Softplus", "StateDictError", "Tanh", "Unflatten", "functional", "init",
]
__all__ += ["DiagonalBiLSTM", "DiagonalLSTM", "RowLSTM"]
