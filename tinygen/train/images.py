"""Image grids of samples, laid out like torchvision's ``make_grid`` and saved with Pillow,
captioned grids (a title, and labels over columns or beside rows, so a reader knows which
image is which), and the nearest training image of each sample, to set beside it."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def make_grid(images, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, pad_value: float = 0.0
              ) -> np.ndarray:
    """Tile a batch of images into one image, in torchvision's ``make_grid`` layout.

    Images fill rows of ``min(nrow, B)`` columns left to right, top to bottom, each cell
    preceded by ``padding`` pixels of ``pad_value`` and the grid closed by ``padding`` more:
    the grid is ``(C, rows * (H + padding) + padding, cols * (W + padding) + padding)``, with
    ``rows = ceil(B / cols)``. As in torchvision, a batch of one image is returned unpadded.
    Unlike torchvision, a single channel stays single (a grayscale grid, not RGB).

    Args:
        images: (B, C, H, W), one image (C, H, W) or (H, W); Tensor, NumPy or CuPy. C is 1
            or 3. Floats are intensities in [0, 1] (after ``normalize``); uint8 is 0..255.
        nrow: images per row.
        padding: pixels between images and around the grid.
        normalize: rescale to [0, 1] by ``value_range``, or by the batch's min and max.
        value_range: (low, high) for ``normalize``; values outside are clipped.
        pad_value: the padding's intensity.

    Returns:
        float32 array (C, H_grid, W_grid).
    """
    array = backend.to_numpy(images.data if isinstance(images, Tensor) else images)
    array = array / np.float32(255) if array.dtype == np.uint8 else array
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:  # (H, W) -> (1, 1, H, W)
        array = array[None, None]
    elif array.ndim == 3:  # one image (C, H, W) -> (1, C, H, W)
        array = array[None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(f"make_grid: images must be (B, C, H, W), (C, H, W) or (H, W) with "
                         f"C in (1, 3), got shape {np.shape(images)}")
    if nrow < 1 or padding < 0:
        raise ValueError(f"make_grid: nrow must be >= 1 and padding >= 0, got nrow={nrow}, "
                         f"padding={padding}")
    if normalize:
        low, high = value_range if value_range is not None else (array.min(), array.max())
        array = (np.clip(array, low, high) - low) / max(high - low, 1e-5)
    count, channels, height, width = array.shape
    if count == 1:
        return array[0]
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, rows * cell_h + padding, cols * cell_w + padding), pad_value,
                   dtype=np.float32)
    for k in range(count):
        top = (k // cols) * cell_h + padding
        left = (k % cols) * cell_w + padding
        grid[:, top:top + height, left:left + width] = array[k]
    return grid


def save_image_grid(images, path: str | os.PathLike, nrow: int = 8, padding: int = 2,
                    normalize: bool = False, value_range: tuple[float, float] | None = None,
                    pad_value: float = 0.0) -> Path:
    """Save a batch of images as one PNG (or any format Pillow knows by the suffix).

    Arguments as in :func:`make_grid`; intensities in [0, 1] map to 0..255 with rounding, as
    torchvision's ``save_image`` does. Returns the path.
    """
    grid = make_grid(images, nrow=nrow, padding=padding, normalize=normalize,
                     value_range=value_range, pad_value=pad_value)
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)
    # (C, H, W) -> (H, W) for grayscale, (H, W, 3) for RGB: Pillow's layouts
    pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path



def save_captioned_grid(images, path: str | os.PathLike, nrow: int = 8, *,
                        title: str | None = None, column_labels: list[str] | None = None,
                        row_labels: list[str] | None = None, scale: int = 2,
                        padding: int = 2, normalize: bool = False,
                        value_range: tuple[float, float] | None = None) -> Path:
    """Save an image grid with its caption drawn in: a title, a label over each column and
    one beside each row (Pillow's default font, black on white).

    Args:
        images, nrow, padding, normalize, value_range: as in :func:`make_grid`.
        path: the PNG to write.
        title: a line (wrapped to the picture's width) saying what the picture shows.
        column_labels: labels over the columns, repeated when fewer than the columns (two
            labels over 16 columns of pairs: original, reconstruction, original, ...).
        row_labels: labels left of the rows, repeated likewise.
        scale: each image pixel becomes ``scale`` x ``scale`` pixels, so that labels fit.

    Returns:
        The path.
    """
    grid = make_grid(images, nrow=nrow, padding=padding, normalize=normalize,
                     value_range=value_range, pad_value=1.0)
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)  # (C, H, W) -> (C, sH, sW)
    mode = "L" if pixels.shape[0] == 1 else "RGB"
    # (C, H, W) -> (H, W) for grayscale, (H, W, 3) for RGB: Pillow's layouts
    picture = Image.fromarray(pixels[0] if mode == "L" else pixels.transpose(1, 2, 0))
    font = ImageFont.load_default()
    count = 1 if np.ndim(images) < 4 else len(images)
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    cell_w = (picture.width - padding * scale) / cols
    cell_h = (picture.height - padding * scale) / rows
    line_height = 14
    left = 0 if not row_labels else int(max(font.getlength(t) for t in row_labels)) + 8
    width = left + picture.width
    title_lines = _wrap(title, font, width) if title else []
    top = line_height * (len(title_lines) + (1 if column_labels else 0)) + (4 if title_lines
                                                                                else 0)
    white = 255 if mode == "L" else (255, 255, 255)
    black = 0 if mode == "L" else (0, 0, 0)
    canvas = Image.new(mode, (width, top + picture.height), white)
    canvas.paste(picture, (left, top))
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(title_lines):
        draw.text((2, 2 + k * line_height), line, fill=black, font=font)
    for c in range(cols if column_labels else 0):
        label = column_labels[c % len(column_labels)]
        centre = left + padding * scale + (c + 0.5) * cell_w
        draw.text((centre - font.getlength(label) / 2, top - line_height), label, fill=black,
                  font=font)
    for r in range(rows if row_labels else 0):
        label = row_labels[r % len(row_labels)]
        middle = top + padding * scale + (r + 0.5) * cell_h
        draw.text((2, middle - line_height / 2), label, fill=black, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def _wrap(text: str, font, width: int) -> list[str]:
    """``text`` in lines that fit ``width`` pixels in ``font``."""
    average = max(font.getlength("abcdefghij") / 10, 1.0)
    return textwrap.wrap(text, width=max(10, int((width - 4) / average)))


def nearest_neighbours(queries, references) -> tuple[np.ndarray, np.ndarray]:
    """Each query image's nearest reference image in pixel space (L2): the memorisation
    check of a generative model, its samples set beside their nearest training images.

    Args:
        queries: (N, ...) images, e.g. samples.
        references: (M, ...) images of the same size, e.g. the training set.

    Returns:
        (indices (N,) into ``references``, distances (N,)), in the images' float dtype.
    """
    queries = np.asarray(queries).reshape(len(queries), -1)           # (N, ...) -> (N, P)
    references = np.asarray(references).reshape(len(references), -1)  # (M, ...) -> (M, P)
    if queries.shape[1] != references.shape[1]:
        raise ValueError(f"nearest_neighbours: queries have {queries.shape[1]} pixels, "
                         f"references {references.shape[1]}")
    # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, all pairs at once: (N, M)
    squared = ((queries ** 2).sum(1)[:, None] - 2 * queries @ references.T
               + (references ** 2).sum(1)[None, :])
    # round-off can leave a tiny negative square for an exact copy
    return squared.argmin(axis=1), np.sqrt(np.clip(squared.min(1), 0, None))
