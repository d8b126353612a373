# Two commands do all set-up (see README.md):
#   make lab    create the environment if needed, then open JupyterLab on notebooks/
#   make test   create the environment if needed, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of PyTorch; a plain `torch` requirement would pull several GB of CUDA packages.
# Override for a GPU machine, e.g. `make lab TORCH_SPEC="torch"`.
TORCH_SPEC ?= torch==2.13.0

.PHONY: lab test env benchmark clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# JupyterLab refuses to run as root unless told (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_building_blocks.py

clean-env:
	rm -rf $(VENV)
