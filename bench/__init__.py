"""Benchmarks of implicit_ncf: each row a figure and its ratio to a baseline measured in the same
run, each fast path checked against a naive one. Run ``python -m bench --quick``."""
