"""Numbers as people read them, written once for the report, the figures and GRADE's reasons.

p-values below 0.001 are "< 0.001" (never "0.000"), and a value that rounds to
zero is never "-0.000".
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite", "format_number", "p_value"]


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (JSON's null).

    >>> finite("0.5"), finite(None), finite(float("nan"))
    (0.5, None, None)
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _num(value: Any) -> float:
    x = finite(value)
    return math.nan if x is None else x


def p_value(value: Any) -> str:
    """The comparison and number after "p": ``"< 0.001"`` or ``"= 0.042"``; "NA" when missing.

    >>> p_value(3e-6), p_value(0.0417), p_value(None)
    ('< 0.001', '= 0.042', 'NA')
    """
    p = _num(value)
    if not math.isfinite(p):
        return "NA"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def format_number(value: Any, digits: int = 3, *, p: bool = False) -> str:
    """A table cell: rounded, no ``-0.000``; with ``p``, values below 10^-digits as ``< 0.001``.

    >>> format_number(-0.0001), format_number(2e-9, p=True), format_number(0.0412, p=True)
    ('0.000', '< 0.001', '0.041')
    """
    x = _num(value)
    if not math.isfinite(x):
        return ""
    if p and x < 10**-digits:
        return f"< {10**-digits:.{digits}f}"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text
