"""The layers PyTorch programs bring (1-D and unbatched convs, pooling, resampling, channel
dropout, RNN/GRU/LSTM) against torch.nn with the same weights: state dict keys, outputs,
states, input gradients and parameter gradients."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _copy_weights(ours, theirs):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _assert_close(mine, reference, what):
    np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5, err_msg=what)


def _outputs(result):
    """A layer's tensors as a flat list: output, then the state(s)."""
    if not isinstance(result, tuple):
        return [result]
    flat = []
    for item in result:
        flat.extend(_outputs(item))
    return flat


def _run_both(ours, theirs, x, state=None, seed=0):
    """Forward both from the same input (and state), backward the same random cotangents;
    compare outputs and every gradient."""
    x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    extra_ours = () if state is None else (state[0],)
    extra_theirs = () if state is None else (state[1],)
    ys_ours = _outputs(ours(x_ours, *extra_ours))
    ys_theirs = _outputs(theirs(x_theirs, *extra_theirs))
    assert len(ys_ours) == len(ys_theirs)
    rng = np.random.default_rng(seed)
    loss_ours, loss_theirs = 0, 0
    for index, (mine, reference) in enumerate(zip(ys_ours, ys_theirs)):
        assert mine.shape == tuple(reference.shape), f"output {index}"
        _assert_close(mine.numpy(), reference.detach().numpy(), f"output {index}")
        if reference.dtype.is_floating_point:
            cotangent = rng.standard_normal(mine.shape).astype(x.dtype)
            loss_ours = loss_ours + (mine * tg.tensor(cotangent)).sum()
            loss_theirs = loss_theirs + (reference * torch.tensor(cotangent)).sum()
    loss_ours.backward()
    loss_theirs.backward()
    _assert_close(x_ours.grad.numpy(), x_theirs.grad.numpy(), "input gradient")
    reference = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        _assert_close(param.grad.numpy(), reference[name].grad.numpy(), f"{name} gradient")


@pytest.mark.parametrize(("make_ours", "make_theirs", "shape"), [
    (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1),
     lambda: torch.nn.Conv1d(2, 4, 3, stride=2, padding=1), (2, 2, 9)),
    (lambda: nn.Conv1d(4, 6, 4, padding="same", dilation=3, groups=2, bias=False),
     lambda: torch.nn.Conv1d(4, 6, 4, padding="same", dilation=3, groups=2, bias=False),
     (2, 4, 10)),
    (lambda: nn.Conv1d(3, 2, 3, padding="valid"),
     lambda: torch.nn.Conv1d(3, 2, 3, padding="valid"), (3, 7)),
    (lambda: nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1, output_padding=1, groups=2),
     lambda: torch.nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1, output_padding=1,
                                      groups=2), (2, 4, 5)),
    (lambda: nn.ConvTranspose1d(2, 3, 3, dilation=2), lambda: torch.nn.ConvTranspose1d(
        2, 3, 3, dilation=2), (2, 6)),
    (lambda: nn.Conv2d(3, 4, (3, 2), padding="same"),
     lambda: torch.nn.Conv2d(3, 4, (3, 2), padding="same"), (2, 3, 6, 5)),
    (lambda: nn.Conv2d(3, 4, 3, stride=2), lambda: torch.nn.Conv2d(3, 4, 3, stride=2),
     (3, 7, 7)),
    (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2, dilation=2),
     lambda: torch.nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2, dilation=2), (4, 3, 3)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own
def test_conv_layer_matches_torch_with_the_same_weights(make_ours, make_theirs, shape):
    theirs, ours = make_theirs(), make_ours()
    _copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    _run_both(ours, theirs, x)


@pytest.mark.parametrize("name, args, kwargs, shape", [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
     (2, 3, 11)),
    ("MaxPool1d", (2,), {}, (3, 7)),
    ("MaxPool2d", ((3, 2),), {"stride": (2, 1), "padding": (1, 0), "ceil_mode": True},
     (2, 3, 7, 6)),
    ("MaxPool2d", (3,), {"stride": 2, "dilation": (2, 1)}, (3, 9, 8)),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "return_indices": True}, (2, 3, 10)),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": (1, 1), "dilation": (1, 2),
                              "ceil_mode": True, "return_indices": True}, (2, 3, 6, 7)),
    ("MaxPool2d", (2,), {"return_indices": True}, (3, 5, 4)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True,
                         "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 8, 7)),
    ("AvgPool2d", ((2, 3),), {"padding": (1, 1), "count_include_pad": False}, (3, 7, 8)),
    ("AvgPool2d", (2,), {"divisor_override": 3}, (2, 2, 5, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), {}, (3, 4, 4)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 8)),
    ("AdaptiveMaxPool2d", ((2, 3),), {}, (2, 3, 5, 7)),
    ("AdaptiveMaxPool2d", (3,), {"return_indices": True}, (2, 7, 6)),
    ("Upsample", (), {"scale_factor": 2}, (2, 3, 4, 5)),
    ("Upsample", (), {"size": (7, 5)}, (2, 3, 3, 4)),
    ("Upsample", (), {"scale_factor": 1.7, "mode": "bilinear"}, (2, 3, 4, 5)),
    ("Upsample", (), {"size": 9, "mode": "bilinear", "align_corners": True}, (2, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2.5, "mode": "linear"}, (2, 3, 4)),
    ("Upsample", (), {"scale_factor": 0.6, "mode": "nearest-exact"}, (2, 3, 7, 9)),
    ("Upsample", (), {"size": (6, 9), "mode": "bicubic"}, (2, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 0.6, "mode": "bicubic", "align_corners": True},
     (2, 3, 7, 9)),
    ("Upsample", (), {"scale_factor": (1.5, 0.5, 2), "mode": "trilinear"}, (2, 3, 4, 5, 3)),
    ("Upsample", (), {"size": (3, 7, 2), "mode": "nearest"}, (2, 3, 4, 5, 3)),
    ("Upsample", (), {"size": (3, 3, 2), "mode": "area"}, (2, 3, 4, 5, 3)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 4)),
    ("PixelUnshuffle", (3,), {}, (2, 2, 6, 9)),
])
def test_parameterless_layer_matches_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    _run_both(ours, theirs, x)


