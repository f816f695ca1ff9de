"""PyTorch's dataset protocol: Dataset, TensorDataset, Subset, random_split, default_collate
and a DataLoader over any of them, seeded by tinygen.manual_seed."""

import numpy as np
import pytest

import tinygen as tg
from tinygen.utils.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 3


def test_tensor_dataset_indexes_every_tensor_and_the_loader_keeps_it():
    images, labels = tg.randn(6, 2), tg.tensor(np.arange(6))
    dataset = TensorDataset(images, labels)
    loader = DataLoader(dataset, batch_size=4)

    x, y = dataset[2]
    batches = list(loader)

    assert loader.dataset is dataset and len(loader) == 2 and len(dataset) == 6
    np.testing.assert_array_equal(x.numpy(), images.numpy()[2]) and y.item() == 2
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
    assert batches[0][0].shape == (4, 2) and batches[0][0].dtype == tg.float32


def test_a_custom_dataset_is_collated_example_by_example():
    loader = DataLoader(Squares(), batch_size=4, drop_last=True)

    x, y = next(iter(loader))

    assert len(loader) == 2 and x.shape == (4, 2) and x.dtype == tg.float32
    assert y.dtype == tg.int64 and y.tolist() == [0, 1, 2, 0]


def test_default_collate_follows_pytorchs_rules():
    batch = default_collate([{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": 1.5, "c": "y"}])
    assert batch["a"].dtype == tg.int64 and batch["b"].dtype == tg.float64
    assert batch["c"] == ["x", "y"]
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])


def test_shuffle_follows_tinygen_manual_seed():
    def order():
        tg.manual_seed(7)
        loader = DataLoader(TensorDataset(np.arange(20)), batch_size=5, shuffle=True)
        return [b[0].tolist() for b in loader]

    first, second = order(), order()

    assert first == second and sorted(sum(first, [])) == list(range(20))
    assert sum(first, []) != list(range(20))


def test_random_split_takes_counts_or_fractions_and_follows_the_seed():
    tg.manual_seed(0)
    parts = random_split(Squares(), [0.7, 0.3])
    tg.manual_seed(0)
    again = random_split(Squares(), [7, 3])

    assert [len(p) for p in parts] == [7, 3] and isinstance(parts[0], Subset)
    assert parts[0].indices == again[0].indices
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    with pytest.raises(ValueError, match="random_split: lengths must"):
        random_split(Squares(), [5, 6])


def test_bad_loader_arguments_name_themselves():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(Squares(), batch_size=0)
    with pytest.raises(ValueError, match="DataLoader: num_workers must be a non-negative int, "
                                         "got -1"):
        DataLoader(Squares(), num_workers=-1)
    with pytest.raises(ValueError, match="arrays must have the same length"):
        DataLoader(np.zeros(3), np.zeros(4))
