"""The fixed-seed input of every timed window and every parity check, made with NumPy alone.

One place draws it, so the array a worker times (on this machine, or on a board that has no torch)
is the array the exporter checked parity on: same shape and seed, same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Tag of the input stream in NumPy's SeedSequence; calibration images use another tag
# (``exporters.parity.CALIBRATION_STREAM``), so an artifact is never checked on a calibration image.
INPUT_STREAM = 0x1A9


def fixed_input(shape: Sequence[int], seed: int) -> np.ndarray:
    """Standard normal float32 of ``shape`` (NCHW, like a normalised image batch) from PCG64 seeded
    with (:data:`INPUT_STREAM`, ``seed``): its own generator, so global RNG state never matters."""
    rng = np.random.default_rng((INPUT_STREAM, seed))
    return rng.standard_normal(tuple(int(d) for d in shape), dtype=np.float32)
