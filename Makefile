# Two commands for users: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck contracts verifytypes coverage-pure pytest redis-server venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e . --group dev --group docs
	touch $(STAMP)

venv: $(STAMP)

# The main job, on the built-in emulator: a 20,000-message mixed campaign over loopback.
demo: $(STAMP)
	$(BIN)/python -m asms demo

.PHONY: demo-redis
# The distributed mode on this machine: a private redis-server (installed where missing, as
# for the tests), the emulator, three `asms worker` processes sharing one 20,000-message
# campaign and one account rate; ends with the emulator's count of messages sent twice.
demo-redis: $(STAMP) redis-server
	$(BIN)/python -m asms demo-redis

lint: $(STAMP)
	$(BIN)/ruff check --no-cache asms tests benchmarks examples tools
	$(BIN)/ruff format --no-cache --check asms tests benchmarks examples tools

typecheck: $(STAMP)
	$(BIN)/mypy --strict asms

# The architecture's import contracts: [tool.importlinter] in pyproject.toml.
contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

# The public API as an IDE sees it: 100 % type completeness, every public name documented.
verifytypes: $(STAMP)
	$(BIN)/python tools/verify_types.py

PURE_MODULES := _codes _exceptions _replies _encoding _numbers _models _optable _fast
PURE_TESTS := tests/core/test_codes.py tests/core/test_exceptions.py tests/core/test_replies.py \
	tests/core/test_encoding.py tests/core/test_numbers.py tests/core/test_models.py tests/core/test_optable.py \
	tests/core/test_core_fast_path.py tests/core/test_exception_tree.py

# The pure protocol core must keep >= 95 % branch coverage from its own tests.
coverage-pure: $(STAMP)
	$(BIN)/pytest -q $(addprefix --cov=asms.,$(PURE_MODULES)) --cov-branch \
		--cov-report=term-missing --cov-fail-under=95 $(PURE_TESTS)

# Every test whose traffic goes through the default transport runs again on stock httpx
# (tests/transport/test_transport.py covers both transports itself; in-process tests use the
# emulator's transport and touch neither), but for tests/bulk/test_bulk_kill.py: its
# processes send as tests/bulk/test_bulk_client.py does, and running it twice would take
# make test past ten minutes.
STOCK_TESTS := tests/client/test_client_commands.py tests/client/test_client_faults.py \
	tests/client/test_client_security.py tests/bulk/test_bulk_client.py \
	tests/cli/test_cli_gateway.py tests/cli/test_cli_bulk.py tests/client/test_examples.py \
	tests/client/test_platform_faults.py

# The Redis tests (tests/redis) start Debian's redis-server themselves: install it where it
# is missing (as root), else stop with the command that does.
redis-server:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q redis-server || \
				{ apt-get update -q && apt-get install -y -q redis-server; }; \
		else \
			echo "redis-server is missing; install it: sudo apt-get install -y redis-server" >&2; \
			exit 1; \
		fi; }

# The suite runs in two processes (pytest-xdist), one per core of a CI machine; the stock-httpx
# rerun goes alongside it, but for its real-time fault tests, which run after it on a quiet
# machine; either failing fails the target.
STOCK_ALONGSIDE := $(filter-out tests/client/test_client_faults.py,$(STOCK_TESTS))
pytest: $(STAMP) redis-server
	@log=$$(mktemp); \
	echo "ASMS_TRANSPORT=httpx $(BIN)/pytest -q $(STOCK_ALONGSIDE) (alongside, output below)"; \
	ASMS_TRANSPORT=httpx $(BIN)/pytest -q $(STOCK_ALONGSIDE) >"$$log" 2>&1 & rerun=$$!; \
	$(BIN)/pytest -q -n 2; suite=$$?; \
	wait $$rerun; stock=$$?; cat "$$log"; rm -f "$$log"; \
	test $$suite = 0 && test $$stock = 0
	ASMS_TRANSPORT=httpx $(BIN)/pytest -q tests/client/test_client_faults.py

test: lint typecheck contracts verifytypes docs coverage-pure pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: docs
# The documentation site (mkdocs.yml) into site/; any warning (a broken link or reference, a
# public name missing from docs/reference/) fails the build. Open site/index.html.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

.PHONY: bench bench-quick bench-deps
# Benchmarks: asms side by side with its peers (see benchmarks/RESULTS.md).
bench: $(STAMP) bench-deps
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP) bench-deps
	$(BIN)/python -m benchmarks --quick

# clickatell-platform (S6P) installs a package named `clickatell`, as clickatell 0.1.2 (dev)
# does: it gets a directory of its own, which benchmarks/_s6_platform.py puts on sys.path.
PLATFORM_PKG := $(VENV)/clickatell-platform
bench-deps: $(PLATFORM_PKG)/.installed

$(PLATFORM_PKG)/.installed: $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade --target $(PLATFORM_PKG) --group bench-platform
	touch $@

.PHONY: stateful-long
# The stateful property test (tests/bulk/test_stateful.py) with a longer profile than make test's.
stateful-long: $(STAMP)
	ASMS_STATEFUL=1 ASMS_STATEFUL_EXAMPLES=$${ASMS_STATEFUL_EXAMPLES:-500} \
		ASMS_STATEFUL_STEPS=$${ASMS_STATEFUL_STEPS:-50} \
		$(BIN)/pytest -q -p no:logging --timeout=0 tests/bulk/test_stateful.py

.PHONY: mutants
# Mutation testing of the guarantee modules (by hand, not in CI; hours on this box, and it
# resumes where it stopped). Scores per module at the end; `mutmut results` lists survivors.
mutants: $(STAMP)
	$(BIN)/python -m pip install --quiet -e . --group mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python tools/mutation_score.py
