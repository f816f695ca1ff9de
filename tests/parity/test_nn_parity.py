"""Layers against their PyTorch counterparts, with identical weights: outputs, input
gradients and parameter gradients."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _assert_close(mine, reference, what):
    np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5, err_msg=what)


def _assert_same_gradients(ours, theirs, x_ours, x_theirs):
    _assert_close(x_ours.grad.numpy(), x_theirs.grad.numpy(), "input gradient")
    reference = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        _assert_close(param.grad.numpy(), reference[name].grad.numpy(), f"{name} gradient")


@pytest.mark.parametrize(("make_ours", "make_theirs", "shape"), [
    (lambda: nn.Linear(4, 3), lambda: torch.nn.Linear(4, 3), (5, 4)),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1),
     lambda: torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 2, 7, 7)),
    (lambda: nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False),
     lambda: torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False),
     (2, 4, 6, 6)),
    (lambda: nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
     lambda: torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), (2, 4, 5, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
     lambda: torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
     (2, 2, 4, 4)),
    (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (6, 3)),
    (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (6, 3, 4)),
])
def test_layer_matches_torch_with_the_same_weights(make_ours, make_theirs, shape):
    theirs = make_theirs()
    ours = make_ours()
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    for _ in range(2):  # twice: batch norm's running statistics move in between
        x_ours = tg.tensor(x, requires_grad=True)
        x_theirs = torch.tensor(x, requires_grad=True)
        y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
        _assert_close(y_ours.numpy(), y_theirs.detach().numpy(), "output")
        gy = rng.standard_normal(y_ours.shape).astype(np.float32)
        ours.zero_grad()
        theirs.zero_grad()
        y_ours.backward(tg.tensor(gy))
        y_theirs.backward(torch.tensor(gy))
        _assert_same_gradients(ours, theirs, x_ours, x_theirs)
    for name, buffer in theirs.named_buffers():
        _assert_close(dict(ours.named_buffers())[name].numpy(), buffer.numpy(), name)
    ours.eval()
    theirs.eval()
    _assert_close(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                  "eval output")


@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_matches_torch_with_the_same_weights(batch_first):
    theirs = torch.nn.LSTM(3, 5, num_layers=2, batch_first=batch_first)
    ours = nn.LSTM(3, 5, num_layers=2, batch_first=batch_first)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    state = [rng.standard_normal((2, 2 if batch_first else 6, 5)).astype(np.float32)
             for _ in range(2)]
    x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, (h, c) = ours(x_ours, tuple(tg.tensor(s) for s in state))
    out_ref, (h_ref, c_ref) = theirs(x_theirs, tuple(torch.tensor(s) for s in state))
    for mine, reference, what in ((out, out_ref, "output"), (h, h_ref, "h_n"),
                                  (c, c_ref, "c_n")):
        _assert_close(mine.numpy(), reference.detach().numpy(), what)
    (out.sum() + (c * c).sum()).backward()
    (out_ref.sum() + (c_ref * c_ref).sum()).backward()
    _assert_same_gradients(ours, theirs, x_ours, x_theirs)


def test_lstm_cell_matches_torch_with_the_same_weights():
    theirs = torch.nn.LSTMCell(3, 4)
    ours = nn.LSTMCell(3, 4)
    _copy_weights(ours, theirs)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    h, c = ours(x_ours)
    h_ref, c_ref = theirs(x_theirs)
    _assert_close(h.numpy(), h_ref.detach().numpy(), "h")
    _assert_close(c.numpy(), c_ref.detach().numpy(), "c")
    (h * c).sum().backward()
    (h_ref * c_ref).sum().backward()
    _assert_same_gradients(ours, theirs, x_ours, x_theirs)


def test_default_initialisations_have_torch_bounds_and_spreads():
    # same distributions, not the same draws: compare the extreme values of big layers
    tg.manual_seed(0)
    torch.manual_seed(0)
    pairs = [(nn.Linear(300, 200), torch.nn.Linear(300, 200)),
             (nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)),
             (nn.ConvTranspose2d(16, 8, 4), torch.nn.ConvTranspose2d(16, 8, 4)),
             (nn.LSTM(20, 50), torch.nn.LSTM(20, 50)),
             (nn.Embedding(100, 50), torch.nn.Embedding(100, 50))]
    for ours, theirs in pairs:
        reference = theirs.state_dict()
        for name, value in ours.state_dict().items():
            spread, expected = np.abs(value).max(), reference[name].abs().max().item()
            assert spread == pytest.approx(expected, rel=0.25), f"{type(ours).__name__}.{name}"
