"""Per-stratum analyses and study-level models, as the protocol prescribes.

The statistics themselves live in :mod:`livingreview.meta` (checked against
R's metafor); this module decides *what* is reported for a stratum and in
which form, so that the files of ``docs/contracts.md`` come out the same for
every stratum:

- ``pooled.json``: random-effects estimate (``meta.fit``) when k >= ``min_k``,
  otherwise ``reported: false`` with every number null (the review's "NE");
  plus ``influence_refit``: the model refitted without the ``influence_exclude``
  studies with the largest Cook's distance (metafor ``influence.rma.uni``).
- ``loo.csv``: leave-one-out fits (metafor ``leave1out``) with flags for the
  protocol's definition of an influential study (direction or significance
  changes when it is omitted).
- ``influence.csv``: the influence diagnostics of every study.
- ``egger.json``: Egger's regression test (metafor ``regtest``), k >= ``min_k_funnel``.
- meta-regression on study-level moderators (metafor ``rma(yi, vi, mods=)``).
- design check: OLS of ln(n) on follow-up weeks with HC3 standard errors
  (MacKinnon & White 1985), t tests on n - 2 df as R's
  ``lmtest::coeftest(fit, vcov = sandwich::vcovHC(fit, type = "HC3"))``.

Floats are rounded to 12 significant digits so that files are byte-identical
for identical inputs whatever the BLAS summation order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import meta
from .strata import parse_stratum

DIGITS = 12
CSV_FLOAT = "%.12g"
POOLED_NUMBERS = (
    "estimate",
    "se",
    "zval",
    "pval",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_pval",
)
LOO_COLUMNS = ["omitted", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q"]
BINARY_YESNO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


def round_sig(value: Any, digits: int = DIGITS) -> Any:
    """Round floats (also inside dicts/lists) to ``digits`` significant digits."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): round_sig(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_sig(v, digits) for v in value]
    return value


