"""Cumulative meta-analysis: the pooled result as studies accrue (metafor's ``cumul``).

A living review's readers ask when the evidence became convincing. The model
is refitted on the first 1, 2, ..., k studies in a given order (publication
year in the report), with the fit's method, test and level, as
``metafor::cumul.rma.uni`` does; ties keep the data order (R's ``order`` is
stable). A step of one study follows metafor's k = 1 rules (tau^2 = 0, z test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .rma import MetaResult, fit

if TYPE_CHECKING:
    from pathlib import Path

    from ..analysis.stratum import AnalysisSettings

__all__ = ["CUMUL_COLUMNS", "by_year", "cumulative", "cumulative_review"]

CUMUL_COLUMNS = ["added", "order", "k", "estimate", "se", "zval", "pval", "ci_low", "ci_high",
                 "q", "q_pval", "tau2", "i2", "h2"]  # fmt: skip


def cumulative(res: MetaResult, order: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
    """Refit ``res``'s model on the first 1..k studies sorted by ``order``.

    Parameters
    ----------
    res : MetaResult
        The fit of all k studies (:func:`livingreview.stats.fit`); its method,
        test and level are used for every step.
    order : sequence, optional
        One sort key per study (e.g. publication year); stable, so ties keep
        the data order. Default: the data order.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``added`` (the label of the study added), ``order``
        (its key), ``k``, then as ``cumul``: ``estimate, se, zval, pval,
        ci_low, ci_high, q, q_pval, tau2, i2, h2`` (``zval`` is a t statistic
        under knha with k - 1 df).

    Notes
    -----
    Lau J, Antman EM, Jimenez-Silva J, et al. Cumulative meta-analysis of
    therapeutic trials for myocardial infarction. N Engl J Med 1992;327:248-254.

    Examples
    --------
    >>> from livingreview import stats
    >>> res = stats.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
    >>> cu = cumulative(res, order=[2001, 1999, 2003, 2001])
    >>> cu["added"].tolist(), cu["estimate"].round(4).tolist()
    (['b', 'a', 'd', 'c'], [0.3, 0.18, 0.2917, 0.305])
    """
    k = res.k
    keys = np.arange(k) if order is None else np.asarray(order)
    if keys.shape != (k,):
        raise ValueError(f"cumulative(): order needs one key per study ({k}); got {keys.shape}")
    idx = np.argsort(keys, kind="stable")
    labels = list(res.labels) if res.labels else list(range(1, k + 1))
    rows = []
    for j in range(1, k + 1):
        sel = idx[:j]
        r = fit(res.yi[sel], res.vi[sel], res.method, res.test, res.level)
        rows.append(
            {
                "added": labels[idx[j - 1]],
                "order": keys[idx[j - 1]].item(),
                "k": j,
                "estimate": r.estimate,
                "se": r.se,
                "zval": r.zval,
                "pval": r.pval,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "q": r.q,
                "q_pval": r.q_pval,
                "tau2": r.tau2,
                "i2": r.i2,
                "h2": r.h2,
            }  # fmt: skip
        )
    return pd.DataFrame(rows, columns=CUMUL_COLUMNS)


def by_year(
    data: pd.DataFrame, years: dict[str, int | None], settings: AnalysisSettings
) -> pd.DataFrame:
    """One stratum's cumulative meta-analysis by publication year (unknown years last).

    Parameters
    ----------
    data : pandas.DataFrame
        The stratum's ``data.csv`` rows: ``study_id``, ``citation``, ``yi``, ``vi``.
    years : dict
        study_id -> publication year of its record (None when unknown).
    settings : AnalysisSettings
        ``method``, ``test`` and ``level`` of the analysis.

    Returns
    -------
    pandas.DataFrame
        :func:`cumulative`'s columns, with ``year`` for ``order``; studies
        are labelled by citation (their id when it is empty).

    Notes
    -----
    Oldest first, ties in data order, years unknown last (as ``inf``). Lau J,
    Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of
    therapeutic trials for myocardial infarction. N Engl J Med 327:248-254.

    Examples
    --------
    >>> import pandas as pd
    >>> from livingreview.analysis.stratum import AnalysisSettings
    >>> data = pd.DataFrame({"study_id": ["s1", "s2", "s3"], "citation": ["A 2001", "", "C 1999"],
    ...                      "yi": [0.1, 0.3, 0.35], "vi": [0.02, 0.03, 0.01]})
    >>> out = by_year(data, {"s1": 2001, "s2": None, "s3": 1999}, AnalysisSettings())
    >>> out["added"].tolist(), out["year"].tolist(), out["estimate"].round(4).tolist()
    (['C 1999', 'A 2001', 's2'], [1999.0, 2001.0, nan], [0.35, 0.245, 0.2675])
    """
    citation = data["citation"].fillna("").astype(str)
    labels = citation.where(citation != "", data["study_id"].astype(str))
    res = fit(data["yi"], data["vi"], settings.method, settings.test, settings.level,
              labels=list(labels))  # fmt: skip
    keys = [years.get(str(s)) for s in data["study_id"]]
    order = np.array([np.inf if y is None else float(y) for y in keys])
    out = cumulative(res, order)
    out["order"] = [None if not np.isfinite(o) else int(o) for o in out["order"]]
    return out.rename(columns={"order": "year"})


def cumulative_review(
    strata_dir: Path, studies_csv: Path, records_csv: Path, settings: AnalysisSettings
) -> pd.DataFrame:
    """Every reported domain stratum, by year; one frame with ``domain`` (rule: analysis.cumulative).

    Parameters
    ----------
    strata_dir : pathlib.Path
        ``results/strata`` (``strata.json`` and one folder per stratum with
        ``pooled.json`` and ``data.csv``).
    studies_csv : pathlib.Path
        ``studies.csv`` (``study_id``, ``record_id``).
    records_csv : pathlib.Path
        The record store (``record_id``, ``year``).
    settings : AnalysisSettings
        ``method``, ``test`` and ``level`` of the analysis.

    Returns
    -------
    pandas.DataFrame
        ``domain``, ``measure`` then :func:`by_year`'s columns, for every
        domain stratum that is reported (``pooled.json`` ``reported``), in
        domain order; empty with those columns when there is none.

    Notes
    -----
    The rule ``cumulative`` (``docs/living-evidence.md``) calls it; the
    statistics are :func:`cumulative`'s (metafor ``cumul.rma.uni``).

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from livingreview.analysis.stratum import AnalysisSettings
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "d").mkdir()
    >>> _ = (root / "strata.json").write_text(json.dumps({"d": {"kind": "domain", "domain": "glycemic"}}))
    >>> _ = (root / "d" / "pooled.json").write_text(json.dumps({"reported": True, "measure": "SMD"}))
    >>> _ = (root / "d" / "data.csv").write_text("study_id,citation,yi,vi\\ns1,A,0.1,0.02\\ns2,B,0.3,0.03\\n")
    >>> _ = (root / "studies.csv").write_text("study_id,record_id\\ns1,r1\\ns2,r2\\n")
    >>> _ = (root / "records.csv").write_text("record_id,year\\nr1,2003\\nr2,2001\\n")
    >>> out = cumulative_review(root, root / "studies.csv", root / "records.csv", AnalysisSettings())
    >>> out[["domain", "measure", "added", "year", "k"]].values.tolist()
    [['glycemic', 'SMD', 'B', 2001, 1], ['glycemic', 'SMD', 'A', 2003, 2]]
    """
    import json

    studies = pd.read_csv(studies_csv, dtype=str, keep_default_na=False)
    records = pd.read_csv(
        records_csv, dtype=str, keep_default_na=False, usecols=["record_id", "year"]
    )
    year_of = {r: int(y) if y.isdigit() else None for r, y in zip(records["record_id"], records["year"], strict=True)}  # fmt: skip
    years = {
        s: year_of.get(r) for s, r in zip(studies["study_id"], studies["record_id"], strict=True)
    }
    index = json.loads((strata_dir / "strata.json").read_text(encoding="utf-8"))
    frames = []
    for name in sorted(n for n, v in index.items() if v["kind"] == "domain"):
        pooled = json.loads((strata_dir / name / "pooled.json").read_text(encoding="utf-8"))
        if not pooled.get("reported"):
            continue
        data = pd.read_csv(strata_dir / name / "data.csv", keep_default_na=False, na_values=[""])
        frame = by_year(data, years, settings)
        frame.insert(0, "domain", index[name]["domain"])
        frame.insert(1, "measure", pooled.get("measure"))
        frames.append(frame)
    columns = ["domain", "measure", *[c if c != "order" else "year" for c in CUMUL_COLUMNS]]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
