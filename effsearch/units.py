"""Parsing and printing compute counts: ``400M``, ``0.4G``, ``4e8`` all mean 4e8 MACs."""

from __future__ import annotations

import math
import re

from effsearch.errors import EffsearchError

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGBT]?)\s*(?:MACS?|FLOPS?)?\s*$", re.I)


def parse_count(text: str | float | int, what: str = "MACs target") -> float:
    """``400M`` -> 4e8. Suffixes K, M, G (or B), T; plain numbers and exponents accepted."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _PATTERN.match(str(text))
        if not match:
            raise EffsearchError(f"{what} {text!r} is malformed; use a number with an optional K/M/G suffix, e.g. 400M, 0.4G or 4e8")
        value = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if not math.isfinite(value) or value <= 0:
        raise EffsearchError(f"{what} {text!r} must be a positive number, e.g. 400M")
    return value


def format_count(value: float, digits: int = 3) -> str:
    """4.0e8 -> '400M', 5288548 -> '5.29M'."""
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"
