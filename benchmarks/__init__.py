"""Benchmarks for the lifecycle engine: ``make bench`` (``python -m benchmarks.run``)."""
