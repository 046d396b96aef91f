# Every target does its own set-up: a local virtual environment in .venv with CPU torch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: venv test test-slow demo bench bench-full lint docs doctest clean

venv: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# A bare torch requirement pulls a multi-GB CUDA wheel: install the CPU build first when
	# torch is missing (users with a GPU install their own torch before implicit_ncf).
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -c .ci/constraints.txt -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(PY) -m implicit_ncf demo

bench: $(STAMP)
	$(PY) -m bench --quick

bench-full: $(STAMP)
	$(PY) -m bench

# The docs extra (Sphinx, numpydoc, myst-parser, matplotlib), installed once beside dev.
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -c .ci/constraints.txt -e ".[dev,docs]"
	touch $(DOCS_STAMP)

# The docstring examples, run as doctests where they are written.
doctest: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules implicit_ncf

# The documentation site in docs/_build/html; every Sphinx warning is an error.
docs: $(DOCS_STAMP) doctest
	$(PY) -m sphinx -q -W --keep-going -b html docs docs/_build/html
	@echo "Built docs/_build/html/index.html"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache docs/_build docs/api
