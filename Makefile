# Two commands a new user needs: `make run` (the main job, no cluster, no GPU) and `make test`.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHART := charts/heteropool
CHART_DEST ?= dist

.PHONY: run test test-all clean crd chart

$(STAMP): pyproject.toml setup.py scripts/install_helm.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python scripts/install_helm.py --dest $(BIN)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/heteropool simulate samples/granite-3vendor.yaml --output out/simulate

test: $(STAMP)
	$(BIN)/pytest -m "not slow and not cluster" -q
	$(BIN)/pytest -m "slow and not cluster" -q || [ $$? -eq 5 ]
	$(BIN)/lint-imports

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
