"""Weighted least squares in p x p algebra: no k x k matrix is ever formed.

With weights w_i = 1/(v_i + tau^2) and B = (X'WX)^-1 every quantity metafor
computes from its P matrix reduces to p x p algebra:
tr(P) = sum w - tr(B X'W^2X),
tr(PP) = sum w^2 - 2 tr(B X'W^3X) + tr(B C B C) with C = X'W^2X, and
y'PPy = sum (w r)^2 with r the weighted least-squares residuals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(float).eps


@dataclass
class _WLS:
    """Weighted least-squares pieces for weights w (all O(k p^2))."""

    w: np.ndarray
    b: np.ndarray  # coefficients
    B: np.ndarray  # (X'WX)^-1
    r: np.ndarray  # residuals y - X b


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> _WLS:
    A = X.T @ (w[:, None] * X)
    B = np.linalg.inv(A)
    b = B @ (X.T @ (w * y))
    return _WLS(w=w, b=b, B=B, r=y - X @ b)


def _qform(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    return X.T @ (w[:, None] * X)


def _trP(X: np.ndarray, f: _WLS) -> float:
    return float(f.w.sum() - np.trace(f.B @ _qform(X, f.w**2)))


def _trPP(X: np.ndarray, f: _WLS) -> float:
    C = _qform(X, f.w**2)
    BC = f.B @ C
    return float((f.w**2).sum() - 2 * np.trace(f.B @ _qform(X, f.w**3)) + np.trace(BC @ BC))


def _Qgen(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Generalised Q: sum w (y - X b_w)^2 with w = 1/(v + tau2) (metafor .QE.func)."""
    f = _wls(X, y, 1 / (v + tau2))
    return float((f.w * f.r**2).sum())


def _loglik(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, reml: bool) -> float:
    k, p = X.shape
    f = _wls(X, y, 1 / (v + tau2))
    rss = float((f.w * f.r**2).sum())
    if reml:
        sign, logdet = np.linalg.slogdet(_qform(X, f.w))
        return (
            -0.5 * (k - p) * math.log(2 * math.pi)
            - 0.5 * np.log(v + tau2).sum()
            - 0.5 * logdet
            - 0.5 * rss
        )
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() - 0.5 * rss
