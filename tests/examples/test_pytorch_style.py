"""examples/pytorch_style: PyTorch programs that run on tinygen through their imports alone.

Each program is run twice from the same file: as written (``import tinygen as torch``) and with
``tinygen`` renamed to ``torch`` in its import lines (the data source, ``tinygen.data``, stays:
it only hands out NumPy arrays). The two runs start from the same weights (tinygen's initial
state dict is loaded into the PyTorch model), see the same batches (the program's own loader,
without shuffling) and, where the program draws noise, the same noise (``randn`` /
``randn_like`` replaced in both frameworks by draws from two NumPy generators seeded alike).
Dropout is the one randomness no shared stream can align (each framework draws its own
masks), so the CNN's comparison sets every dropout's ``p`` to 0: the layers still run, as the
identity. Everything runs in float32, as the programs do, so losses agree to rtol 1e-4.
"""

import argparse
import io
import tokenize
import types

import numpy as np
import pytest

import tinygen

torch = pytest.importorskip("torch")

from benchmarks.twins.example_steps import EXAMPLES, load  # noqa: E402 (needs torch)

pytestmark = pytest.mark.parity

PROGRAMS = ["mnist_cnn", "vae", "dcgan", "lstm_rows", "autoencoder"]
# Quiet training: a log line only on step 0.
ARGS = argparse.Namespace(steps=3, log_interval=10**9)


def _missing_features() -> list[str]:
    """Features the programs use that tinygen does not have yet (the tests xfail until then)."""
    missing = []
    try:
        from tinygen.utils.data import DataLoader, TensorDataset  # noqa: F401
    except ImportError as error:
        missing.append(f"tinygen.utils.data.DataLoader(dataset, ...) and TensorDataset "
                       f"({error})")
    return missing


MISSING = _missing_features()
needs_features = pytest.mark.xfail(bool(MISSING), strict=True,
                                   reason="needs " + "; ".join(MISSING))


def both(name: str) -> list[types.ModuleType]:
    return [load(name, "tinygen"), load(name, "torch")]


def same_start(ours, theirs):
    """Load ``ours``' (tinygen) state into ``theirs`` (PyTorch): one starting point."""
    theirs.load_state_dict({key: torch.from_numpy(np.array(value))
                            for key, value in ours.state_dict().items()})


def same_noise(monkeypatch, name: str) -> None:
    """Replace ``randn`` or ``randn_like`` in both frameworks by standard normal draws from
    two NumPy generators seeded alike, so both runs see the same noise call by call."""
    for framework, as_tensor in [(tinygen, tinygen.tensor), (torch, torch.from_numpy)]:
        monkeypatch.setattr(framework, name, _drawer(name, np.random.default_rng(0), as_tensor))


def _drawer(name, generator, as_tensor):
    def draw(*size, **_):  # randn(*size, device=...) or randn_like(tensor)
        shape = size[0].shape if name == "randn_like" else size
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return as_tensor(generator.standard_normal(tuple(shape)).astype(np.float32))

    return draw


def assert_same_losses(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64),
                               np.asarray(theirs, dtype=np.float64), rtol=1e-4)


@pytest.mark.parametrize("name", PROGRAMS)
def test_only_import_lines_name_tinygen(name):
    source = (EXAMPLES / f"{name}.py").read_text()
    lines = source.splitlines()

    named = {token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
             if token.type == tokenize.NAME and token.string == "tinygen"}

    assert "import tinygen as torch" in lines
    assert all(lines[row - 1].startswith(("import ", "from ")) for row in named)


@needs_features
def test_mnist_cnn_losses_and_test_metrics_match_pytorch():
    tinygen.manual_seed(0)
    programs = both("mnist_cnn")
    models = [program.Net() for program in programs]
    same_start(*models)
    for model in models:
        for layer in model.modules():
            if type(layer).__name__ == "Dropout":
                layer.p = 0.0  # the identity in both: no unmatched masks

    runs = []
    for program, model in zip(programs, models, strict=True):
        device = program.torch.device("cpu")
        loader = program.DataLoader(program.mnist(train=True), batch_size=16)
        optimizer = program.optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = program.StepLR(optimizer, step_size=1, gamma=0.7)
        losses = []
        for epoch in (1, 2):  # the second epoch runs at StepLR's decayed rate
            losses += program.train(ARGS, model, device, loader, optimizer, epoch)
            scheduler.step()
        test_loader = program.DataLoader(program.mnist(train=False), batch_size=500)
        runs.append((losses, *program.test(model, device, test_loader)))

    (ours, our_loss, our_accuracy), (theirs, their_loss, their_accuracy) = runs
    assert_same_losses(ours + [our_loss], theirs + [their_loss])
    assert abs(our_accuracy - their_accuracy) <= 0.05  # at most one of 2,000 on a tie's edge


