"""examples/demo_mlp.py (`make demo`) still runs: its loss falls and its gradcheck passes."""

import importlib.util
import re
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo_mlp.py"


def test_demo_loss_falls_and_gradcheck_passes(capsys):
    spec = importlib.util.spec_from_file_location("demo_mlp", DEMO)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)

    demo.main(steps=400)  # gradcheck raises GradcheckError if the MLP's gradient is wrong

    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 3, out
    assert losses[-1] < 0.5 * losses[0], f"loss did not fall: {losses}"
    assert "gradcheck:" in out
