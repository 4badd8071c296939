"""Meta-analysis statistics that reproduce R's metafor (and clubSandwich), as statsmodels reads.

>>> from livingreview import stats
>>> res = stats.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
>>> round(res.estimate, 4), round(res.tau2, 4)
(0.2477, 0.02)

Modules, by what they compute:

========================= ===================================================
``escalc``                effect sizes and their variances (metafor ``escalc``)
``rma``                   the random-effects model, :func:`fit`, :class:`MetaResult`
``tau2``                  the tau^2 estimators (HE, DL, SJ, PM/EB, REML/ML)
``qprofile``              the Q-profile CI of tau^2 (``confint.rma.uni``)
``deleted``               leave-one-out fits and influence diagnostics
``bias``                  Egger's regression test, trim-and-fill
``metareg``               meta-regression and its moderator matrix
``cumulative``            cumulative meta-analysis (``cumul``)
``multilevel``            three-level and multivariate models (``rma.mv``)
``robust``                cluster-robust CR1/CR2 inference (clubSandwich)
``covariance``            imputed sampling covariances of dependent effects
``dist``                  the distribution functions all of them use
``checks``, ``wls``       input checks; weighted least squares in p x p algebra
``datasets``              two metadat datasets for the examples
========================= ===================================================

Names are loaded on first use (PEP 562): Snakemake imports the workflow's
modules at every start, and ``plots`` and ``grade`` need only ``dist``, so
``import livingreview.stats.dist`` must not load the engine, pandas or
statsmodels.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module of this package that defines it (one copy of the API)
_EXPORTS = {
    "METHODS": "checks",
    "TESTS": "checks",
    "check_method": "checks",
    "ConvergenceWarning": "tau2",
    "MetaResult": "rma",
    "fit": "rma",
    "Tau2CI": "qprofile",
    "tau2_ci": "qprofile",
    "influence": "deleted",
    "leave_one_out": "deleted",
    "EggerResult": "bias",
    "TrimFillResult": "bias",
    "egger_test": "bias",
    "trim_and_fill": "bias",
    "MetaRegression": "metareg",
    "meta_regression": "metareg",
    "moderator_matrix": "metareg",
    "cumulative": "cumulative",
    "EffectInputError": "escalc",
    "align": "escalc",
    "design_effect": "escalc",
    "effective_n": "escalc",
    "hedges_correction": "escalc",
    "log_odds_ratio": "escalc",
    "log_risk_ratio": "escalc",
    "sd_from_se": "escalc",
    "se_from_ci": "escalc",
    "se_from_p": "escalc",
    "se_from_t": "escalc",
    "smd": "escalc",
    "smd_from_change": "escalc",
    "smd_from_md_se": "escalc",
    "MultilevelResult": "multilevel",
    "ProfileCI": "profile_likelihood",
    "fit_multivariate": "multilevel",
    "profile_ci": "profile_likelihood",
    "RobustResult": "robust",
    "cr1": "robust",
    "cr2": "robust",
    "BlockDiagonal": "covariance",
    "impute_covariance": "covariance",
    "shared_control_covariance": "covariance",
}
_MODULES = (
    "bias", "checks", "covariance", "cumulative", "datasets", "deleted", "dist", "escalc", "metareg",
    "multilevel", "profile_likelihood", "qprofile", "rma", "robust", "tau2", "wls",
)  # fmt: skip

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
