"""The debugging tools on a real model from models/: the VAE and its loss."""

import io

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from models import vae
from tinygen import debug


def binary_batch(n=4):
    rng = np.random.default_rng(0)
    return tg.tensor((rng.random((n, vae.PIXELS)) > 0.6).astype(np.float32))


def test_trace_of_the_vae_loss_shows_the_kl_branch():
    tg.manual_seed(0)
    model = vae.VAE(latent=3, hidden=8)
    with debug.record():
        loss = vae.negative_elbo(model, binary_batch()).mean()
    rows = debug.trace(loss, file=io.StringIO())
    ops = [row["op"] for row in rows]
    # the KL term -1/2 (1 + logvar - mu^2 - exp(logvar)) contributes an Exp of logvar, and
    # the reconstruction term the fused Bernoulli log-likelihood
    assert "Exp" in ops and "BinaryCrossEntropyWithLogits" in ops
    kl_line = next(number for number, line in enumerate(open(vae.__file__), start=1)
                   if "kl = F.gaussian_kl(" in line)
    kl_rows = [row for row in rows if row["call_site"].endswith(f"vae.py:{kl_line}")]
    assert {"Exp", "Mul", "Sum"} <= {row["op"] for row in kl_rows}  # the KL branch, by line
    assert "MLPEncoder.mu" in {row["module"] for row in rows}  # ops know their module
    with debug.record():
        loss = vae.negative_elbo(model, binary_batch()).mean()
    only_encoder = debug.trace(loss, module="MLPEncoder", file=io.StringIO())
    assert only_encoder and all(row["module"].startswith("MLPEncoder") for row in only_encoder)
    assert len(only_encoder) < len(rows)


def test_explain_grad_names_a_planted_detach_in_the_vae():
    tg.manual_seed(1)
    model = vae.VAE(latent=3, hidden=8)
    x = binary_batch()
    with debug.record():
        mu, logvar = model.encode(x)
        z = vae.reparameterize(mu, logvar).detach()  # the planted bug: no gradient to encoder
        logits = model.decode(z)
        loss = (F.bernoulli_nll(logits, x, reduction="none")).mean()
    report = str(debug.explain_grad(model.encoder.hidden.weight, loss))
    assert "detach()" in report and "test_debug_on_models.py" in report


def test_detect_anomaly_pins_a_planted_log_of_zero_in_a_vae_loss():
    tg.manual_seed(2)
    model = vae.VAE(latent=3, hidden=8)
    x = binary_batch()
    with pytest.raises(debug.AnomalyError) as error, debug.detect_anomaly(), \
            np.errstate(divide="ignore"):
        mu, logvar = model.encode(x)
        probabilities = model.decode(vae.reparameterize(mu, logvar)).sigmoid()
        zeroed = probabilities * 0.0
        # the planted bug: log(p) of a probability that is exactly 0
        loss = -(x * zeroed.log()).mean()  # the planted log
        loss.backward()
    message = str(error.value)
    assert "op Log" in message
    assert "test_debug_on_models.py" in message and "is exactly 0 where" in message


def test_to_dot_names_vae_parameters_by_module_path(tmp_path):
    tg.manual_seed(3)
    model = vae.VAE(latent=3, hidden=8)
    list(model.named_parameters())
    loss = vae.negative_elbo(model, binary_batch()).mean()
    loss.backward(retain_graph=True)
    text = debug.to_dot(loss, tmp_path / "vae.dot")
    assert "encoder.mu.weight" in text and "decoder.out.bias" in text
