"""Prove that an autoregressive image model only looks at the past: ``check_causal``.

For an output pixel (i, j), backpropagate a one-hot gradient to the input. The entries of
the input gradient that are not zero are the pixels that output can see (its receptive
field). In raster order the allowed past is every row above, and the pixels left of (i, j)
on its own row; the pixel itself and everything after it must get exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygen import backend
from tinygen.autograd.engine import grad
from tinygen.autograd.grad_mode import enable_grad
from tinygen.autograd.tensor import Tensor


class CausalityError(AssertionError):
    """An output pixel depends on its own input pixel or on a later one. ``error.report`` is
    the :class:`CausalReport` up to that pixel, its heat map drawn for the leak."""


@dataclass(repr=False)
class CausalReport:
    """The outcome of :func:`check_causal`; ``print(report)`` gives a readable summary.

    Attributes:
        checked: the (i, j) output pixels that were checked.
        receptive_field: (H, W) map of the summed absolute input gradient of ``pixel`` (its
            receptive field; 0 where it cannot see).
        coverage: (H, W) map of how many checked pixels see each input pixel.
        pixel: the pixel that ``receptive_field`` belongs to: the first pixel that leaked, or
            the last one checked when none did.
        leaks: ``{(i, j): [(row, col), ...]}``, for each leaking output pixel the input pixels
            outside its past that it sees (empty when the model is causal).
    """

    checked: list = field(default_factory=list)
    receptive_field: np.ndarray | None = None
    coverage: np.ndarray | None = None
    pixel: tuple | None = None
    leaks: dict = field(default_factory=dict)

    def __str__(self) -> str:
        height, width = self.coverage.shape
        lines = [f"check_causal on a {height}x{width} image, raster order: "
                 f"{len(self.checked)} of {height * width} output pixels checked"]
        if self.leaks:
            first, where = next(iter(self.leaks.items()))
            lines.append(f"  LEAK: {len(self.leaks)} pixel(s) see their own input or a later "
                         f"one; the first, {first}, sees {_positions(where)}")
        else:
            lines.append("  causal: no checked pixel sees its own input or a later one")
        seen = int((self.receptive_field != 0).sum())
        past = int(allowed_past(height, width, *self.pixel).sum())
        lines.append(f"  receptive field of pixel {self.pixel}: {seen} input pixels "
                     f"(its raster-order past holds {past})")
        blind = int((self.coverage == 0).sum())
        lines.append(f"  input pixels no checked pixel sees: {blind} of {height * width}"
                     + (" (the last pixel is nobody's past)" if blind == 1
                        and self.coverage[-1, -1] == 0 else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def save_heatmap(self, path, title: str | None = None) -> Path:
        """Draw the receptive field of ``pixel`` as a PNG heat map, beside the coverage map.

        The checked pixel is outlined in red; input pixels it must not see but does (a leak)
        are crossed in red, so the picture shows the leak itself.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        figure, axes = plt.subplots(1, 2, figsize=(8, 4))
        field_map = np.log1p(self.receptive_field / max(self.receptive_field.max(), 1e-30) * 1e3)
        axes[0].imshow(field_map, cmap="viridis")
        axes[0].scatter([self.pixel[1]], [self.pixel[0]], s=120, marker="s",
                        facecolors="none", edgecolors="red", linewidths=2,
                        label=f"output pixel {self.pixel}")
        leaked = self.leaks.get(self.pixel, [])
        if leaked:
            rows, cols = zip(*leaked)
            axes[0].scatter(cols, rows, c="red", marker="x", s=60,
                            label="leak: an input it must not see")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8,
                       frameon=False)
        default = (f"LEAK: pixel {self.pixel} sees {len(leaked)} input(s) outside its past"
                   if leaked else f"receptive field of pixel {self.pixel} (brighter: stronger)")
        axes[0].set_title(title or default, fontsize=9)
        axes[1].imshow(self.coverage, cmap="magma")
        axes[1].set_title(f"how many of {len(self.checked)} checked pixels see each input",
                          fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        return path


def _positions(where) -> str:
    shown = ", ".join(f"({i}, {j})" for i, j in where[:8])
    return shown + (f" and {len(where) - 8} more" if len(where) > 8 else "")


def allowed_past(height: int, width: int, i: int, j: int) -> np.ndarray:
    """(H, W) boolean map of the raster-order past of pixel (i, j), the pixel excluded."""
    past = np.zeros((height, width), dtype=bool)
    past[:i] = True
    past[i, :j] = True
    return past


def check_causal(model, input_shape, order: str = "raster", pixels=None, seed: int = 0,
                 raise_exception: bool = True) -> CausalReport:
    """Check that every output pixel of ``model`` depends only on strictly earlier pixels.

    Args:
        model: a callable (an nn.Module is put in eval mode) mapping (N, C, H, W) to
            (N, C_out, H, W), e.g. per-pixel logits.
        input_shape: (C, H, W) or (1, C, H, W).
        order: "raster" (row by row, left to right); the only order supported.
        pixels: None for every pixel, an int for that many pixels drawn with ``seed``, or a
            list of (i, j) pairs.
        seed: for the input values and the pixel sample.
        raise_exception: raise :class:`CausalityError` on a leak (else return the report).

    Returns:
        A :class:`CausalReport` with the receptive-field and coverage maps.
    """
    if order != "raster":
        raise ValueError(f"check_causal: order must be 'raster', got {order!r}")
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"check_causal: input_shape must be (C, H, W) or (1, C, H, W), got "
                         f"{tuple(input_shape)}")
    _, _, height, width = shape
    rng = np.random.default_rng(seed)
    targets = _pixels(pixels, height, width, rng)
    if hasattr(model, "eval"):
        model.eval()  # batch statistics would mix pixels; dropout would hide dependencies
    parameters = list(model.parameters()) if hasattr(model, "parameters") else []
    dtype = parameters[0].dtype if parameters else np.float32
    device = parameters[0].device if parameters else "cpu"
    x = Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True, device=device)
    with enable_grad():
        y = model(x)
    if y.ndim != 4 or y.shape[2:] != (height, width):
        raise ValueError(f"check_causal: the model must return (N, C_out, {height}, {width}), "
                         f"got {y.shape}")
    report = CausalReport(coverage=np.zeros((height, width), dtype=np.int64))
    for i, j in targets:
        upstream = np.zeros(y.shape, dtype=y.dtype)
        upstream[0, :, i, j] = 1.0
        (gx,) = grad(y, [x], [backend.to_device(upstream, y.device)], retain_graph=True,
                     allow_unused=True)
        field_map = np.zeros((height, width)) if gx is None else np.abs(gx.numpy()[0]).sum(0)
        seen = field_map != 0
        leaks = seen & ~allowed_past(height, width, i, j)
        report.checked.append((i, j))
        report.coverage += seen
        if not report.leaks:  # the picture keeps the first leak, not the last pixel checked
            report.receptive_field, report.pixel = field_map, (i, j)
        if leaks.any():
            report.leaks[(i, j)] = [tuple(int(v) for v in p) for p in np.argwhere(leaks)]
            if raise_exception:
                itself = " including the pixel itself" if leaks[i, j] else ""
                error = CausalityError(
                    f"output pixel ({i}, {j}) depends on {int(leaks.sum())} input pixel(s) "
                    f"outside its raster-order past{itself}: {_positions(report.leaks[i, j])}"
                    "; error.report.save_heatmap(path) draws it")
                error.report = report
                raise error
    return report


def _pixels(pixels, height, width, rng) -> list:
    every = [(i, j) for i in range(height) for j in range(width)]
    if pixels is None:
        return every
    if isinstance(pixels, int):
        if not 0 < pixels <= len(every):
            raise ValueError(f"check_causal: pixels must be in [1, {len(every)}], got {pixels}")
        chosen = rng.choice(len(every), size=pixels, replace=False)
        return [every[k] for k in sorted(chosen)]
    return [tuple(p) for p in pixels]
