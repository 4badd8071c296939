"""Q-profile confidence interval for tau^2 (and tau, I^2, H^2): ``confint.rma.uni``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..io import _json_clean  # NaN -> null, the one copy
from . import dist
from .rma import MetaResult, fit
from .shared_docs import shared
from .tau2 import _bracket_root
from .wls import _Qgen

__all__ = ["Tau2CI", "tau2_ci"]


@dataclass(frozen=True)
class Tau2CI:
    """Q-profile confidence interval for tau^2 (and tau, I^2, H^2) as ``confint.rma.uni``."""

    tau2: float
    tau2_low: float
    tau2_high: float
    tau_low: float
    tau_high: float
    i2_low: float
    i2_high: float
    h2_low: float
    h2_high: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        return _json_clean(asdict(self))


@shared
def tau2_ci(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    level: float = 0.95,
) -> Tau2CI:
    """Q-profile confidence interval for tau^2, tau, I^2 and H^2 (metafor ``confint.rma.uni``).

    Parameters
    ----------
    {data}
    method : str, default "REML"
        Only sets the point estimate reported beside the interval.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    Tau2CI
        ``tau2`` and the bounds ``tau2_low``/``tau2_high``, ``tau_*``,
        ``i2_*``, ``h2_*``.

    Raises
    ------
    ValueError
        For k < 2 or ``method="FE"`` (no tau^2).

    Notes
    -----
    The bounds solve Q(tau^2) = chi^2_{k-1, 1-a/2} (lower) and
    Q(tau^2) = chi^2_{k-1, a/2} (upper), with Q(tau^2) = sum w_i (y_i - mu_w)^2,
    w_i = 1/(v_i + tau^2), the generalised Q statistic, which decreases in
    tau^2; a bound is 0 when Q(0) is already below its target. I^2 and H^2
    bounds use the fitted model's typical within-study variance. Unlike
    metafor (search limited to [0, max(100, 10 tau^2)]) the upper bound is
    always searched to convergence. Viechtbauer W (2007). Confidence intervals
    for the amount of heterogeneity in meta-analysis. Stat Med 26:37-52.
    Same as ``fit(yi, vi, method, level=level).tau2_ci()``.

    Examples
    --------
    BCG vaccine trials (metafor: 0.1197 to 1.1115; I^2 81.92 to 97.68):

    {bcg}
    >>> ci = stats.tau2_ci(yi, vi)
    >>> round(ci.tau2_low, 4), round(ci.tau2_high, 4), round(ci.i2_low, 2), round(ci.i2_high, 2)
    (0.1197, 1.1115, 81.92, 97.68)
    """
    return fit(yi, vi, method=method, level=level).tau2_ci()


def _tau2_ci(res: MetaResult) -> Tau2CI:
    y, v, level = res.yi, res.vi, res.level
    if y.size < 2:
        raise ValueError("tau2_ci needs k >= 2 studies (metafor: 'Stopped because k = 1.')")
    if res.method == "FE":
        raise ValueError("tau2_ci: a fixed-effect model (method='FE') has no tau^2")
    X = np.ones((y.size, 1))
    df = y.size - 1
    crit_u = dist.chi2_isf((1 - level) / 2, df)
    crit_l = dist.chi2_ppf((1 - level) / 2, df)
    q0 = _Qgen(X, y, v, 0.0)

    def bound(target: float) -> float:
        if q0 < target:
            return 0.0
        return _bracket_root(
            lambda t: _Qgen(X, y, v, t) - target, 0.0, max(res.tau2, float(np.mean(v)))
        )

    lo, hi = bound(crit_u), bound(crit_l)
    vt = res.vt
    return Tau2CI(
        tau2=res.tau2, tau2_low=lo, tau2_high=hi, tau_low=math.sqrt(lo), tau_high=math.sqrt(hi),
        i2_low=100 * lo / (vt + lo), i2_high=100 * hi / (vt + hi),
        h2_low=lo / vt + 1, h2_high=hi / vt + 1, level=level,
    )  # fmt: skip
