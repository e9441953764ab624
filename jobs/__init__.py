"""Command line, pipeline runner, scheduler and configuration for kreview.

This package wires stages together; it holds no data logic of its own.
"""
