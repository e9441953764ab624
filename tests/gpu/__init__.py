"""Tests that need a CUDA device (marker ``gpu``; `make gpu-check` runs them, CI deselects them
with ``-m "not gpu"``). On a machine without CUDA every one of them is skipped with a reason."""
