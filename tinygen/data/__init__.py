"""Datasets (bundled MNIST, toy 2-D), binarisation and batching."""

from tinygen.data.idx import IDXError, parse_idx, read_idx, write_idx
from tinygen.data.loader import DataLoader
from tinygen.data.mnist import (
    ChecksumError,
    binarize,
    default_split,
    download_file,
    load_mnist,
)
from tinygen.data.toy import gaussian_mixture, mixture_centres, moons, ring

__all__ = [
    "ChecksumError", "DataLoader", "IDXError", "binarize", "default_split", "download_file",
    "gaussian_mixture", "load_mnist", "mixture_centres", "moons", "parse_idx", "read_idx",
    "ring", "write_idx",
]
