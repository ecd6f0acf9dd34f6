# Every target creates (or reuses) its own virtual environment in .venv; nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# Fleet sizes of bench/steady_scale.py (e.g. make bench STEADY_NODES=10000).
STEADY_NODES ?= 10000,30000,100000

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	@$(BIN)/python -m gitops_edge.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/observe_scale.py
	$(BIN)/python bench/status_size.py
	$(BIN)/python bench/steady_scale.py --nodes $(STEADY_NODES) --soak 20
	$(BIN)/python bench/apply_rate.py

clean:
	rm -rf $(VENV) build *.egg-info
