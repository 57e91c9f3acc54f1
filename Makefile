# headless-auditor — every entry point a person or CI uses. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
TOOLS_BIN := $(shell hack/tools.sh print-bin)
# kubectl, helm, coredns ... inside make targets are the pinned, cached builds.
export PATH := $(TOOLS_BIN):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help demo tools venv cluster-up cluster-down cluster-status lint unit e2e test bench image manifests clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

demo: venv tools ## the user's path: local cluster + real node, image, helm install, examples, verdicts on screen
	hack/demo.sh

tools: ## build/install the pinned cluster tools once (cached outside the repo)
	hack/tools.sh all

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip==25.3
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed ## the Python environment (locked versions)

cluster-up: tools ## start the local cluster (a no-op when it runs)
	hack/cluster.sh up

cluster-down: ## stop the local cluster, leaving nothing behind on the machine
	hack/cluster.sh down

cluster-status: ## tell whether the local cluster answers
	hack/cluster.sh status

lint: venv ## ruff, mypy (--strict for the package and the benchmark, every body of the tests), the import layers (import-linter, contracts in pyproject.toml)
	ruff check operator tests hack
	ruff format --check operator tests hack
	mypy
	mypy --config-file tests/mypy.ini
	lint-imports

unit: venv ## the unit tier (no cluster)
	pytest tests/unit

e2e: venv tools ## the e2e tier (starts the local cluster if it is not running)
	pytest tests/e2e

test: venv tools lint ## the whole suite: lint, unit, e2e (kwok tier) and real-node tiers
	pytest tests

bench: venv tools ## the benchmark (issue 7) on its own cluster (.bench-cluster/, not part of test); BENCH_ARGS=...
	time $(VENV)/bin/python -m hack.bench $(BENCH_ARGS)

image: venv ## build the operator image on the local Docker engine (IMAGE=headless-auditor:dev; hack/image.sh node also imports it into the real node)
	hack/image.sh build

manifests: venv ## regenerate deploy/ from the chart (the one source of truth)
	hack/manifests.sh

clean: cluster-down ## remove the local state and the virtualenv
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
