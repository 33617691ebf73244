# atsock — every target sets itself up: a fresh clone needs only `make demo` / `make test`.
# The virtualenv (.venv) and cargo's target/ are reused when they exist.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-installed

.PHONY: all setup build test test-rust test-python lint bench fuzz soak demo docs clean

all: test

# Create the venv and install the dev extras (pyproject.toml is the one list of them).
$(DEPS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'maturin>=1.9.4,<2'
	$(VENV)/bin/maturin develop --release --extras dev
	touch $@

setup: $(DEPS)

# Rebuild the extension in place (release profile; cargo makes this a no-op when unchanged).
build: $(DEPS)
	$(VENV)/bin/maturin develop --release --skip-install --quiet

test: test-rust test-python

test-rust:
	cargo test --quiet

test-python: build
	$(PY) -m pytest -q tests benches

lint: build
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --features python -- -D warnings
	$(PY) -m ruff check python tests benches examples
	$(PY) -m ruff format --check python tests benches examples
	$(PY) -m mypy
	$(PY) -m mypy --strict examples
	$(PY) -m mypy.stubtest atsock._core

bench: build
	$(PY) -m pytest benches -q --benchmark-enable --benchmark-autosave \
		--benchmark-columns=min,median,mean,ops --benchmark-sort=name -p no:randomly

# Long reliability runs (1 GiB through transparent mode with hostile payloads).
soak: build
	$(PY) -m pytest -q -m slow -p no:randomly --timeout 1800 tests

# Coverage-guided fuzzing of the core (libFuzzer via cargo-fuzz; RUSTC_BOOTSTRAP lets the
# stable toolchain take the sanitizer flags). FUZZ_SECONDS per target; the summary of
# runs per target lands in target/fuzz-summary.txt.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := response_framer command_framer params guard pattern_watch

fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	rm -f target/fuzz-summary.txt
	for t in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 2>&1 | tee target/fuzz-$$t.log \
			| grep -E "^(Done|==|SUMMARY)" ; \
		echo "$$t: $$(grep -Eo 'Done [0-9]+ runs' target/fuzz-$$t.log || echo FAILED)" \
			>> target/fuzz-summary.txt; \
	done
	cat target/fuzz-summary.txt
	! grep -q FAILED target/fuzz-summary.txt

demo: build
	$(PY) -m atsock demo

# The documentation site (MkDocs, Material, mkdocstrings) into site/; warnings are errors.
docs: build
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site  # (no Material banner)

clean:
	rm -rf $(VENV) target .benchmarks .pytest_cache .mypy_cache .ruff_cache
	find python -name '*.so' -delete
