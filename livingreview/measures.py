"""Effect measures on the log scale and how people read them (one copy of the rule).

Pooling happens on the analysis scale: SMD as it is, risk and odds ratios as
their logarithms (``logRR``, ``logOR``; metafor's ``escalc`` calls them ``RR``
and ``OR``). Every table, figure, caption and summary shows a ratio
back-transformed, ``exp(x)``; this module says which measures those are.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["RATIO_NAMES", "display", "is_ratio", "ratio_name"]

#: log-scale measure (ours and metafor's names) -> the ratio people read
RATIO_NAMES = {"LOGRR": "RR", "LOGOR": "OR", "RR": "RR", "OR": "OR"}


def is_ratio(measure: Any) -> bool:
    """Whether ``measure`` is a ratio pooled on the log scale.

    >>> is_ratio("logRR"), is_ratio("RR"), is_ratio("SMD"), is_ratio(None)
    (True, True, False, False)
    """
    return str(measure).upper() in RATIO_NAMES


def ratio_name(measure: Any) -> str:
    """``RR`` or ``OR`` for a ratio measure, else the measure's own name.

    >>> ratio_name("logOR"), ratio_name("SMD")
    ('OR', 'SMD')
    """
    return RATIO_NAMES.get(str(measure).upper(), str(measure))


def display(value: Any, measure: Any) -> float:
    """A value as people read it: a ratio back-transformed from the log scale.

    >>> round(display(-0.6931, "logRR"), 3), display(-0.5, "SMD"), display(None, "logRR")
    (0.5, -0.5, nan)
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return math.exp(x) if is_ratio(measure) and math.isfinite(x) else x
