"""Profile-likelihood confidence intervals of the variance components of a multilevel fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dist
from .block_likelihood import _optimise

if TYPE_CHECKING:
    from .multilevel import MultilevelResult

__all__ = ["ProfileCI", "profile_ci"]


@dataclass(frozen=True)
class ProfileCI:
    """Profile-likelihood confidence interval of one variance component."""

    component: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float


def _root(f: Any, a: float, b: float, xtol: float) -> float:
    """Root of f in [a, b] (signs differ) by the Illinois variant of regula falsi.

    Written out to spare the ~0.5 s import of ``scipy.optimize`` in every
    per-stratum process.
    """
    fa, fb = f(a), f(b)
    side = 0
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        fc = f(c)
        if fc == 0 or abs(b - a) <= xtol:
            return c
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb /= 2
            side = 1
        if abs(b - a) <= xtol:
            return (a + b) / 2
    return c


def profile_ci(res: MultilevelResult, component: str, level: float | None = None) -> ProfileCI:
    """Profile-likelihood CI of a variance component, as metafor's ``confint.rma.mv``.

    Parameters
    ----------
    res
        A fit of :func:`livingreview.stats.multilevel.fit` (``model = "multilevel"``).
    component
        ``"trial"`` or ``"effect"``.
    level
        Confidence level (default: the fit's).

    Returns
    -------
    ProfileCI
        The bounds: the values s of the component at which the (restricted)
        log-likelihood, maximised over the other component with this one held
        at s, is chi^2_{1, level}/2 below its maximum; a bound is 0 when the
        profile at 0 is still above that level, and ``inf`` when no upper
        bound exists.

    Notes
    -----
    Each profile point is a constrained fit (the same Newton iterations with
    the component held fixed); the bounds are roots found by regula falsi
    (Illinois) to 1e-10 relative. metafor's ``confint`` solves the same equations with
    ``uniroot`` on top of ``nlminb`` fits, whose tolerances limit its bounds
    to about 3 significant digits (and it sometimes gives up on an upper
    bound). Hartung J, Knapp G (2005); Viechtbauer W (2010), J Stat Softw 36(3).

    Examples
    --------
    >>> from livingreview.stats import multilevel, profile_likelihood
    >>> res = multilevel.fit([0.1, 0.5, 0.2, 0.6, 0.9, 1.0, 0.3, 0.2], [0.01] * 8,
    ...                      trial=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> ci = profile_likelihood.profile_ci(res, "trial")
    >>> ci.ci_low < ci.estimate < ci.ci_high
    True
    """
    if res.model != "multilevel":
        raise ValueError("profile_ci is implemented for the multilevel (trial/effect) model")
    names = list(res.sigma2)
    if component not in names:
        raise ValueError(f"component must be one of {names}; got {component!r}")
    level = res.level if level is None else level
    j = names.index(component)
    groups, theta = res._groups, res._theta
    p, k, reml = res.p, res.k, res.method == "REML"
    scale = float(np.mean([np.diagonal(g.V, axis1=1, axis2=2).mean() for g in groups]))
    target = res.loglik - float(dist.chi2_isf(1 - level, 1)) / 2
    fixed = np.zeros(theta.size, bool)
    fixed[j] = True
    single = all(g.rows.shape[1] == 1 for g in groups)
    if single:
        fixed[1] = True

    last = [theta.copy()]  # warm start: the previous profile point's optimum
    nonneg = np.ones(theta.size, bool)

    def prof(s: float) -> float:
        start = last[0].copy()
        start[j] = s
        th, ev, _, _ = _optimise(groups, p, k, reml, start, nonneg, scale, fixed)
        last[0] = th
        return ev.ll - target

    est = float(theta[j])
    lo = 0.0
    if est > 0 and prof(0.0) < 0:
        lo = float(_root(prof, 0.0, est, 1e-10 * est))
    hi_b = max(est, scale) * 2
    for _ in range(60):
        if prof(hi_b) < 0:
            break
        hi_b *= 2
    else:
        return ProfileCI(component, est, lo, float("inf"), level)
    hi = float(_root(prof, est, hi_b, 1e-10 * est))
    return ProfileCI(component, est, lo, hi, level)