@pytest.mark.parametrize("mode, align_corners", [
    ("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True),
    ("area", None),
])
def test_interpolate_matches_torch_in_float32_over_many_sizes(mode, align_corners):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    requests = [{"size": (h, w)} for h in (1, 3, 5, 8, 11) for w in (2, 7, 13, 14)]
    requests += [{"scale_factor": f, "recompute_scale_factor": r}
                 for f in (0.5, 0.75, 1.3, 2, 2.6, 3) for r in (None, True)]
    for request in requests:
        ours = F.interpolate(tg.tensor(x), mode=mode, align_corners=align_corners, **request)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode,
                                                 align_corners=align_corners, **request)
        # the same indices and float32 blend weights: at most a few float32 roundings of the
        # inputs' size apart where PyTorch's vectorised kernel orders a sum differently (a
        # wrong index or weight would be off by a tenth)
        ulp = np.finfo(np.float32).eps * np.abs(x).max()
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=4 * ulp,
                                   err_msg=str(request))


@pytest.mark.parametrize("mode, align_corners, antialias", [
    ("bicubic", False, False), ("bicubic", True, False), ("bilinear", False, True),
    ("bilinear", True, True), ("bicubic", False, True), ("bicubic", True, True),
])
def test_bicubic_and_antialiased_interpolate_match_torch_over_many_sizes(mode, align_corners,
                                                                          antialias):
    # float64: the same taps and weights agree to rounding; a wrong tap or weight (a border
    # clamp, a support one pixel short) would be off by far more
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 9))
    requests = [{"size": (h, w)} for h in (2, 3, 6, 8, 13) for w in (2, 4, 9, 14)]
    requests += [{"scale_factor": f, "recompute_scale_factor": r}
                 for f in (0.3, 0.5, 0.75, 1.3, 2, 2.6) for r in (None, True)]
    for request in requests:
        ours = F.interpolate(tg.tensor(x), mode=mode, align_corners=align_corners,
                             antialias=antialias, **request)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode,
                                                 align_corners=align_corners,
                                                 antialias=antialias, **request)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=str(request))


