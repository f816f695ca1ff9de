"""``tinygen.utils.data``: the Dataset / DataLoader protocol under PyTorch's module path.

The classes live in :mod:`tinygen.data`; this module lets ``from torch.utils.data import
DataLoader`` become ``from tinygen.utils.data import DataLoader``.
"""

from tinygen.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "random_split"]
