"""Pooling a stratum with several effects per trial (multilevel model + robust inference).

A stratum's ``data.csv`` (docs/contracts.md) has one row per effect; in a
``platform-*`` stratum a trial contributes one row per domain. Pooling those
rows as independent counts the trial's participants several times and
understates the uncertainty. This module gives such a stratum the model its
data need:

* the three-level model of :func:`livingreview.multilevel.fit` (effects
  nested in trials; sampling errors of two effects of one trial correlated
  ``rho``, 0 by default), with
* CR2 cluster-robust inference by trial (:func:`livingreview.robust.cr2`) for
  the headline p-value and confidence interval (``inference="CR2"``; the
  model-based z test with ``inference="model"``), both recorded;
* leave-one-out that leaves out a trial, not an effect, and influence
  diagnostics per trial (Cook's distance of the trial, as metafor's
  ``cooks.distance(res, cluster = trial)``), which also choose the trials
  the influence refit leaves out;
* Egger's regression test with one point per effect, the slope on the
  standard error tested with CR2 (the multilevel/RVE variant of Rodgers &
  Pustejovsky 2021, Psychol Methods 26:141-160);
* participants counted once per trial (the largest ``n`` among its rows).

It returns the fields of ``pooled.json`` (names as
:data:`livingreview.analysis.stratum.POOLED_NUMBERS`) plus ``model``, ``n_trials``,
``n_effects``, ``rho``, ``inference``, ``sigma2_trial``, ``sigma2_effect``,
the model-based numbers (``model_*``) and the robust ones (``robust_*``).
:func:`livingreview.analysis.stratum.analyse_stratum` calls it for every stratum in
which a trial has several effects (``analysis.dependence.model: auto``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..measures import is_ratio
from ..stats import dist, multilevel, robust
from .strata import parse_stratum
from .stratum import (
    DEPENDENCE_INFERENCE,
    LOO_COLUMNS,
    POOLED_NUMBERS,
    StratumAnalysis,
    round_sig,
    several_effects_per_trial,
)

__all__ = [
    "INFERENCE",
    "INFLUENCE_COLUMNS",
    "analyse_multilevel",
    "egger_multilevel",
    "needs_multilevel",
]

INFERENCE = DEPENDENCE_INFERENCE
# influence.csv of a multilevel stratum: one row per trial (all its effects left out).
INFLUENCE_COLUMNS = [
    "study",
    "n_effects",
    "estimate_del",
    "se_del",
    "tau2_del",
    "sigma2_trial_del",
    "sigma2_effect_del",
    "qe_del",
    "dfbeta",
    "cook_d",
]


def needs_multilevel(data: pd.DataFrame) -> bool:
    """True when some trial (``study_id``) has more than one row in the stratum."""
    return several_effects_per_trial(data)


def _numbers(
    res: multilevel.MultilevelResult, rb: robust.RobustResult | None, inference: str
) -> dict[str, Any]:
    """Pooled-number fields of one fit (robust or model-based headline inference)."""
    tau2 = res.sigma2["trial"] + res.sigma2["effect"]
    zcrit = float(dist.norm_isf((1 - res.level) / 2))
    half = zcrit * math.sqrt(res.se**2 + tau2)  # predict.rma.mv: new effect in a new trial
    out = {
        "estimate": res.estimate,
        "pi_low": res.estimate - half,
        "pi_high": res.estimate + half,
        "tau2": tau2,
        "sigma2_trial": res.sigma2["trial"],
        "sigma2_effect": res.sigma2["effect"],
        "i2": res.i2,
        "h2": 100 / (100 - res.i2) if res.i2 < 100 else None,
        "q": res.qe,
        "q_pval": res.qe_pval,
        "model_se": res.se,
        "model_zval": res.zval,
        "model_pval": res.pval,
        "model_ci_low": res.ci_low,
        "model_ci_high": res.ci_high,
    }
    if rb is not None:
        out.update(
            robust_type=rb.type, robust_se=rb.se, robust_df=rb.df, robust_tval=rb.statistic,
            robust_pval=rb.pval, robust_ci_low=rb.ci_low, robust_ci_high=rb.ci_high,
        )  # fmt: skip
    use_robust = inference == "CR2" and rb is not None
    src = "robust" if use_robust else "model"
    out.update(
        se=out[f"{src}_se"],
        zval=out["robust_tval"] if use_robust else res.zval,
        pval=out[f"{src}_pval"],
        ci_low=out[f"{src}_ci_low"],
        ci_high=out[f"{src}_ci_high"],
    )
    return out


def _fit(data: pd.DataFrame, rho: float, method: str, level: float) -> multilevel.MultilevelResult:
    return multilevel.fit(
        data["yi"].to_numpy(float), data["vi"].to_numpy(float),
        data["study_id"].astype(str).to_numpy(), rho=rho, method=method, level=level,
    )  # fmt: skip


def _robust_or_none(res: multilevel.MultilevelResult) -> robust.RobustResult | None:
    return robust.cr2(res) if res.n_trials >= 2 else None


def analyse_multilevel(
    data: pd.DataFrame,
    *,
    stratum: str,
    measure: str,
    label: str,
    favourable_sign: str,
    method: str = "REML",
    level: float = 0.95,
    min_k: int = 3,
    rho: float = 0.0,
    inference: str = "CR2",
    leave_one_out: bool = True,
    influence_exclude: int = 0,
) -> StratumAnalysis:
    """``pooled.json``, ``loo.csv`` and ``influence.csv`` of a stratum with several effects per trial.

    Parameters
    ----------
    data
        The stratum's rows (``read_stratum`` of ``data.csv``): ``study_id``
        (the trial), ``yi``, ``vi``, ``n``.
    stratum, measure, label, favourable_sign
        As :func:`livingreview.analysis.stratum.analyse_stratum`.
    method
        ``"REML"`` or ``"ML"`` for the variance components.
    level
        Confidence level.
    min_k
        Minimum number of trials (not effects) for a pooled estimate.
    rho
        Working correlation of the sampling errors of two effects of one trial.
    inference
        ``"CR2"`` (default): ``se``/``zval``/``pval``/``ci_*`` are the CR2
        cluster-robust t test with Satterthwaite df (``zval`` holds t);
        ``"model"``: the model-based z test.
    leave_one_out
        Whether to compute the leave-one-trial-out table.
    influence_exclude
        ``influence_refit`` leaves out this many trials, those with the
        largest Cook's distance (ties broken by label); not reported when
        fewer than ``min_k`` trials would remain.

    Returns
    -------
    StratumAnalysis
        ``pooled`` (dict, rounded like ``analyse_stratum``'s), ``loo`` (one
        row per left-out trial, the columns of ``loo.csv`` and
        ``n_effects``), ``influence`` (one row per trial,
        :data:`INFLUENCE_COLUMNS`) and ``fit`` (the
        :class:`~livingreview.multilevel.MultilevelResult`; None below
        ``min_k`` trials).

    Notes
    -----
    ``tau2`` is the total heterogeneity sigma2_trial + sigma2_effect;
    ``i2`` the total I^2 of :class:`~livingreview.multilevel.MultilevelResult`
    and ``h2`` = 1/(1 - I^2); ``q`` the QE test; ``pi_*`` the prediction
    interval of an effect in a new trial, estimate +- z sqrt(se^2 + tau2)
    (model-based se), as metafor's ``predict.rma.mv``. The influence of
    trial j: the model refitted without it (variance components
    re-estimated), ``dfbeta`` = b - b_(-j) and ``cook_d`` = (b - b_(-j))^2 /
    Var(b), Var(b) the model-based variance of the full fit (the definition
    of metafor's ``cooks.distance.rma.mv`` with ``cluster``). Studentized
    residuals and covariance ratios of single effects are not given: with
    correlated effects they describe effects, and the unit left out here is
    the trial.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"study_id": list("aabbccdd"), "n": [40] * 8,
    ...                   "yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.0, 0.3, 0.2], "vi": [0.02] * 8})
    >>> res = analyse_multilevel(d, stratum="platform-wechat", measure="SMD",
    ...     label="WeChat", favourable_sign="positive")
    >>> p = res.pooled
    >>> p["model"], p["n_trials"], p["n_effects"], p["n_participants"]
    ('multilevel', 4, 8, 160.0)
    >>> len(res.loo), list(res.influence["study"])
    (4, ['a', 'b', 'c', 'd'])
    """
    if inference not in INFERENCE:
        raise ValueError(f"inference must be one of {', '.join(INFERENCE)}; got {inference!r}")
    trials = data["study_id"].astype(str)
    n_trials = int(trials.nunique())
    k = int(len(data))
    n_part = float(data.groupby(trials)["n"].max().sum()) if k else 0.0
    pooled: dict[str, Any] = {
        "stratum": stratum,
        **parse_stratum(stratum),
        "label": label,
        "measure": measure,
        "favourable_sign": favourable_sign,
        "model": "multilevel" if needs_multilevel(data) else "univariate",
        "k": k,
        "n_effects": k,
        "n_trials": n_trials,
        "n_studies": n_trials,
        "n_participants": n_part,
        "method": method,
        "test": "t" if inference == "CR2" else "z",
        "inference": inference,
        "rho": rho,
        "level": level,
        "min_k": min_k,
        "reported": n_trials >= min_k,
        "converged": None,
        "warnings": [],
    }
    loo = pd.DataFrame(columns=[*LOO_COLUMNS, "n_effects"])
    infl = pd.DataFrame(columns=INFLUENCE_COLUMNS)
    res = None
    if n_trials < min_k:
        pooled.update(dict.fromkeys(POOLED_NUMBERS))
        pooled["influence_refit"] = _refit_not_reported(influence_exclude, [], n_trials)
    else:
        res = _fit(data, rho, method, level)
        pooled.update(_numbers(res, _robust_or_none(res), inference))
        deleted = _trial_deletions(data, rho=rho, method=method, level=level)
        infl = _trial_influence(res, deleted)
        if leave_one_out:
            loo = _leave_one_trial_out(deleted, pooled, level=level, inference=inference)
        pooled["influence_refit"] = _influence_refit(
            data, infl, n_exclude=influence_exclude, min_k=min_k, rho=rho, method=method,
            level=level, inference=inference,
        )  # fmt: skip
        unconverged = [t for t, _, r in deleted if r is not None and not r.converged]
        pooled["converged"] = bool(res.converged) and not unconverged
        if not res.converged:
            pooled["warnings"].append("the multilevel REML/ML fit did not converge")
        if unconverged:
            pooled["warnings"].append(
                "the fit without trial(s) " + ", ".join(unconverged) + " did not converge"
            )
    if is_ratio(measure):
        for target in (pooled, pooled["influence_refit"]):
            for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
                value = target.get(name)
                target[f"exp_{name}"] = math.exp(value) if value is not None else None
    return StratumAnalysis(round_sig(pooled), loo, infl, res)


Deletion = tuple[str, int, multilevel.MultilevelResult | None]


def _trial_deletions(
    data: pd.DataFrame, *, rho: float, method: str, level: float
) -> list[Deletion]:
    """The model refitted without each trial in turn (all its effects): (trial, k left, fit).

    The fit is None when a single effect would remain (nothing to estimate
    beside the mean; possible with ``min_k`` 2): its numbers are then empty.
    """
    trials = data["study_id"].astype(str)
    if trials.nunique() < 2:
        return []
    out: list[Deletion] = []
    for t in pd.unique(trials):
        sub = data[trials != t]
        res = _fit(sub, rho, method, level) if len(sub) >= 2 else None
        out.append((str(t), int(len(sub)), res))
    return out


def _trial_influence(res: multilevel.MultilevelResult, deleted: list[Deletion]) -> pd.DataFrame:
    """influence.csv of a multilevel stratum: one row per trial (see analyse_multilevel)."""
    rows: list[dict[str, Any]] = []
    for t, k_left, r in deleted:
        if r is None:
            rows.append({"study": t, "n_effects": res.k - k_left})
            continue
        dfbeta = res.estimate - r.estimate
        rows.append(
            {
                "study": t,
                "n_effects": res.k - k_left,
                "estimate_del": r.estimate,
                "se_del": r.se,
                "tau2_del": r.sigma2["trial"] + r.sigma2["effect"],
                "sigma2_trial_del": r.sigma2["trial"],
                "sigma2_effect_del": r.sigma2["effect"],
                "qe_del": r.qe,
                "dfbeta": dfbeta,
                "cook_d": dfbeta**2 / res.se**2,
            }
        )
    return pd.DataFrame(rows, columns=INFLUENCE_COLUMNS)


def _refit_not_reported(n_exclude: int, excluded: list[str], n_trials: int) -> dict[str, Any]:
    return {
        "n_exclude": n_exclude,
        "excluded": excluded,
        "k": None,
        "n_trials": max(n_trials - n_exclude, 0),
        "reported": False,
        **dict.fromkeys(POOLED_NUMBERS),
    }


def _influence_refit(
    data: pd.DataFrame,
    influence: pd.DataFrame,
    *,
    n_exclude: int,
    min_k: int,
    rho: float,
    method: str,
    level: float,
    inference: str,
) -> dict[str, Any]:
    """The model without the ``n_exclude`` trials with the largest Cook's distance."""
    n_trials = int(data["study_id"].astype(str).nunique())
    order = influence.assign(cook=influence["cook_d"].fillna(-np.inf)).sort_values(
        ["cook", "study"], ascending=[False, True], kind="mergesort"
    )
    excluded = order["study"].head(max(n_exclude, 0)).tolist()
    sub = data[~data["study_id"].astype(str).isin(excluded)]
    if n_exclude <= 0 or n_trials - n_exclude < min_k or len(sub) < 2:
        return _refit_not_reported(n_exclude, excluded, n_trials)
    res = _fit(sub, rho, method, level)
    num = _numbers(res, _robust_or_none(res), inference)
    return {
        "n_exclude": n_exclude,
        "excluded": excluded,
        "k": int(len(sub)),
        "n_trials": res.n_trials,
        "reported": True,
        **{name: num.get(name) for name in POOLED_NUMBERS},
    }


def _leave_one_trial_out(
    deleted: list[Deletion], pooled: dict[str, Any], *, level: float, inference: str
) -> pd.DataFrame:
    """loo.csv of a multilevel stratum: the fits without each trial, with loo.csv's flags."""
    rows = []
    for t, k_left, res in deleted:
        if res is None:
            rows.append({"omitted": t, "n_effects": k_left})
            continue
        num = _numbers(res, _robust_or_none(res), inference)
        rows.append({"omitted": t, **{c: num.get(c) for c in LOO_COLUMNS[1:]}, "n_effects": k_left})
    frame = pd.DataFrame(rows, columns=[*LOO_COLUMNS, "n_effects"])
    alpha = 1 - level
    frame["delta_estimate"] = frame["estimate"] - pooled["estimate"]
    frame["delta_tau2"] = frame["tau2"] - pooled["tau2"]
    frame["delta_i2"] = frame["i2"] - pooled["i2"]
    fitted = frame["estimate"].notna()  # not when a single effect remained
    frame["changes_direction"] = fitted & (
        np.sign(frame["estimate"]) != np.sign(pooled["estimate"])
    )
    frame["changes_significance"] = fitted & ((frame["pval"] < alpha) != (pooled["pval"] < alpha))
    return frame


def egger_multilevel(
    data: pd.DataFrame,
    *,
    stratum: str,
    min_k_funnel: int = 10,
    rho: float = 0.0,
    method: str = "REML",
    level: float = 0.95,
) -> dict[str, Any]:
    """Egger's test for a stratum with several effects per trial: CR2 test of the SE slope.

    The multilevel model with the standard error sqrt(vi) as moderator, one
    point per effect; the slope is tested with CR2 and Satterthwaite df
    (Rodgers MA, Pustejovsky JE 2021, Evaluating meta-analytic methods to
    detect selective reporting in the presence of dependent effect sizes,
    Psychol Methods 26:141-160). ``limit_estimate`` is the intercept (the
    effect as the SE goes to 0). Needs ``min_k_funnel`` effects and at least
    3 trials.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"study_id": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "n": 50,
    ...     "yi": [.1, .3, .2, .5, .4, 0., .3, .2, .6, .7],
    ...     "vi": [.01, .02, .03, .04, .05, .01, .02, .03, .04, .05]})
    >>> out = egger_multilevel(d, stratum="platform-wechat")
    >>> out["predictor"], out["reported"], out["n_trials"]
    ('sei', True, 5)
    """
    k = int(len(data))
    trials = data["study_id"].astype(str)
    n_trials = int(trials.nunique())
    out: dict[str, Any] = {
        "stratum": stratum, "k": k, "n_trials": n_trials, "model": "multilevel",
        "predictor": "sei", "test": "CR2 t (Satterthwaite df)",
    }  # fmt: skip
    if k < min_k_funnel or n_trials < 3:
        return {**out, "reported": False}
    sei = np.sqrt(data["vi"].to_numpy(float))
    res = multilevel.fit(
        data["yi"].to_numpy(float), data["vi"].to_numpy(float), trials.to_numpy(),
        mods=sei[:, None], names=["sei"], rho=rho, method=method, level=level,
    )  # fmt: skip
    rb = robust.cr2(res).coefficients.set_index("term")
    return round_sig(
        {
            **out,
            "reported": True,
            "statistic": float(rb.loc["sei", "statistic"]),
            "df": float(rb.loc["sei", "df"]),
            "pval": float(rb.loc["sei", "pval"]),
            "slope": float(rb.loc["sei", "estimate"]),
            "limit_estimate": float(rb.loc["intrcpt", "estimate"]),
            "limit_ci_low": float(rb.loc["intrcpt", "ci_low"]),
            "limit_ci_high": float(rb.loc["intrcpt", "ci_high"]),
        }
    )
