"""The DCGAN of models/gan.py against its PyTorch twin (benchmarks/twins/dcgan_twin.py) with
the same weights: forward outputs in training and eval mode, the losses, and the gradients of
one discriminator loss and one generator loss."""

import numpy as np
import pytest

import tinygen as tg
from models import gan

torch = pytest.importorskip("torch")
dcgan_twin = pytest.importorskip("benchmarks.twins.dcgan_twin")
pytestmark = pytest.mark.parity

LATENT, CHANNELS, BATCH = 8, 4, 6


def _assert_close(mine, reference, what):
    np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5, err_msg=what)


def _assert_same_gradients(ours, theirs, what):
    reference = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        _assert_close(param.grad.numpy(), reference[name].grad.numpy(), f"{what}: {name}")


def _twins(pack=1):
    """tinygen's G and D with DCGAN's init, and the PyTorch twins holding the same weights."""
    tg.manual_seed(0)
    ours_g = gan.dcgan_init_(gan.DCGenerator(LATENT, CHANNELS))
    ours_d = gan.dcgan_init_(gan.DCDiscriminator(CHANNELS, pack=pack))
    theirs_g = dcgan_twin.TwinDCGenerator(LATENT, CHANNELS)
    theirs_d = dcgan_twin.TwinDCDiscriminator(CHANNELS, pack)
    for ours, theirs in ((ours_g, theirs_g), (ours_d, theirs_d)):
        theirs.load_state_dict({name: torch.tensor(np.asarray(value))
                                for name, value in ours.state_dict().items()})
    return ours_g, ours_d, theirs_g, theirs_d


def test_twin_init_follows_dcgan_init():
    torch.manual_seed(0)
    theirs_g = dcgan_twin.dcgan_init_(dcgan_twin.TwinDCGenerator(64, 32))
    convs = [layer for layer in theirs_g.modules() if isinstance(layer, torch.nn.ConvTranspose2d)]
    norms = [layer for layer in theirs_g.modules() if isinstance(layer, torch.nn.BatchNorm2d)]
    assert abs(convs[0].weight.std().item() - 0.02) < 1e-3
    assert abs(norms[0].weight.mean().item() - 1.0) < 0.01
    assert convs[-1].bias.abs().max().item() == 0.0


@pytest.mark.parametrize("pack", [1, 2])
def test_dcgan_losses_and_gradients_match_the_torch_twin(pack):
    ours_g, ours_d, theirs_g, theirs_d = _twins(pack)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (BATCH, 1, 28, 28)).astype(np.float32)
    z_d, z_g = rng.standard_normal((2, BATCH, LATENT)).astype(np.float32)

    # discriminator step: real batch and detached fakes; no gradient may reach G
    fake_ours, fake_theirs = ours_g(tg.tensor(z_d)), theirs_g(torch.tensor(z_d))
    _assert_close(fake_ours.numpy(), fake_theirs.detach().numpy(), "G(z)")
    real_ours, real_theirs = ours_d(tg.tensor(x)), theirs_d(torch.tensor(x))
    _assert_close(real_ours.numpy(), real_theirs.detach().numpy(), "D(x)")
    d_loss_ours = gan.discriminator_loss("dcgan", real_ours, ours_d(fake_ours.detach()))
    d_loss_theirs = dcgan_twin.discriminator_loss(real_theirs, theirs_d(fake_theirs.detach()))
    _assert_close(d_loss_ours.item(), d_loss_theirs.item(), "D loss")
    d_loss_ours.backward()
    d_loss_theirs.backward()
    _assert_same_gradients(ours_d, theirs_d, "D loss, D gradient")
    assert all(param.grad is None for param in ours_g.parameters())
    assert all(param.grad is None for param in theirs_g.parameters())

    # generator step: the non-saturating loss, through D into G
    for net in (ours_g, ours_d, theirs_g, theirs_d):
        net.zero_grad()
    g_loss_ours = gan.generator_loss("dcgan", ours_d(ours_g(tg.tensor(z_g))))
    g_loss_theirs = dcgan_twin.generator_loss(theirs_d(theirs_g(torch.tensor(z_g))))
    _assert_close(g_loss_ours.item(), g_loss_theirs.item(), "G loss")
    g_loss_ours.backward()
    g_loss_theirs.backward()
    _assert_same_gradients(ours_g, theirs_g, "G loss, G gradient")
    _assert_same_gradients(ours_d, theirs_d, "G loss, D gradient")

    # batch norm's running statistics moved alike, so eval-mode samples agree too
    for ours, theirs in ((ours_g, theirs_g), (ours_d, theirs_d)):
        reference = dict(theirs.named_buffers())
        for name, buffer in ours.named_buffers():
            _assert_close(buffer.numpy(), reference[name].numpy(), name)
    ours_g.eval()
    theirs_g.eval()
    _assert_close(ours_g(tg.tensor(z_g)).numpy(),
                  theirs_g(torch.tensor(z_g)).detach().numpy(), "eval-mode G(z)")


def test_step_pair_runs_one_iteration_of_each():
    tinygen_step, torch_step = dcgan_twin.step_pair(channels=CHANNELS, batch=BATCH,
                                                    latent=LATENT)
    for step in (tinygen_step, torch_step):
        d_loss, g_loss = step()
        # near the start both nets are indifferent: D's loss is about 2 log 2, G's log 2
        assert abs(d_loss - 2 * np.log(2)) < 0.3 and abs(g_loss - np.log(2)) < 0.3