def to_plain(obj: Any) -> Any:
    """A result object (dataclass, DataFrame, numpy) as plain JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if callable(getattr(obj, "to_dict", None)):
            return to_plain(obj.to_dict())
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        frame = (
            obj.reset_index()
            if obj.index.name or not obj.index.equals(pd.RangeIndex(len(obj)))
            else obj
        )
        return [to_plain(r) for r in frame.to_dict("records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_plain(v) for v in obj.tolist()]
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def study_labels(data: pd.DataFrame) -> list[str]:
    """Study ids; ``id (domain)`` where a study appears more than once (platform strata)."""
    ids = data["study_id"].astype(str)
    dup = ids.duplicated(keep=False)
    return [f"{i} ({d})" if x else i for i, d, x in zip(ids, data["domain"], dup, strict=True)]


def _fit_fields(result: Any) -> dict[str, Any]:
    plain = to_plain(result)
    return {name: plain.get(name) for name in POOLED_NUMBERS}


def _exp_fields(pooled: dict[str, Any]) -> None:
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        value = pooled.get(name)
        pooled[f"exp_{name}"] = math.exp(value) if value is not None else None


def _cook_column(frame: pd.DataFrame) -> str:
    for col in frame.columns:
        if "cook" in str(col).lower():
            return col
    raise KeyError(f"no Cook's distance column in meta.influence() output: {list(frame.columns)}")


def _label_column(frame: pd.DataFrame, labels: Sequence[str]) -> pd.Series:
    for col in ("study", "label", "omitted", "slab"):
        if col in frame.columns:
            return frame[col].astype(str)
    return pd.Series(list(labels), index=frame.index)


def influence_table(data: pd.DataFrame, method: str, test: str, level: float) -> pd.DataFrame:
    """metafor-style influence diagnostics, one row per study, in data order."""
    labels = study_labels(data)
    frame = meta.influence(
        data["yi"].to_numpy(float),
        data["vi"].to_numpy(float),
        labels,
        method=method,
        test=test,
        level=level,
    )
    frame = frame.reset_index(drop=frame.index.name is None)
    if not any(c in frame.columns for c in ("study", "label", "omitted", "slab")):
        frame.insert(0, "study", labels)
    return frame


def influence_refit(
    data: pd.DataFrame,
    influence: pd.DataFrame | None,
    *,
    n_exclude: int,
    method: str,
    test: str,
    level: float,
    min_k: int,
) -> dict[str, Any]:
    """Refit without the ``n_exclude`` studies with the largest Cook's distance.

    Ties are broken by label so the choice is reproducible. When fewer than
    ``min_k`` studies remain, the refit is not reported (numbers null).
    """
    k = len(data)
    out: dict[str, Any] = {"n_exclude": n_exclude, "excluded": [], "k": max(k - n_exclude, 0)}
    if influence is None or n_exclude <= 0 or k - n_exclude < min_k:
        out.update(reported=False, **dict.fromkeys(POOLED_NUMBERS))
        out["excluded"] = [] if influence is None else _most_influential(influence, n_exclude)
        return out
    excluded = _most_influential(influence, n_exclude)
    keep = [lab not in set(excluded) for lab in study_labels(data)]
    sub = data[keep]
    result = meta.fit(
        sub["yi"].to_numpy(float),
        sub["vi"].to_numpy(float),
        method=method,
        test=test,
        level=level,
    )
    out.update(reported=True, excluded=excluded, k=int(len(sub)), **_fit_fields(result))
    return out


def _most_influential(influence: pd.DataFrame, n: int) -> list[str]:
    cook = pd.to_numeric(influence[_cook_column(influence)], errors="coerce").fillna(-np.inf)
    labels = _label_column(influence, [])
    order = pd.DataFrame({"label": labels.to_numpy(), "cook": cook.to_numpy()})
    order = order.sort_values(["cook", "label"], ascending=[False, True], kind="mergesort")
    return order["label"].head(max(n, 0)).tolist()


def loo_table(
    data: pd.DataFrame, pooled: Mapping[str, Any], *, method: str, test: str, level: float
) -> pd.DataFrame:
    """Leave-one-out fits with the protocol's influence flags.

    ``changes_direction``: the estimate without the study has the other sign;
    ``changes_significance``: p crosses ``1 - level`` (0.05 by default).
    """
    frame = meta.leave_one_out(
        data["yi"].to_numpy(float),
        data["vi"].to_numpy(float),
        study_labels(data),
        method=method,
        test=test,
        level=level,
    )
    frame = frame.reset_index(drop=frame.index.name is None)
    cols = [c for c in LOO_COLUMNS if c in frame.columns]
    frame = frame[cols + [c for c in frame.columns if c not in cols]].copy()
    alpha = 1 - level
    frame["delta_estimate"] = frame["estimate"] - pooled["estimate"]
    frame["delta_tau2"] = frame["tau2"] - pooled["tau2"]
    frame["delta_i2"] = frame["i2"] - pooled["i2"]
    frame["changes_direction"] = np.sign(frame["estimate"]) != np.sign(pooled["estimate"])
    frame["changes_significance"] = (frame["pval"] < alpha) != (pooled["pval"] < alpha)
    return frame


def analyse_stratum(
    data: pd.DataFrame,
    *,
    stratum: str,
    measure: str,
    label: str,
    favourable_sign: str,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    min_k: int = 3,
    influence_exclude: int = 10,
    leave_one_out: bool = True,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """``pooled.json`` content, ``loo.csv`` and ``influence.csv`` of one stratum.

    Below ``min_k`` nothing is estimated: ``reported`` is false, the numbers
    are null and the two tables have their header only.
    """
    k = int(len(data))
    pooled: dict[str, Any] = {
        "stratum": stratum,
        **parse_stratum(stratum),
        "label": label,
        "measure": measure,
        "favourable_sign": favourable_sign,
        "k": k,
        "n_studies": int(data["study_id"].nunique()),
        "n_participants": float(data["n"].sum()) if k else 0.0,
        "method": method,
        "test": test,
        "level": level,
        "min_k": min_k,
        "reported": k >= min_k,
        "converged": None,
    }
    loo = pd.DataFrame(columns=LOO_COLUMNS)
    infl = pd.DataFrame(columns=["study"])
    if k < min_k:
        pooled.update(dict.fromkeys(POOLED_NUMBERS))
        pooled["influence_refit"] = influence_refit(
            data,
            None,
            n_exclude=influence_exclude,
            method=method,
            test=test,
            level=level,
            min_k=min_k,
        )
    else:
        yi, vi = data["yi"].to_numpy(float), data["vi"].to_numpy(float)
        result = meta.fit(yi, vi, method=method, test=test, level=level)
        pooled.update(_fit_fields(result))
        pooled["method"] = getattr(result, "method", method)
        pooled["converged"] = bool(getattr(result, "converged", True))
        infl = influence_table(data, method, test, level)
        pooled["influence_refit"] = influence_refit(
            data,
            infl,
            n_exclude=influence_exclude,
            method=method,
            test=test,
            level=level,
            min_k=min_k,
        )
        if leave_one_out:
            loo = loo_table(data, pooled, method=method, test=test, level=level)
    if measure == "logRR":
        _exp_fields(pooled)
        _exp_fields(pooled["influence_refit"])
    return round_sig(pooled), loo, infl


def egger(
    data: pd.DataFrame,
    *,
    stratum: str,
    min_k_funnel: int = 10,
    model: str = "rma",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> dict[str, Any]:
    """Egger's regression test for funnel asymmetry (SE as predictor, metafor ``regtest``)."""
    k = int(len(data))
    out: dict[str, Any] = {"stratum": stratum, "k": k, "model": model, "predictor": "sei"}
    if k < min_k_funnel:
        return {**out, "reported": False}
    result = meta.egger_test(
        data["yi"].to_numpy(float),
        data["vi"].to_numpy(float),
        model=model,
        method=method,
        test=test,
        level=level,
    )
    plain = to_plain(result)
    return round_sig({**plain, **out, "reported": True})


