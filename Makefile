# Two commands for a newcomer: `make console` (the bot locally, no Slack account, SQLite) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: console test install lint bench

$(BIN)/firebreak: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,charts]"
	touch $(BIN)/firebreak

install: $(BIN)/firebreak

console: install
	$(BIN)/firebreak console

test: install
	$(BIN)/python -m pytest -n 2

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
