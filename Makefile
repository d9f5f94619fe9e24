# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench screenshots clean

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
	$(PY) benchmarks/dnp3_rtus.py
	$(PY) benchmarks/flisr.py

# the screenshots in docs/: the trainee console and the instructor station mid-storm, headless
FEEDERS ?= ../shared/feeders
screenshots: $(VENV)/.installed
	mkdir -p out
	printf 'Redirect $(abspath $(FEEDERS))/123bus/ieee123master.dss\nBusCoords $(abspath $(FEEDERS))/123bus/buscoords.dat\n' > out/ieee123.dss
	SDL_VIDEODRIVER=dummy $(PY) -m twin screenshot out/ieee123.dss docs/console-ieee123.png --at 04:00 --storm thunderstorm --seed 3
	SDL_VIDEODRIVER=dummy $(PY) -m twin screenshot out/ieee123.dss docs/station-ieee123.png --at 04:00 --storm thunderstorm --seed 3 --station
	SDL_VIDEODRIVER=dummy $(PY) -m twin screenshot scenarios/hurricane-day.yaml docs/console-100k.png --at 12:00

clean:
	rm -rf $(VENV) out
