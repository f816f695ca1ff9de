"""Augmentations of training batches, drawn afresh for every batch from tinygen's generator:
dynamic binarization (:func:`binarize` draws once, this draws per batch) and random shifts.

Both act on Tensors on any device and return constants (no gradient flows through them).
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.creation import rand_like, randint
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import check_input, count, ints


def dynamic_binarize(intensities: Tensor) -> Tensor:
    """A fresh binarization of grey levels in [0, 1]: each pixel ~ Bernoulli(intensity),
    float32 0 or 1, of the same shape.

    Drawn anew for every training batch, it shows the model a different binary image of
    each digit every epoch (an augmentation that slows over-fitting); it is the same
    distribution a once-binarized (stochastic) test set was drawn from.
    """
    check_input("dynamic_binarize", intensities, floating=True, name="intensities")
    return (rand_like(intensities) < intensities).astype(np.float32)


def random_shift(images: Tensor, max_shift: int, size: tuple[int, int] = (28, 28)) -> Tensor:
    """Translate each image by its own random offset of up to ``max_shift`` pixels along each
    axis, zeros filling in.

    A digit moved by a pixel or two is the same digit: a classifier learns that invariance
    from shifted copies rather than from more labels.

    Args:
        images: (N, ...) with height * width values per image, e.g. flat (N, 784).
        max_shift: the largest offset, in pixels, along either axis.
        size: (height, width) of one image.

    Returns:
        The shifted images, in the shape of ``images``.
    """
    check_input("random_shift", images, name="images")
    count("random_shift", "max_shift", max_shift, 0)
    height, width = ints("random_shift", "size", size, 2)
    n = images.shape[0] if images.ndim else 0
    if images.ndim == 0 or images.numel() != n * height * width:
        raise ValueError(f"random_shift: images must be (N, ...) with {height} x {width} "
                         f"values per image (size), got shape {images.shape}")
    xp = backend.get_array_module(images)
    margin = ((0, 0), (max_shift, max_shift), (max_shift, max_shift))
    padded = xp.pad(images.data.reshape(n, height, width), margin)  # (N, H+2s, W+2s)
    offsets = randint(0, 2 * max_shift + 1, (n, 2), device=images.device).data  # (N, 2)
    rows = offsets[:, :1] + xp.arange(height)                                    # (N, H)
    columns = offsets[:, 1:] + xp.arange(width)                                  # (N, W)
    shifted = padded[xp.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]]
    return Tensor(shifted.reshape(images.shape))  # (N, H, W) -> the input's shape
