"""Number formatting for the report: every figure a reader sees carries its unit."""

from __future__ import annotations

import math
from collections.abc import Callable

from ghostbench.core.stats import finite

__all__ = ["corr", "count", "finite", "integer", "ms", "ms_range", "num", "pct", "printable", "ratio_pct"]


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


def _bracket(lo: object, hi: object, show: Callable[[object], str], unit: str) -> str:
    """``[lo, hi] unit`` with each bound through ``show``; a dash when either is missing."""
    if not (finite(lo) and finite(hi)):
        return "–"
    return f"[{show(lo)}, {show(hi)}] {unit}"


def ms_range(lo: object, hi: object) -> str:
    return _bracket(lo, hi, num, "ms")


def _signed_change(ratio: object) -> str:
    return f"{100 * (float(ratio) - 1):+.1f}"


def change(ratio: object) -> str:
    """A ratio as a signed percent change: 1.104 -> ``+10.4 %``."""
    return f"{_signed_change(ratio)} %" if finite(ratio) else "–"


def change_range(low: object, high: object) -> str:
    """An interval of ratios as percent changes: ``[+2.0, +9.5] %``."""
    return _bracket(low, high, _signed_change, "%")


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


def printable(text: object) -> str:
    """``text`` with control characters (terminal escapes such as ``\\x1b[2J``, OSC-8 links) written
    as ``\\xNN`` escapes: a string from a results file must not drive the reader's terminal."""
    return "".join(
        c if c.isprintable() or c in "\n\t" else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        for c in str(text)
    )
