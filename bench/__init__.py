"""Benchmarks of the course: training time-to-quality, sampling accuracy vs cost, chapter budgets, widget latency.

Run ``python -m bench`` from the repository root; see bench/__main__.py and bench/RESULTS.md.
"""
