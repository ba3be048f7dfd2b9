# Two commands do all the set-up on a fresh machine:
#   make demo   installs vidseq into .venv, then runs extract -> train -> predict on demo data
#   make test   installs vidseq into .venv, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VIDSEQ := $(VENV)/bin/vidseq
DEMO ?= demo

.PHONY: install demo test bench clean-demo

# torch and torchvision are pinned here (not in pyproject, which takes ranges) to the
# builds that install without a multi-GB download on the development machines.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) scripts/fetch_weights.py
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) scripts/demo.py --out $(DEMO)

test: install
	$(PY) -m pytest

bench: install
	$(PY) scripts/bench_extract.py

clean-demo:
	rm -rf $(DEMO)
