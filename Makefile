# The interface: `make run` brings the whole stack up, `make test` runs every test, `make stop` stops.
.PHONY: run stop test test-quick lint fmt bench schemas

run:
	@bash scripts/stack.sh up

stop:
	@bash scripts/stack.sh down

test:
	@bash scripts/test.sh

test-quick:
	@bash scripts/bootstrap.sh && .venv/bin/pytest -m "not integration" -q

lint:
	@bash scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench:
	@bash bench/run.sh $(BENCH_ARGS)

fmt:
	@bash scripts/bootstrap.sh && .venv/bin/ruff format . && .venv/bin/ruff check --fix .
