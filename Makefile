# The two commands a new developer needs: `make demo` and `make test`.
# Both install what they need first (scripts/setup.sh), so they work on a fresh clone.

.PHONY: demo test setup setup-test lint format

export PATH := $(HOME)/.local/bin:$(PATH)

demo: setup
	uv run --frozen ics demo

test: setup-test
	uv run --frozen ruff check src tests scripts benchmarks
	uv run --frozen ruff format --check src tests scripts benchmarks
	# Two worker processes, a whole test file each: the suite spends much of its time waiting
	# (browsers, PostgreSQL, Spark), so two overlap on a 2-core machine (28 -> 17 minutes).
	uv run --frozen pytest -n 2 --dist loadfile

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

lint:
	uv run ruff check src tests scripts benchmarks

format:
	uv run ruff format src tests scripts benchmarks
	uv run ruff check --fix src tests scripts benchmarks
