"""All the layers in one namespace: Linear, convolutions, pooling and resampling, batch norm,
recurrent layers, dropout, embedding, reshaping, activations. Each is defined in the module
for its role (basic, activation, convolution, pooling, normalization, recurrent);
``tinygen.nn`` exports them too.

Default initialisations follow PyTorch's, layer by layer, so a tinygen model and its PyTorch
twin start from the same distribution.
"""

from tinygen.nn.activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from tinygen.nn.basic import (
    Dropout,
    Dropout1d,
    Dropout2d,
    Embedding,
    Flatten,
    Identity,
    Linear,
    Unflatten,
)
from tinygen.nn.convolution import (
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    MaskedConv2d,
)
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d
from tinygen.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
)
from tinygen.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "ELU", "GRU", "LSTM", "RNN", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d",
    "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Dropout", "Dropout1d", "Dropout2d",
    "Embedding", "Flatten", "GRUCell", "Identity", "LSTMCell", "LeakyReLU", "Linear",
    "MaskedConv2d", "MaxPool1d", "MaxPool2d", "PixelShuffle", "PixelUnshuffle", "RNNCell",
    "ReLU", "Sigmoid", "Softplus", "Tanh", "Unflatten", "Upsample",
]
