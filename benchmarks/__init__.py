"""Benchmarks of the curriculum package (run from the repository root with `python -m benchmarks....`)."""
