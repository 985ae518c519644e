.PHONY: bootstrap run up down status test lint typecheck unit clean schemas config-docs indicator-docs compiled bench-pipeline bench-api bench-restore bench-memory bench-producers bench-years

VENV := .venv/bin

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	@$(VENV)/python -m devstack run

up: bootstrap
	@$(VENV)/python -m devstack up

down:
	@if [ -x $(VENV)/python ]; then $(VENV)/python -m devstack down; fi

status:
	@$(VENV)/python -m devstack status

lint: bootstrap
	$(VENV)/ruff check .

typecheck: bootstrap
	$(VENV)/mypy shared services devstack simulator dashboards tests bench

# two pytest workers (one per core of the CI machine); each starts its own broker, Redis and
# Prometheus on its own block of loopback ports (devstack/ports.py)
TEST_WORKERS ?= 2

test: bootstrap
	$(VENV)/ruff check .
	$(VENV)/mypy shared services devstack simulator dashboards tests bench
	$(VENV)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

unit: bootstrap
	$(VENV)/pytest -q tests/unit

compiled: bootstrap
	$(VENV)/python scripts/compile_rules.py

schemas: bootstrap
	$(VENV)/python -m shared.contract.schema_export

config-docs: bootstrap
	$(VENV)/python -m shared.platform.config_docs

indicator-docs: bootstrap
	$(VENV)/python -m shared.platform.indicator_docs

clean: down
	rm -rf .run .venv .mypy_cache .ruff_cache .pytest_cache

bench-api: bootstrap
	$(VENV)/python -m bench.api_latency

bench-pipeline: bootstrap
	$(VENV)/python -m bench.pipeline

bench-restore: bootstrap
	$(VENV)/python -m bench.restore

bench-memory: bootstrap
	$(VENV)/python -m bench.redis_memory

bench-producers: bootstrap
	$(VENV)/python -m bench.producers

# seven simulated years through the apply path (BENCH_YEARS, BENCH_YEAR_EVENTS shorten it)
bench-years: bootstrap
	$(VENV)/python -m bench.years
