"""Checks of the inputs every model shares.

One copy of the rules metafor applies before it fits anything: ``yi`` and ``vi``
are finite vectors of one length with ``vi > 0``; ``method``, ``test`` and
``level`` are among the supported ones. Study indices in messages are 0-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["METHODS", "TESTS", "check_method"]

METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "EB", "FE")
TESTS = ("z", "knha")


def _as_vector(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector over studies, got shape {a.shape}")
    return a


def _check_data(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _as_vector(yi, "yi")
    v = _as_vector(vi, "vi")
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if y.size == 0:
        raise ValueError("no studies: yi is empty (k = 0)")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"study {bad[0]}: yi must be finite (got {float(y[bad[0]])!r})")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise ValueError(f"study {bad[0]}: vi must be finite and > 0 (got {float(v[bad[0]])!r})")
    return y, v


def check_method(method: str, test: str, level: float) -> tuple[str, str]:
    """The canonical spelling of ``method`` and ``test``, after checking them and ``level``.

    Parameters
    ----------
    method : str
        tau^2 estimator, any case: one of :data:`METHODS` (REML, ML, DL, PM,
        HE, SJ, EB, FE).
    test : str
        ``"z"`` or ``"knha"`` (Knapp-Hartung), any case.
    level : float
        Confidence level, in (0, 1).

    Returns
    -------
    tuple of str
        ``(method, test)``: the method upper case, the test lower case.

    Raises
    ------
    ValueError
        Naming the argument and the values allowed.

    Notes
    -----
    The values metafor's ``rma.uni`` accepts for ``method`` and ``test``
    (Viechtbauer 2010, J Stat Softw 36(3)); the configuration
    (``analysis.method``, ``analysis.test``, ``analysis.level``) is checked
    by this function once, when its settings are parsed.

    Examples
    --------
    >>> check_method("reml", "KNHA", 0.95)
    ('REML', 'knha')
    """
    m = str(method).upper()
    if m not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    t = str(test).lower()
    if t not in TESTS:
        raise ValueError(f"test must be 'z' or 'knha'; got {test!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    return m, t


def _labels(labels: Sequence[Any] | None, k: int) -> list[Any]:
    if labels is None:
        return list(range(1, k + 1))
    out = list(labels)
    if len(out) != k:
        raise ValueError(f"labels has {len(out)} entries for k = {k} studies")
    return out
