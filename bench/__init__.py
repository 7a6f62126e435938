"""Benchmarks for CoordLab: ``python -m bench`` (``make bench``) runs them all."""
