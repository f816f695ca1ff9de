# `make run` and `make test` create the virtualenv and install what they need, so both work
# from a fresh clone. Stamp files record what is installed; editing pyproject.toml reinstalls.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run classifier demo test lint bench mutate clean replay-figures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.installed-bench: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $@

# the main job: the DCGAN's quick config on the bundled MNIST split (under three minutes on 2
# cores from a fresh clone, the virtualenv included); it ends with recognizable digits, their
# sample metrics and runs/MODEL_quick/report.html. MODEL=gan|cgan|lsgan|wgan-gp picks another.
MODEL ?= dcgan
run: $(VENV)/.installed
	$(BIN)/python -m models.gan --model $(MODEL) --quick --out runs/$(MODEL)_quick

# the conv classifier: the smallest complete training script
classifier: $(VENV)/.installed
	$(BIN)/python -m models.classifier

# the smallest end-to-end run: an MLP on raw tensors, then a gradcheck
demo: $(VENV)/.installed
	$(BIN)/python examples/demo_mlp.py

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# the replay's screenshots in docs/figures and its PixelCNN figures (size, first paint, time
# per step); needs Chromium and Playwright (apt-get install chromium; pip install -e .[browser])
replay-figures: $(VENV)/.installed-test
	PYTHONPATH=. $(BIN)/python tests/debug/test_replay_browser.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.overhead
	$(BIN)/python -m benchmarks.kernels
	$(BIN)/python -m benchmarks.conv_layers
	$(BIN)/python -m benchmarks.host_memory
	$(BIN)/python -m benchmarks.anomaly_overhead
	$(BIN)/python -m benchmarks.samplers
	$(BIN)/python -m benchmarks.pooling
	$(BIN)/python -m benchmarks.optimizers
	$(BIN)/python -m benchmarks.layer_grid
	$(BIN)/python -m benchmarks.twins.step_times
	$(BIN)/python -m benchmarks.twins.example_steps
	$(BIN)/python -m benchmarks.numpy_floors

# mutation testing (not in CI): tools/mutants.py's bugs applied one at a time to a copy of
# the committed tree under /tmp, each mutated file's tests run; rewrites docs/MUTATION.md
# (about an hour on 2 cores)
mutate: $(VENV)/.installed-test
	$(BIN)/python tools/mutate.py --report docs/MUTATION.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
