"""Modules and layers: ``Module`` finds parameters by walking attributes; layers follow
PyTorch's names, layouts and default initialisations."""

from tinygen.nn import functional, init
from tinygen.nn.activation import (
    CELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardtanh,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU6,
    SiLU,
    Softmax,
    Softsign,
)
from tinygen.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from tinygen.nn.layers import (
    ELU,
    GRU,
    LSTM,
    RNN,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Embedding,
    Flatten,
    GRUCell,
    Identity,
    LeakyReLU,
    Linear,
    LSTMCell,
    MaskedConv2d,
    MaxPool1d,
    MaxPool2d,
    PixelShuffle,
    PixelUnshuffle,
    ReLU,
    RNNCell,
    Sigmoid,
    Softplus,
    Tanh,
    Unflatten,
    Upsample,
)
from tinygen.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
)
from tinygen.nn.module import Buffer, Module, Parameter, StateDictError
from tinygen.nn.normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm
from tinygen.nn.pixelrnn import DiagonalBiLSTM, DiagonalLSTM, RowLSTM

__all__ = [
    "ELU", "LSTM", "BatchNorm1d", "BatchNorm2d", "Buffer", "Conv2d", "ConvTranspose2d",
    "Dropout", "Embedding", "Flatten", "Identity", "LSTMCell", "LeakyReLU", "Linear",
    "MaskedConv2d", "Module", "ModuleList", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "Softplus", "StateDictError", "Tanh", "Unflatten", "functional", "init",
]
__all__ += ["DiagonalBiLSTM", "DiagonalLSTM", "RowLSTM"]
__all__ += ["ModuleDict", "ParameterDict", "ParameterList"]
__all__ += [
    "GRU", "RNN", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "Conv1d", "ConvTranspose1d", "Dropout1d",
    "Dropout2d", "GRUCell", "MaxPool1d", "MaxPool2d", "PixelShuffle", "PixelUnshuffle", "RNNCell",
    "Upsample",
]
__all__ += [
    "CELU", "GELU", "GLU", "SELU", "GroupNorm", "Hardsigmoid", "Hardtanh", "InstanceNorm1d",
    "InstanceNorm2d", "LayerNorm", "LogSigmoid", "LogSoftmax", "Mish", "PReLU", "ReLU6", "SiLU",
    "Softmax", "Softsign",
]
__all__ += [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
    "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss", "MarginRankingLoss", "NLLLoss",
    "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss",
]
