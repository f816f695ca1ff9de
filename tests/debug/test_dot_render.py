"""to_dot renders for real through Graphviz's `dot` (skipped where it is not installed)."""

import shutil
import xml.etree.ElementTree as ElementTree

import pytest
from PIL import Image

import tinygen as tg
import tinygen.nn as nn
from tinygen import debug

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="no Graphviz: apt-get install graphviz (.ci/run installs it with chromium)")


def mlp_loss():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    list(model.named_parameters())  # names the parameters by module path
    loss = ((model(tg.randn(5, 3)) - tg.randn(5, 1)) ** 2).mean()
    return loss


def test_to_dot_renders_a_png_beside_its_dot_file(tmp_path):
    text = debug.to_dot(mlp_loss(), tmp_path / "g.png")
    assert (tmp_path / "g.dot").read_text() == text
    with Image.open(tmp_path / "g.png") as picture:
        assert picture.format == "PNG"
        assert picture.height > picture.width  # the graph runs bottom to top: tall


def test_to_dot_renders_an_svg_with_the_parameters_names(tmp_path):
    debug.to_dot(mlp_loss(), tmp_path / "g.svg")
    root = ElementTree.parse(tmp_path / "g.svg").getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "0.weight" in texts and "Tanh" in texts
