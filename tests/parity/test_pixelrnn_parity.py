"""PixelRNN (Row LSTM and Diagonal BiLSTM) against its PyTorch twin in benchmarks/twins: with
tinygen's weights copied into the twin, the same per-image NLL and the same gradients for
every parameter and the input, so the twin's training figures compare the same function."""

import numpy as np
import pytest

import tinygen as tg
from models import pixelrnn

torch = pytest.importorskip("torch")
pixelrnn_twin = pytest.importorskip("benchmarks.twins.pixelrnn_twin")
pytestmark = pytest.mark.parity


@pytest.mark.parametrize("layer", ["row", "diag"])
def test_pixelrnn_twin_computes_the_same_nll_and_gradients(layer):
    tg.manual_seed(0)
    ours = pixelrnn.PixelRNN(layer, channels=6, hidden=3, layers=2, head=5).double()
    theirs = pixelrnn_twin.TwinPixelRNN(layer, channels=6, hidden=3, layers=2, head=5).double()
    theirs.load_state_dict({name: torch.tensor(value) for name, value in ours.state_dict().items()})
    # a non-square image: a mix-up of height and width in the skew or the row loop shows
    images = (np.random.default_rng(1).random((3, 1, 6, 5)) > 0.5).astype(np.float64)
    x_ours = tg.tensor(images, requires_grad=True)
    x_theirs = torch.tensor(images, requires_grad=True)

    nll_ours = pixelrnn.nll_per_image(ours, x_ours)
    nll_theirs = pixelrnn_twin.nll(theirs, x_theirs)
    nll_ours.sum().backward()
    nll_theirs.sum().backward()

    np.testing.assert_allclose(nll_ours.numpy(), nll_theirs.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), atol=1e-10)
    reference = dict(theirs.named_parameters())
    assert set(reference) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), reference[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-10, err_msg=name)
