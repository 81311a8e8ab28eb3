# Zoho Sync Lab. Needs only python3 (>= 3.11) on the machine: everything else goes into .venv.
#   make demo    the demo (creates .venv and installs on first run)
#   make test    the whole test suite (pytest -n 2)
#   make serve   the fakes alone, in the foreground (Ctrl-C stops)
#   make lint    ruff
#   make bench   zlab bench fakes, with moto's server installed as a peer (BENCH_ARGS=...)
#   make clean   remove .zlab (local databases), caches and build output
#   make distclean   clean, and remove .venv too

# The first interpreter >= 3.11 found; override with `make PYTHON=/path/to/python3.12 ...`.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  && { echo $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zlab-installed
PYTEST_ARGS ?=
SERVE_ARGS ?=
DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: all install demo test serve lint bench clean distclean

all: test

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python >= 3.11 is needed (as python3, python3.11, python3.12 or python3.13); none was found on PATH." >&2; \
	  exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install the python3-venv package." >&2; \
	  rm -rf $(VENV); exit 1; }

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zlab demo $(DEMO_ARGS)

test: $(STAMP)
	@$(BIN)/pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit 5): that counts as a failure." >&2; fi; \
	exit $$rc

serve: $(STAMP)
	$(BIN)/zlab serve $(SERVE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/zlab bench fakes $(BENCH_ARGS)

clean:
	rm -rf .zlab .pytest_cache .ruff_cache build dist *.egg-info reports out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
