# packflow developer commands. `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,serve,redis,ray,spark,sign,grpc,kafka
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# `make demo` needs only the core (numpy, pydantic, PyYAML, click): its own small virtualenv.
DEMO_VENV ?= .venv-demo
DEMO_PY := $(DEMO_VENV)/bin/python
DEMO_STAMP := $(DEMO_VENV)/.installed-core

.PHONY: venv test demo dist bench bench-deps clean

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

## Run the example project on its sample records: outputs plus per-step metrics (core install only).
demo: $(DEMO_STAMP)
	$(DEMO_PY) examples/demo.py

$(DEMO_STAMP): pyproject.toml
	test -x $(DEMO_PY) || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

## Build the wheel into dist/ (install it anywhere: pip install 'dist/packflow-0.5.0-py3-none-any.whl[serve]').
dist:
	rm -rf dist build
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir dist .
	rm -rf build
	@ls dist

## Run the benchmarks (installs the released packflow 0.4.1 into .bench/ for comparison).
bench: $(STAMP) bench-deps
	$(PY) benchmarks/run_all.py

## Tools only the benchmarks use: wrk and redis-server (Debian), LitServe and scikit-learn (comparisons only).
bench-deps: $(STAMP)
	@command -v wrk >/dev/null && command -v redis-server >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk redis-server >/dev/null)
	@$(PY) -c "import litserve" 2>/dev/null || $(PY) -m pip install --quiet litserve
	@$(PY) -c "import sklearn" 2>/dev/null || $(PY) -m pip install --quiet scikit-learn  # mlserver_bench only

clean:
	rm -rf $(VENV) $(DEMO_VENV) .bench build dist .pytest_cache .hypothesis src/*.egg-info
