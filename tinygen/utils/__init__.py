"""``tinygen.utils``: PyTorch's ``torch.utils`` names (``tinygen.utils.data``)."""

from tinygen.utils import data

__all__ = ["data"]
