# Two commands do everything on a fresh clone: `make search` and `make test`.
# Both create .venv/ at the repo root when it is missing and install the project into it,
# pinned by constraints.txt (the versions tested together).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Optional parts installed with the project: postgres (the psycopg driver for
# postgresql+psycopg:// storage URLs), workers (Hydra's joblib / SLURM launchers), dashboard
# (optuna-dashboard), workspace (the wandb workspace template). The tests use all of them.
# `make EXTRAS=dev search` installs less.
EXTRAS ?= dev,bench,postgres,workers,dashboard,workspace

.PHONY: search test lint format bench clean-venv

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

search: $(STAMP)
	$(VENV)/bin/nas-search $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint --config docker/hadolint.yaml docker/Dockerfile docker/Dockerfile.cuda

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) experiments/bench_net2net.py

clean-venv:
	rm -rf $(VENV)
