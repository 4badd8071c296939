"""The ``design_check`` rule's entry point: does follow-up length go with trial size?

The model: OLS of ln(n) on follow-up weeks across studies, HC3 robust standard
errors (:func:`design_check`); :func:`run` and :func:`write` give it the shape
every stage has (docs/contracts.md, "Stage entry points").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io import write_json
from .stratum import AnalysisSettings, round_sig

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["design_check", "run", "write"]


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


def run(settings: AnalysisSettings, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs``: ``studies`` (the study-level table); returns design_check.json's content."""
    import pandas as pd

    studies = pd.read_csv(inputs["studies"], dtype={"study_id": str})
    return design_check(studies, level=settings.level)


def write(result: dict[str, Any], outputs: Mapping[str, str | Path]) -> None:
    """Write the rule's ``json`` output."""
    write_json(outputs["json"], result)
