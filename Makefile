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

.PHONY: lab test env browser benchmark clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test,formats]"
	touch $(STAMP)

# JupyterLab refuses to run as root unless told (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

# The browser test (tests/test_browser.py) drives Debian's chromium headless, never a downloaded
# browser. `make test` installs it with apt-get when it is missing and this user may (root);
# otherwise it says so and the browser test is skipped (CI requires it: SEGMENTER_REQUIRE_BROWSER=1).
CHROMIUM ?= /usr/bin/chromium

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser test (apt-get install chromium) ..."; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	      echo "note: apt-get could not install chromium; the browser test will be skipped."; \
	  else \
	    echo "note: $(CHROMIUM) is missing (install it with: sudo apt-get install chromium); the browser test will be skipped."; \
	  fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_building_blocks.py

clean-env:
	rm -rf $(VENV)
