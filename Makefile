# Two commands set up a fresh machine:  `make run` (the gateway on the example catalog) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8811
TRANSPORT ?= streaming

.PHONY: setup run test test-ha lint typecheck unit bench bench-kube bench-control-plane reliability reliability-cluster dashboard-preview clean wheels

$(BIN)/kubemcp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

setup: $(BIN)/kubemcp tests/node/node_modules/.package-lock.json

run: $(BIN)/kubemcp
	$(BIN)/kubemcp gateway run --catalog examples/catalog.yaml --config examples/config.yaml \
		--transport $(TRANSPORT) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=operator $(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/listing_bench.py
	$(BIN)/python bench/fast_methods_bench.py
	$(BIN)/python bench/warm_local_bench.py

reliability: setup  # bounded load, fault and bad-input cases on loopback; writes docs/reliability.md
	$(BIN)/python reliability/run.py

reliability-cluster: setup  # faults in the test cluster, 3 rounds; needs bash tests/cluster/setup.sh; writes docs/reliability.md
	$(BIN)/python reliability/cluster_run.py --rounds 3

test-ha: setup  # rollout under load and a node's loss on a two-node test cluster; see docs/high-availability.md
	KUBEMCP_CLUSTER=1 KUBEMCP_CLUSTER_NODES=2 $(BIN)/pytest -m ha_load tests/charts

dashboard-preview: setup  # the Grafana dashboard's queries on a real Prometheus and gateway; writes docs/dashboard.png
	$(BIN)/python scripts/dashboard_preview.py

bench-kube: setup  # needs the test cluster's prerequisites: bash tests/cluster/setup.sh
	$(BIN)/python bench/kube_bench.py

bench-control-plane: setup  # N MCPServers and M MCPGateways at once on the test cluster; writes docs/benchmarks.md
	$(BIN)/python bench/control_plane_bench.py $(BENCH_ARGS)

wheels: $(BIN)/kubemcp  # the wheelhouse the Dockerfile installs from
	rm -rf build/wheels
	$(BIN)/pip wheel --quiet --wheel-dir build/wheels .

clean:
	rm -rf $(VENV) tests/node/node_modules
