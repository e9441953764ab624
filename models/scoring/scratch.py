"""A buffer reused by the steps of one long call (the reads of a recluster, the stacks of a
clustering call), grown when a step needs more.

On the bench VM a fresh array of tens of MB costs a page fault per 4 KB page the first time
it is written (0.4 s over the pool's read batches for one 25 MB array each); memory already
touched costs nothing. Views handed out are valid until the next :meth:`Scratch.take`, so
callers copy out what they keep.
"""

from __future__ import annotations

import numpy as np


class Scratch:
    def __init__(self, dtype: type[np.generic], min_size: int = 0) -> None:
        self.dtype = dtype
        self.min_size = min_size
        self.buffer = np.empty(0, dtype)

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array of ``shape`` in the buffer (reallocated when too small)."""
        size = int(np.prod(shape))
        if size > self.buffer.size:
            self.buffer = np.empty(max(size, self.min_size), self.dtype)
        return self.buffer[:size].reshape(shape)
