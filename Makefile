# Two commands on a fresh machine: `make train` (the main job: train PPO on wide with its preset
# for ten minutes, then compare it with the baselines) and `make test`.
# Both create .venv and install mmgym into it first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench lint

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py experiment=wide_ppo
	$(BIN)/python evaluate.py checkpoints='[runs/wide_ppo/wide/ppo-seed0/model.zip]' name=wide_ppo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks train.py evaluate.py
	$(BIN)/lint-imports