@needs_features
def test_vae_losses_match_pytorch_with_the_same_noise(monkeypatch):
    same_noise(monkeypatch, "randn_like")
    programs = both("vae")
    models = [program.VAE() for program in programs]
    same_start(*models)

    runs = []
    for program, model in zip(programs, models, strict=True):
        device = program.torch.device("cpu")
        loader = program.DataLoader(program.mnist(train=True), batch_size=16)
        optimizer = program.optim.Adam(model.parameters(), lr=1e-3)
        runs.append(program.train(ARGS, model, device, loader, optimizer, 1))

    assert_same_losses(*runs)


@needs_features
def test_dcgan_losses_match_pytorch_from_the_same_weights_and_noise(monkeypatch):
    same_noise(monkeypatch, "randn")
    programs = both("dcgan")
    args = argparse.Namespace(**vars(ARGS), nz=16)
    pairs = []
    for program in programs:
        generator, discriminator = program.Generator(16, 8), program.Discriminator(8)
        pairs.append((generator.apply(program.weights_init),
                      discriminator.apply(program.weights_init)))
    for ours, theirs in zip(*pairs, strict=True):
        same_start(ours, theirs)

    runs = []
    for program, (generator, discriminator) in zip(programs, pairs, strict=True):
        device = program.torch.device("cpu")
        loader = program.DataLoader(program.mnist(), batch_size=8)
        optimizer_d = program.optim.Adam(discriminator.parameters(), lr=2e-4,
                                         betas=(0.5, 0.999))
        optimizer_g = program.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        runs.append(program.train(args, generator, discriminator, device, loader, optimizer_d,
                                  optimizer_g, 0))

    assert_same_losses(*runs)


@needs_features
def test_lstm_row_classifier_losses_and_accuracy_match_pytorch():
    programs = both("lstm_rows")
    models = [program.RowClassifier(28, 32) for program in programs]
    same_start(*models)

    runs = []
    for program, model in zip(programs, models, strict=True):
        device = program.torch.device("cpu")
        loader = program.DataLoader(program.mnist(train=True), batch_size=16)
        optimizer = program.torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = program.nn.CrossEntropyLoss()
        losses = program.train(ARGS, model, device, loader, optimizer, criterion, 1)
        test_loader = program.DataLoader(program.mnist(train=False), batch_size=500)
        runs.append((losses, program.test(model, device, test_loader)))

    (ours, our_accuracy), (theirs, their_accuracy) = runs
    assert_same_losses(ours, theirs)
    assert abs(our_accuracy - their_accuracy) <= 0.05


@needs_features
def test_autoencoder_losses_match_pytorch_and_a_saved_state_dict_restores_it(tmp_path):
    programs = both("autoencoder")
    models = [program.autoencoder() for program in programs]
    same_start(*models)

    runs = []
    for program, model in zip(programs, models, strict=True):
        device = program.torch.device("cpu")
        loader = program.DataLoader(program.mnist(train=True), batch_size=16)
        optimizer = program.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
        criterion = program.nn.MSELoss()
        losses = program.train(ARGS, model, device, loader, optimizer, criterion, 1)
        test_loader = program.DataLoader(program.mnist(train=False), batch_size=500)
        path = tmp_path / f"{program.__name__}.pt"
        program.torch.save(model.state_dict(), path)
        restored = program.autoencoder()
        restored.load_state_dict(program.torch.load(path))
        error = program.evaluate(model, device, test_loader, criterion)
        assert program.evaluate(restored, device, test_loader, criterion) == error
        runs.append(losses + [error])

    assert_same_losses(*runs)


QUICK_FLAGS = {"dcgan": ["--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "16"]}


@pytest.mark.parametrize("framework", [pytest.param("tinygen", marks=needs_features), "torch"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_main_runs_quickly_on_both_frameworks(name, framework, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a program writes its checkpoint
    program = load(name, framework)

    result = program.main(["--quick", "--steps", "2", *QUICK_FLAGS.get(name, [])])

    assert np.all(np.isfinite(np.asarray(result, dtype=np.float64)))
