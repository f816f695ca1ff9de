"""conv2d and conv_transpose2d against PyTorch CPU: outputs and all three gradients, on fixed
cases and on Hypothesis-drawn strides, paddings, dilations, groups, odd sizes and batch 1."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

CONFIGS = [  # (N, C_in, H, W, C_out, k, stride, padding, dilation, groups, output_padding)
    (2, 4, 7, 6, 6, 3, 2, 1, 1, 2, 1),
    (1, 3, 5, 5, 4, 1, 1, 0, 1, 1, 0),
    (2, 2, 9, 8, 3, 3, 1, 2, 2, 1, 1),
    (3, 6, 6, 6, 4, 4, 2, 1, 1, 2, 0),
    (1, 1, 28, 28, 8, 4, 2, 1, 1, 1, 1),
    (2, 2, 7, 7, 2, 7, 1, 3, 1, 1, 0),
    (1, 2, 3, 3, 2, 1, 1, 1, 1, 1, 0),  # 1x1 kernel with padding: the input grad crops
]


def _compare(ours, theirs, tensors, torch_tensors, upstream):
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, reference in zip(tensors, torch_tensors, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-10,
                                   atol=1e-10)


@pytest.mark.parametrize("config", CONFIGS)
def test_conv2d_matches_torch(config):
    n, c, h, w, o, k, s, p, d, g, _ = config
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in ((n, c, h, w), (o, c // g, k, k), (o,))]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = F.conv2d(*tensors, stride=s, padding=p, dilation=d, groups=g)
    theirs = torch.nn.functional.conv2d(*torch_tensors, stride=s, padding=p, dilation=d,
                                        groups=g)
    _compare(ours, theirs, tensors, torch_tensors, rng.standard_normal(ours.shape))


@pytest.mark.parametrize("config", CONFIGS)
def test_conv_transpose2d_matches_torch(config):
    n, c, h, w, o, k, s, p, d, g, op = config
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(shape) for shape in ((n, c, h, w), (c, o // g, k, k), (o,))]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = F.conv_transpose2d(*tensors, stride=s, padding=p, output_padding=op, dilation=d,
                              groups=g)
    theirs = torch.nn.functional.conv_transpose2d(*torch_tensors, stride=s, padding=p,
                                                  output_padding=op, groups=g, dilation=d)
    _compare(ours, theirs, tensors, torch_tensors, rng.standard_normal(ours.shape))


@st.composite
def drawn_config(draw):
    """(N, C_in, H, W, C_out, (kh, kw), stride, padding, dilation, groups, output_padding)."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = tuple(draw(st.integers(1, 9)) for _ in range(2))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                           for s, d in zip(stride, dilation, strict=True))
    return (draw(st.integers(1, 3)), c_in, *size, c_out, kernel, stride, padding, dilation,
            groups, output_padding)


@given(drawn_config(), st.integers(0, 2**31 - 1))
def test_drawn_conv2d_matches_torch(config, seed):
    n, c, h, w, o, k, s, p, d, g, _ = config
    assume(all(size + 2 * pad >= dil * (kk - 1) + 1
               for size, pad, dil, kk in zip((h, w), p, d, k, strict=True)))
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in ((n, c, h, w), (o, c // g, *k), (o,))]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = F.conv2d(*tensors, stride=s, padding=p, dilation=d, groups=g)
    theirs = torch.nn.functional.conv2d(*torch_tensors, stride=s, padding=p, dilation=d,
                                        groups=g)
    _compare(ours, theirs, tensors, torch_tensors, rng.standard_normal(ours.shape))


@given(drawn_config(), st.integers(0, 2**31 - 1))
def test_drawn_conv_transpose2d_matches_torch(config, seed):
    n, c, h, w, o, k, s, p, d, g, op = config
    assume(all((size - 1) * st_ - 2 * pad + dil * (kk - 1) + opad + 1 >= 1
               for size, st_, pad, dil, kk, opad in zip((h, w), s, p, d, k, op, strict=True)))
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in ((n, c, h, w), (c, o // g, *k), (o,))]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = F.conv_transpose2d(*tensors, stride=s, padding=p, output_padding=op, dilation=d,
                              groups=g)
    theirs = torch.nn.functional.conv_transpose2d(*torch_tensors, stride=s, padding=p,
                                                  output_padding=op, groups=g, dilation=d)
    _compare(ours, theirs, tensors, torch_tensors, rng.standard_normal(ours.shape))


@pytest.mark.parametrize(("pads", "stride"), [(((1, 0), (1, 1)), 1), (((3, 0), (2, 3)), 2),
                                              (((0, 2), (0, 0)), 1)])
def test_conv2d_uneven_padding_matches_torch_pad_then_conv(pads, stride):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(shape) for shape in ((2, 3, 7, 6), (4, 3, 3, 2), (4,))]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = F.conv2d(*tensors, stride=stride, padding=pads)
    (top, bottom), (left, right) = pads
    padded = torch.nn.functional.pad(torch_tensors[0], (left, right, top, bottom))
    theirs = torch.nn.functional.conv2d(padded, *torch_tensors[1:], stride=stride)
    _compare(ours, theirs, tensors, torch_tensors, rng.standard_normal(ours.shape))
