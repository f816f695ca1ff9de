"""Layers against their PyTorch counterparts, with identical weights."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize(("make_ours", "make_theirs", "shape"), [
    (lambda: nn.Linear(4, 3), lambda: torch.nn.Linear(4, 3), (5, 4)),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1),
     lambda: torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 2, 7, 7)),
    (lambda: nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
     lambda: torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), (2, 4, 5, 5)),
    (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
])
def test_layer_matches_torch_with_the_same_weights(make_ours, make_theirs, shape):
    theirs = make_theirs()
    ours = make_ours()
    _copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(2):  # twice: batch norm's running statistics move in between
        np.testing.assert_allclose(ours(tg.tensor(x)).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_lstm_matches_torch_with_the_same_weights():
    theirs = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    ours = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    _copy_weights(ours, theirs)
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    out, (h, c) = ours(tg.tensor(x))
    out_ref, (h_ref, c_ref) = theirs(torch.tensor(x))
    for mine, reference in ((out, out_ref), (h, h_ref), (c, c_ref)):
        np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
