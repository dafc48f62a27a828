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
	@echo ">> installing diaspora-notebook and its dev dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --progress-bar on -e ".[dev]"
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

# The main job: the local fabric, then every tutorial executed headless into build/ (`demo`
# starts the fabric itself, says so, and ends with how to log in: where the demo password is).
demo: install-kafka
	$(BIN)/diaspora-fabric demo --out build/notebooks

# A person logs in with the widget (login-info says as whom); for headless kernels:
#   eval "$$(.venv/bin/diaspora-fabric demo-env)" && make lab
lab: up
	@$(PY) -m diaspora_notebook.fabric.demo login-info
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# lint: style, the import contracts of pyproject.toml (layers, no cycles, the toolkit never
# imports the fabric) and the types
test: install-kafka lint
	$(BIN)/pytest -q --durations=15

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: up
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
