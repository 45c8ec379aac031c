"""Number formatting for the report: every figure a reader sees carries its unit."""

from __future__ import annotations

import math

from ghostbench.core.stats import finite

__all__ = ["corr", "count", "finite", "integer", "ms", "ms_range", "num", "pct", "ratio_pct"]


def num(x: object, digits: int = 3) -> str:
    """``digits`` significant digits without a unit; empty for missing values."""
    if not finite(x):
        return ""
    x = float(x)
    if x == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return f"{x:.{decimals}f}"


def integer(x: object) -> str:
    """A count (samples, windows); empty for missing values."""
    return f"{round(float(x))}" if finite(x) else ""


def ms(x: object) -> str:
    return f"{num(x)} ms" if finite(x) else "–"


def ms_range(lo: object, hi: object) -> str:
    if not (finite(lo) and finite(hi)):
        return "–"
    return f"[{num(lo)}, {num(hi)}] ms"


def pct(x: object, decimals: int = 1) -> str:
    """A value already in percent (top-1)."""
    return f"{float(x):.{decimals}f} %" if finite(x) else "–"


def ratio_pct(x: object, decimals: int = 1) -> str:
    """A fraction shown in percent (CV, window spread)."""
    return f"{100 * float(x):.{decimals}f} %" if finite(x) else "–"


def count(x: object, unit: str = "", digits: int = 3) -> str:
    """Large counts in k, M or G: ``4.20 M``, ``1.80 G`` (``unit`` follows, e.g. ``MACs``)."""
    if not finite(x):
        return "–"
    x = float(x)
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{num(x / scale, digits)} {prefix}{unit}".rstrip()
    return f"{num(x, digits)} {unit}".rstrip()


def corr(x: object, decimals: int = 2) -> str:
    """A correlation coefficient (unitless), with its sign."""
    return f"{float(x):+.{decimals}f}" if finite(x) else "–"
