"""Datasets (bundled MNIST, toy 2-D), binarisation, batching and batch augmentations."""

from tinygen.data.augment import dynamic_binarize, random_shift
from tinygen.data.dataset import Dataset, Subset, TensorDataset, default_collate, random_split
from tinygen.data.idx import IDXError, parse_idx, read_idx, write_idx
from tinygen.data.loader import CycledLoader, DataLoader, endless
from tinygen.data.mnist import (
    DEFAULT_TRAIN_SIZE,
    ChecksumError,
    balanced_subset,
    binarize,
    binarized_split,
    default_split,
    download_file,
    load_mnist,
    verify_file,
)
from tinygen.data.toy import gaussian_mixture, mixture_centres, moons, ring

__all__ = [
    "Dataset", "Subset", "TensorDataset", "default_collate", "random_split",
    "DEFAULT_TRAIN_SIZE", "ChecksumError", "CycledLoader", "DataLoader", "IDXError",
    "balanced_subset", "binarize", "binarized_split", "default_split", "download_file",
    "dynamic_binarize", "endless", "gaussian_mixture", "load_mnist", "mixture_centres",
    "moons", "parse_idx", "random_shift", "read_idx", "ring", "verify_file", "write_idx",
]
