# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export DIASPORA_FABRIC_HOME ?= $(HOME)/.diaspora/fabric

.PHONY: demo test lint lab up down status install-kafka venv clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@echo ">> installing diaspora-notebook and its dev dependencies into $(VENV)"
	$(PY) -m pip install --quiet --progress-bar off -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed

install-kafka: venv
	$(BIN)/diaspora-fabric install

up: install-kafka
	$(BIN)/diaspora-fabric up

down:
	$(BIN)/diaspora-fabric down

status:
	$(BIN)/diaspora-fabric status

# The main job: the local fabric, then every tutorial executed headless into build/.
demo: up
	$(BIN)/diaspora-fabric demo --out build/notebooks

lab: up
	$(BIN)/jupyter lab notebooks/

test: install-kafka
	$(BIN)/ruff check .
	$(BIN)/pytest -q --durations=15

lint: venv
	$(BIN)/ruff check .

bench: up
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
