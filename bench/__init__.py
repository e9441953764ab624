"""Benchmarks: scripts that print their figures (run with `.venv/bin/python -m bench.<name>`)."""
