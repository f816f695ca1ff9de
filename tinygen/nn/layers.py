"""All the layers in one namespace: Linear, convolutions, batch norm, LSTM, dropout, embedding,
reshaping, activations. Each is defined in the module for its role (basic, activation,
convolution, normalization, lstm); ``tinygen.nn`` exports them too.

Default initialisations follow PyTorch's, layer by layer, so a tinygen model and its PyTorch
twin start from the same distribution.
"""

from tinygen.nn.activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from tinygen.nn.basic import Dropout, Embedding, Flatten, Identity, Linear, Unflatten
from tinygen.nn.convolution import Conv2d, ConvTranspose2d, MaskedConv2d
from tinygen.nn.lstm import LSTM, LSTMCell
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d

__all__ = [
    "ELU", "LSTM", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout",
    "Embedding", "Flatten", "Identity", "LSTMCell", "LeakyReLU", "Linear", "MaskedConv2d",
    "ReLU", "Sigmoid", "Softplus", "Tanh", "Unflatten",
]
