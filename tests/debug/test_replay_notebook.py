"""The notebook views: a Tensor's HTML card, a graph as SVG, a batch of images as PNG."""

import io
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

import tinygen as tg
import tinygen.nn as nn
from tinygen import debug
from tinygen.autograd.display import tensor_html


def test_tensor_card_shows_shape_dtype_device_stats_and_values():
    t = tg.tensor([[1.0, -2.0, 3.5]], requires_grad=True)
    card = t._repr_html_()
    assert "shape (1, 3)" in card and "float32" in card and "cpu" in card
    assert "requires_grad" in card
    assert "mean 0.8333" in card and "min -2" in card and "max 3.5" in card
    assert "3.5" in card.split("<pre")[1]  # the values themselves


def test_tensor_card_names_the_op_and_summarizes_large_tensors():
    big = tg.tensor(np.arange(1000.0).reshape(100, 10), requires_grad=True) * 2
    card = big._repr_html_()
    assert "grad_fn=&lt;Mul&gt;" in card and "max 1998" in card
    assert "..." in card and card.count("\n") < 20  # NumPy's summary, not 1000 values


def test_tensor_card_escapes_names_and_counts_non_finite_values():
    card = tensor_html(np.array([1.0, np.nan, np.inf]), name="<w>")
    assert "&lt;w&gt;" in card and "<w>" not in card
    assert "non-finite 2" in card and "mean 1" in card


def test_tensor_card_of_an_empty_or_boolean_tensor():
    assert "shape (0, 2)" in tg.zeros(0, 2)._repr_html_()
    assert "mean 0.5" in tensor_html(np.array([True, False]))


def mlp_loss():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    with debug.record():
        loss = ((model(tg.randn(5, 3)) - tg.randn(5, 1)) ** 2).mean()
    return model, loss


def test_graph_svg_draws_every_op_and_names_parameters(tmp_path):
    model, loss = mlp_loss()
    view = debug.graph(loss, model=model)
    svg = view._repr_svg_()
    root = ElementTree.fromstring(svg)  # well-formed XML
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    ops = [t for t in texts if t in ("Linear", "Tanh", "Sub", "PowScalar", "Mean")]
    assert sorted(ops) == ["Linear", "Linear", "Mean", "PowScalar", "Sub", "Tanh"]
    assert "0.weight (4, 3) float32" in texts and "loss () float32" in texts
    assert any("Sequential.1" in t for t in texts)  # the module, from record()
    assert view.save(tmp_path / "g.svg").read_text() == svg


def test_graph_puts_every_edge_downward():
    _, loss = mlp_loss()
    view = debug.graph(loss)
    assert all(view.nodes[a]["layer"] < view.nodes[b]["layer"] for a, b in view.edges)


def test_graph_of_a_leaf_names_the_function():
    with pytest.raises(ValueError, match="graph: the tensor has no graph"):
        debug.graph(tg.ones(2))


def test_image_grid_png_is_the_make_grid_layout():
    images = np.zeros((6, 1, 8, 8), dtype=np.float32)
    images[:, :, 2, 3] = 1.0
    png = debug.image_grid(tg.tensor(images), nrow=3, padding=2)._repr_png_()
    picture = np.asarray(Image.open(io.BytesIO(png)))
    assert picture.shape == (2 * 10 + 2, 3 * 10 + 2)  # 2 rows, 3 columns of 8 + padding
    assert picture[2 + 2, 2 + 3] == 255 and picture[0, 0] == 0
    assert picture.sum() == 6 * 255
