"""Benchmark library (datasets, metrics, runners, plots) and thin scripts on top of it."""
