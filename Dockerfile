FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make install
ENV RAG_HOST=0.0.0.0 RAG_DATA_DIR=/data
EXPOSE 8000
CMD [".venv/bin/rag", "serve"]
