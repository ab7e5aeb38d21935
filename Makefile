# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch; GPU users: install the CUDA torch of their choice into $(VENV) first.
TORCH ?= torch==2.13.0

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	mkdir -p out
	$(BIN)/impasto transfer src/impasto/examples/tubingen.jpg src/impasto/examples/starry_night.jpg \
		-o out/tubingen_starry_night.png --seed 0

# The browser test needs Chromium: scripts/chromium.sh finds one or installs Debian's, else the test is skipped.
test: setup
	@chromium="$$(scripts/chromium.sh)"; \
	IMPASTO_CHROMIUM="$$chromium" $(BIN)/python -m pytest; status=$$?; \
	[ -n "$$chromium" ] || echo "make test: the browser test was skipped (no Chromium): see above"; \
	exit $$status

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

# PASTICHE=/path/to/venv/bin/pastiche adds pastiche's times to speed.py's table.
bench: setup
	$(BIN)/python benchmarks/iteration.py
	$(BIN)/python benchmarks/speed.py $(if $(PASTICHE),--pastiche $(PASTICHE))

clean:
	rm -rf $(VENV) out
