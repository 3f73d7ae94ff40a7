# Two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dialer demo --workdir demo-run

# The HTML report test renders the page in Debian's headless Chromium: installed when missing
# (CI runs as root on Debian). Without it the test fails rather than skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends chromium)

# Lint, type-check (flags in pyproject's [tool.mypy]), then the suite.
test: $(STAMP) chromium
	$(BIN)/ruff check dialer tests bench
	$(BIN)/mypy dialer
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dialer tests bench
	$(BIN)/mypy dialer

clean:
	rm -rf $(VENV) demo-run .pytest_cache .ruff_cache .hypothesis
