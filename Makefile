# Two commands a new user needs: `make run` (the main job, no cluster, no GPU) and `make test`.
# Both create the virtual environment in .venv on first use: `make run` installs only what the
# simulation needs (the package and its plots extra, without compiling every dependency's
# bytecode up front: Python compiles what it imports); `make test` adds the test extras, the
# test support package and helm. `make lint` checks style, types and import layers (`make test`
# runs it too); `make fmt` rewrites the tree in the house format. `make image` builds the
# container image and `make image-test` smoke-tests it (docs/image.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
IMAGE ?= ghcr.io/heteropool/heteropool:$(VERSION)

CHART := charts/heteropool
CHART_DEST ?= dist

.PHONY: run test lint lint-types fmt clean crd chart image image-test bench-routers

$(RUN_STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -e '.[plots]'
	touch $(RUN_STAMP)

# tests/support is the test support package (API emulator, process helpers), installed beside
# heteropool so tests and benchmarks import it by name; the image never contains it.
$(STAMP): pyproject.toml setup.py tests/support/pyproject.toml scripts/install_helm.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[plots,test]' -e tests/support
	$(BIN)/python scripts/install_helm.py --dest $(BIN)
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/heteropool simulate samples/granite-3vendor.yaml --output out/simulate

test: lint
	$(BIN)/pytest -m "not slow and not cluster and not image" -q
	$(BIN)/pytest -m "slow and not cluster and not image" -q || [ $$? -eq 5 ]

# mypy cannot follow setuptools' editable-install finder (the folder operator/ is the package
# heteropool, tests/support/heteropool_testing the test support package), so it reads both through
# links in $(MYPY_PATH), and runs there: from the repository root it would take the folder operator/
# for the standard library's `operator`. Its messages name files as heteropool/...: read operator/... .
MYPY_PATH := $(VENV)/mypy-path
$(MYPY_PATH)/heteropool: $(STAMP)
	mkdir -p $(MYPY_PATH)
	ln -sfn $(CURDIR)/operator $(MYPY_PATH)/heteropool
	ln -sfn $(CURDIR)/tests/support/heteropool_testing $(MYPY_PATH)/heteropool_testing

# ruff (rules and format), mypy (strict on the package and the test support package; bench/ too), import-linter.
lint: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(MAKE) --no-print-directory lint-types
	$(BIN)/lint-imports --no-logo

# bench/ is checked too, with unannotated functions allowed (scripts, not a library) and the
# packages it imports read silently (they are checked strictly above).
lint-types: $(STAMP) $(MYPY_PATH)/heteropool
	cd $(MYPY_PATH) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p heteropool -p heteropool_testing
	cd $(MYPY_PATH) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml --allow-untyped-defs \
		--allow-incomplete-defs --allow-untyped-calls --no-warn-return-any --follow-imports=silent $(CURDIR)/bench

fmt: $(STAMP)
	$(BIN)/ruff format --quiet .
	$(BIN)/ruff check --quiet --fix .

# Build $(IMAGE) with docker or podman when an engine answers, else with buildah (installed
# with apt when missing; the Debian base is debootstrapped and cached in /var/cache/heteropool).
image:
	IMAGE=$(IMAGE) scripts/image.sh build

# Build with buildah (`buildah run` is the test harness) and run the image's entry points:
# --version, the operator against the API emulator, a simulator replica, the EPP.
image-test: $(STAMP)
	IMAGE=$(IMAGE) ENGINE=buildah scripts/image.sh build
	HETEROPOOL_IMAGE=$(IMAGE) $(BIN)/pytest -m image tests/image -q

# The Rust routers bench/dataplane.py compares against, in a venv of their own (bench only).
BENCH_ROUTERS ?= $(HOME)/.cache/heteropool-bench/routers
bench-routers:
	$(PYTHON) -m venv $(BENCH_ROUTERS)
	$(BENCH_ROUTERS)/bin/pip install --quiet sglang-router==0.3.2 vllm-router==0.1.17

crd: $(STAMP)
	$(BIN)/heteropool crd --write
	$(BIN)/heteropool crd --reference --write
	$(BIN)/python scripts/generate_chart.py

# The chart as an OCI-ready package: generated files checked, lint strict, then
# `helm package` to $(CHART_DEST)/heteropool-<version>.tgz. Publish it with
# `helm push $(CHART_DEST)/heteropool-<version>.tgz oci://<registry>/<path>`.
chart: $(STAMP)
	$(BIN)/python scripts/generate_chart.py --check
	$(BIN)/helm lint --strict $(CHART)
	$(BIN)/helm package $(CHART) --destination $(CHART_DEST)

clean:
	rm -rf $(VENV) build *.egg-info