@pytest.mark.parametrize("spatial, pool_args, shape, output_size", [
    (1, (3, 2, 1), (2, 3, 9), None),
    (1, (2, 2, 0), (3, 9), (9,)),
    (2, (3, 2, 1), (2, 3, 7, 6), (2, 3, 7, 6)),
    (2, (2, 2, 0), (3, 5, 5), (5, 5)),
    (2, ((3, 2), (1, 2), (1, 0)), (2, 2, 5, 6), None),
])
def test_max_unpool_inverts_max_pool_as_torch_does(spatial, pool_args, shape, output_size):
    x = np.random.default_rng(4).standard_normal(shape)
    pools = {1: ("MaxPool1d", "MaxUnpool1d"), 2: ("MaxPool2d", "MaxUnpool2d")}[spatial]
    y_ours, i_ours = getattr(nn, pools[0])(*pool_args, return_indices=True)(tg.tensor(x))
    y_theirs, i_theirs = getattr(torch.nn, pools[0])(*pool_args, return_indices=True)(
        torch.tensor(x))
    np.testing.assert_array_equal(i_ours.numpy(), i_theirs.numpy())
    values = y_ours.numpy()
    kernel, stride, padding = pool_args
    ours = getattr(nn, pools[1])(kernel, stride, padding)
    theirs = getattr(torch.nn, pools[1])(kernel, stride, padding)
    assert repr(ours) == repr(theirs)
    v_ours, v_theirs = tg.tensor(values, requires_grad=True), torch.tensor(values,
                                                                           requires_grad=True)
    u_ours = ours(v_ours, i_ours, output_size=output_size)
    u_theirs = theirs(v_theirs, i_theirs, output_size=output_size)
    np.testing.assert_array_equal(u_ours.numpy(), u_theirs.detach().numpy())
    cotangent = np.random.default_rng(5).standard_normal(u_ours.shape)
    (u_ours * tg.tensor(cotangent)).sum().backward()
    (u_theirs * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_array_equal(v_ours.grad.numpy(), v_theirs.grad.numpy())


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("options", [
    {},
    {"num_layers": 2, "batch_first": True},
    {"bidirectional": True, "num_layers": 2},
    {"bidirectional": True, "batch_first": True, "bias": False},
])
@pytest.mark.parametrize("with_state", [False, True])
def test_sequence_layer_matches_torch_with_the_same_weights(kind, options, with_state):
    extra = {"nonlinearity": "relu"} if kind == "RNN" and options.get("bias") is False else {}
    theirs = getattr(torch.nn, kind)(3, 5, **options, **extra)
    ours = getattr(nn, kind)(3, 5, **options, **extra)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(3)
    layers = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    x = rng.standard_normal((2, 6, 3) if options.get("batch_first") else (6, 2, 3))
    x = x.astype(np.float32)
    state = None
    if with_state:
        values = [rng.standard_normal((layers, 2, 5)).astype(np.float32) for _ in range(2)]
        state = ((tg.tensor(values[0]), tg.tensor(values[1])),
                 (torch.tensor(values[0]), torch.tensor(values[1])))
        if kind != "LSTM":
            state = (state[0][0], state[1][0])
    _run_both(ours, theirs, x, state)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_unbatched_sequence_matches_torch(kind):
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    ours = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    _copy_weights(ours, theirs)
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    _run_both(ours, theirs, x)


@pytest.mark.parametrize("kind, options", [("RNNCell", {"nonlinearity": "tanh"}),
                                           ("RNNCell", {"nonlinearity": "relu"}),
                                           ("GRUCell", {}), ("GRUCell", {"bias": False}),
                                           ("LSTMCell", {})])
@pytest.mark.parametrize("shape", [(4, 3), (3,)])
def test_cell_matches_torch_with_the_same_weights(kind, options, shape):
    theirs, ours = getattr(torch.nn, kind)(3, 5, **options), getattr(nn, kind)(3, 5, **options)
    _copy_weights(ours, theirs)
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    _run_both(ours, theirs, x)


def test_default_initialisations_have_torch_bounds_and_spreads():
    # same distributions, not the same draws: compare the extreme values of big layers
    tg.manual_seed(0)
    torch.manual_seed(0)
    pairs = [(nn.Conv1d(16, 32, 5), torch.nn.Conv1d(16, 32, 5)),
             (nn.ConvTranspose1d(16, 8, 4, groups=2), torch.nn.ConvTranspose1d(16, 8, 4,
                                                                                groups=2)),
             (nn.RNN(20, 50, num_layers=2), torch.nn.RNN(20, 50, num_layers=2)),
             (nn.GRU(20, 50, bidirectional=True), torch.nn.GRU(20, 50, bidirectional=True)),
             (nn.GRUCell(20, 50), torch.nn.GRUCell(20, 50)),
             (nn.RNNCell(20, 50), torch.nn.RNNCell(20, 50))]
    for ours, theirs in pairs:
        reference = theirs.state_dict()
        assert list(ours.state_dict()) == list(reference)
        for name, value in ours.state_dict().items():
            assert value.shape == tuple(reference[name].shape)
            spread, expected = np.abs(value).max(), reference[name].abs().max().item()
            assert spread == pytest.approx(expected, rel=0.25), f"{type(ours).__name__}.{name}"


@pytest.mark.parametrize("ours_fn, theirs_name, shape", [
    (F.dropout2d, "dropout2d", (64, 32, 3, 3)),
    (F.dropout1d, "dropout1d", (64, 32, 5)),
])
def test_channel_dropout_drops_as_many_channels_as_torch_and_keeps_the_mean(ours_fn, theirs_name,
                                                                            shape):
    # different generators, so the same law rather than the same draws
    x = np.ones(shape, dtype=np.float32)
    tg.manual_seed(0)
    ours = ours_fn(tg.tensor(x), 0.3).numpy()
    theirs = getattr(torch.nn.functional, theirs_name)(torch.tensor(x), 0.3).numpy()
    for y in (ours, theirs):
        channels = y.reshape(shape[0] * shape[1], -1)
        assert (channels == channels[:, :1]).all()
        assert set(np.unique(channels)) == {0.0, np.float32(1 / 0.7)}
        assert abs((channels[:, 0] == 0).mean() - 0.3) < 0.05
    for p, training in ((1.0, True), (1.0, False), (0.0, True)):
        np.testing.assert_array_equal(
            ours_fn(tg.tensor(x), p, training).numpy(),
            getattr(torch.nn.functional, theirs_name)(torch.tensor(x), p, training).numpy())
