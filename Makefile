# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	SDL_VIDEODRIVER=dummy $(PY) -m twin demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

bench: $(VENV)/.bench
	$(PY) benchmarks/bench_territory.py
	$(PY) benchmarks/powerflow.py --skip-1m
	$(PY) benchmarks/shortcircuit.py
	$(PY) benchmarks/storm.py

clean:
	rm -rf $(VENV) out
