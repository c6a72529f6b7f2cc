"""Parsing and printing counts (``400M``, ``0.4G``, ``4e8`` all mean 4e8 MACs) and durations (``15ms``)."""

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


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ms|s|us|µs)?\s*$")
_TO_MS = {"ms": 1.0, None: 1.0, "s": 1e3, "us": 1e-3, "µs": 1e-3}


def parse_duration_ms(text: str | float | int, what: str = "latency target") -> float:
    """``15ms`` -> 15.0; ``0.015s``, ``15000us`` and a plain number (milliseconds) too."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise EffsearchError(f"{what} {text!r} is malformed; use a duration such as 15ms, 0.015s or 15000us")
        value = float(match.group(1)) * _TO_MS[match.group(2)]
    if not value > 0 or value == float("inf"):
        raise EffsearchError(f"{what} {text!r} must be a positive duration, e.g. 15ms")
    return value
