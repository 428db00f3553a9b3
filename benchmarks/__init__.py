"""Benchmarks of the running system (see docs/BENCHMARKS.md)."""
