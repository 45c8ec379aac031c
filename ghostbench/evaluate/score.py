"""Top-k accuracy, image by image.

An image scores the chance that its label is among the k highest logits when ties are broken at
random: with g classes scoring above the label and e others equal to it, ``clip((k - g) / (e + 1),
0, 1)``. Without ties that is the usual 0 or 1. Ties matter for int8 artifacts, whose dequantized
logits take 256 values: ``argmax`` would credit whichever tied class comes first and make the
number depend on class order. An image with a non-finite logit (an fp16 overflow) scores 0 and is
counted in ``nonfinite``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def topk_credit(logits: np.ndarray, label: int, k: int) -> float:
    """Expected top-``k`` hit of one image (0..1) under random tie-breaking."""
    scores = np.asarray(logits, dtype=np.float64).ravel()
    if not np.isfinite(scores).all():
        return 0.0
    target = scores[label]
    above = int(np.count_nonzero(scores > target))
    tied = int(np.count_nonzero(scores == target)) - 1
    return float(min(max((k - above) / (tied + 1), 0.0), 1.0))


@dataclass
class Tally:
    """Running top-1/top-5 over the images seen so far."""

    n: int = 0
    top1_hits: float = 0.0
    top5_hits: float = 0.0
    nonfinite: int = 0

    def add(self, logits: np.ndarray, label: int) -> None:
        scores = np.asarray(logits).ravel()
        if not 0 <= label < scores.size:
            raise ValueError(f"label {label} outside the model's {scores.size} classes")
        self.n += 1
        self.nonfinite += int(not np.isfinite(scores).all())
        self.top1_hits += topk_credit(scores, label, 1)
        self.top5_hits += topk_credit(scores, label, 5)

    @property
    def top1(self) -> float:
        """Percent; NaN before the first image."""
        return 100.0 * self.top1_hits / self.n if self.n else float("nan")

    @property
    def top5(self) -> float:
        return 100.0 * self.top5_hits / self.n if self.n else float("nan")
