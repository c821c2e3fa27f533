# packflow developer commands. `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,serve,redis,ray,spark,kafka
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: venv test demo bench bench-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(STAMP)

## Run the whole test suite.
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

## Run the example project on its sample records: outputs plus per-step metrics.
demo: $(STAMP)
	$(PY) examples/demo.py

## Run the benchmarks (installs the released packflow 0.4.1 into .bench/ for comparison).
bench: $(STAMP) bench-deps
	$(PY) benchmarks/run_all.py

## Tools only the benchmarks use: wrk and redis-server (Debian), LitServe (comparison only).
bench-deps: $(STAMP)
	@command -v wrk >/dev/null && command -v redis-server >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk redis-server >/dev/null)
	@$(PY) -c "import litserve" 2>/dev/null || $(PY) -m pip install --quiet litserve

clean:
	rm -rf $(VENV) .bench build dist .pytest_cache .hypothesis src/*.egg-info
