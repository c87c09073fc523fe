"""What ``rag bench`` and ``/v1/benchmarks`` run: the ANN benchmark (datasets, timing, runners, metrics, plot) and the
end-to-end, scale, load and distributed drivers. Scripts that only a person runs stay in ``benchmarks/``."""
