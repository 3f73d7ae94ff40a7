# Two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dialer demo --workdir demo-run

test: $(STAMP)
	$(BIN)/ruff check dialer tests bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dialer tests bench

clean:
	rm -rf $(VENV) demo-run .pytest_cache .ruff_cache .hypothesis
