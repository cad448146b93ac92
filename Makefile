# memoryhole: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the suite runs on both cores of CI's machine (pytest-xdist); TEST_WORKERS=0 runs it in one
TEST_WORKERS ?= 2
# every package `make venv` installs, pinned: installs are the same on every machine until
# `make lock` refreshes it
LOCK := requirements.lock
LOCK_VENV := .cache/lock-venv

.PHONY: venv demo test lint bench lock audit clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	$(BIN)/python -m compileall -q archive crawlers pipelines demosite cli scheduler.py >/dev/null
	touch $(STAMP)

demo: venv
	$(BIN)/memoryhole --home demo-home demo

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m bench.run

# refresh requirements.lock: the newest releases pyproject.toml allows, frozen from a fresh venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[test]'
	{ echo "# pinned by 'make lock' (pip freeze of a fresh venv); 'make venv' installs with it"; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf $(LOCK_VENV)

# known vulnerabilities in the pinned packages (PyPI's advisories; AUDIT_FLAGS="-s osv" asks
# OSV instead); not part of `make test`, so an advisory published tomorrow does not fail an
# unchanged build. --strict: a package that could not be audited fails it too (no silent pass)
AUDIT_FLAGS ?=
audit: venv
	$(BIN)/pip install --quiet -c $(LOCK) pip-audit
	$(BIN)/pip-audit --strict --no-deps --disable-pip -r $(LOCK) $(AUDIT_FLAGS)

clean:
	rm -rf $(VENV) .venv-pywb .cache demo-home .pytest_cache