def moderator_matrix(data: pd.DataFrame, moderators: Sequence[str]) -> pd.DataFrame:
    """Numeric moderator columns; yes/no design features as 1/0."""
    mods = {}
    for name in moderators:
        col = data[name]
        if col.dtype == object:
            col = col.astype(str).str.strip().str.lower().map(BINARY_YESNO)
        mods[name] = pd.to_numeric(col, errors="coerce")
    return pd.DataFrame(mods, index=data.index)


def meta_regression(
    data: pd.DataFrame,
    *,
    name: str,
    moderators: Sequence[str],
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    min_k: int = 3,
) -> dict[str, Any]:
    """Mixed-effects meta-regression of yi on the moderators (metafor ``rma(mods=)``).

    Rows missing a moderator are dropped (counted in ``k_dropped``). It is
    reported when at least ``max(min_k, p + 2)`` effects remain, p = number of
    moderators, so that tau^2 and every coefficient are estimable.
    """
    mods = moderator_matrix(data, moderators)
    complete = mods.notna().all(axis=1)
    used = data[complete]
    k = int(len(used))
    out: dict[str, Any] = {
        "name": name,
        "moderators": list(moderators),
        "k": k,
        "k_dropped": int((~complete).sum()),
        "method": method,
        "test": test,
        "level": level,
    }
    if k < max(min_k, len(moderators) + 2) or any(
        mods[complete][m].nunique() < 2 for m in moderators
    ):
        return round_sig({**out, "reported": False})
    result = meta.meta_regression(
        used["yi"].to_numpy(float),
        used["vi"].to_numpy(float),
        mods[complete].reset_index(drop=True),
        method=method,
        test=test,
        level=level,
    )
    plain = to_plain(result)
    return round_sig({**plain, **out, "reported": True})


def design_check(studies: pd.DataFrame, *, level: float = 0.95) -> dict[str, Any]:
    """OLS of ln(n) on follow-up weeks across studies, HC3 robust standard errors."""
    import statsmodels.api as sm

    used = studies.dropna(subset=["ln_n", "followup_weeks"])
    out: dict[str, Any] = {
        "model": "ln_n ~ followup_weeks",
        "estimator": "OLS",
        "cov_type": "HC3",
        "test": "t",
        "n": int(len(used)),
        "level": level,
    }
    if len(used) < 3 or used["followup_weeks"].nunique() < 2:
        return {**out, "reported": False}
    x = sm.add_constant(used["followup_weeks"].to_numpy(float))
    fit = sm.OLS(used["ln_n"].to_numpy(float), x).fit(cov_type="HC3", use_t=True)
    ci = fit.conf_int(alpha=1 - level)
    coefs = [
        {
            "term": term,
            "estimate": fit.params[i],
            "se": fit.bse[i],
            "tval": fit.tvalues[i],
            "pval": fit.pvalues[i],
            "ci_low": ci[i][0],
            "ci_high": ci[i][1],
        }
        for i, term in enumerate(("intercept", "followup_weeks"))
    ]
    return round_sig(
        {
            **out,
            "reported": True,
            "coefficients": coefs,
            "r2": fit.rsquared,
            "df_resid": fit.df_resid,
        }
    )
