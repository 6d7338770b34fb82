"""Benchmarks of the trading runtime (not part of the package). See ``benchmarks/run.py``."""
