"""Per-stratum analyses and study-level models, as the protocol prescribes.

The statistics themselves live in :mod:`livingreview.stats` (checked against
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
- a stratum in which a trial has several effects (the ``platform-*``
  overview: one effect per domain) is pooled with the multilevel model and
  cluster-robust inference of :mod:`livingreview.analysis.multilevel_stratum`
  (``analysis.dependence``), not as if its effects were independent; a
  stratum with one effect per trial keeps the univariate model, its files
  unchanged.
- design check: OLS of ln(n) on follow-up weeks with HC3 standard errors
  (MacKinnon & White 1985), t tests on n - 2 df as R's
  ``lmtest::coeftest(fit, vcov = sandwich::vcovHC(fit, type = "HC3"))``.

The ``analysis`` configuration reaches this module once, as an
:class:`AnalysisSettings` built from a rule's params; every output of a
stratum comes from one fitted result (``meta.fit``) and its verbs, so the
estimator, test and level cannot differ between pooled.json, loo.csv,
influence.csv, the influence refit and egger.json.

Floats are rounded to 12 significant digits so that files are byte-identical
for identical inputs whatever the BLAS summation order.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .. import stats as meta  # the statistics engine, livingreview.stats
from ..contract import has_funnel
from ..io import write_csv, write_json
from ..measures import is_ratio
from .moderators import BINARY_YESNO as BINARY_YESNO  # re-exported: older callers
from .moderators import parse_moderators
from .strata import parse_stratum, read_stratum

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


def influence_table(result: meta.MetaResult) -> pd.DataFrame:
    """metafor-style influence diagnostics of the fit (its test), one row per study."""
    return result.influence()


def influence_refit(
    result: meta.MetaResult | None,
    influence: pd.DataFrame | None,
    *,
    n_exclude: int,
    min_k: int,
    k: int | None = None,
) -> dict[str, Any]:
    """Refit without the ``n_exclude`` studies with the largest Cook's distance.

    Ties are broken by label so the choice is reproducible. When fewer than
    ``min_k`` studies remain, the refit is not reported (numbers null).
    ``result`` is None when the stratum itself is not estimated (then ``k``
    gives its number of effects).
    """
    k = result.k if result is not None else int(k or 0)
    out: dict[str, Any] = {"n_exclude": n_exclude, "excluded": [], "k": max(k - n_exclude, 0)}
    if result is None or influence is None or n_exclude <= 0 or k - n_exclude < min_k:
        out.update(reported=False, **dict.fromkeys(POOLED_NUMBERS))
        out["excluded"] = [] if influence is None else _most_influential(influence, n_exclude)
        return out
    excluded = _most_influential(influence, n_exclude)
    refit = result.without(excluded)
    out.update(reported=True, excluded=excluded, k=refit.k, **_fit_fields(refit))
    return out


def _most_influential(influence: pd.DataFrame, n: int) -> list[str]:
    cook = pd.to_numeric(influence[_cook_column(influence)], errors="coerce").fillna(-np.inf)
    labels = _label_column(influence, [])
    order = pd.DataFrame({"label": labels.to_numpy(), "cook": cook.to_numpy()})
    order = order.sort_values(["cook", "label"], ascending=[False, True], kind="mergesort")
    return order["label"].head(max(n, 0)).tolist()


def loo_table(result: meta.MetaResult, pooled: Mapping[str, Any]) -> pd.DataFrame:
    """Leave-one-out fits of ``result`` with the protocol's influence flags.

    ``changes_direction``: the estimate without the study has the other sign;
    ``changes_significance``: p crosses ``1 - level`` (0.05 by default).
    """
    frame = result.leave1out()
    cols = [c for c in LOO_COLUMNS if c in frame.columns]
    frame = frame[cols + [c for c in frame.columns if c not in cols]].copy()
    alpha = 1 - result.level
    frame["delta_estimate"] = frame["estimate"] - pooled["estimate"]
    frame["delta_tau2"] = frame["tau2"] - pooled["tau2"]
    frame["delta_i2"] = frame["i2"] - pooled["i2"]
    frame["changes_direction"] = np.sign(frame["estimate"]) != np.sign(pooled["estimate"])
    frame["changes_significance"] = (frame["pval"] < alpha) != (pooled["pval"] < alpha)
    return frame


DEPENDENCE_MODELS = ("auto", "univariate")
DEPENDENCE_INFERENCE = ("CR2", "model")
MULTILEVEL_METHODS = ("REML", "ML")


@dataclass(frozen=True)
class DependenceSettings:
    """``analysis.dependence``: how a stratum with several effects per trial is pooled.

    ``model``: ``"auto"`` gives such a stratum the multilevel model (effects
    nested in trials) of :func:`livingreview.analysis.multilevel_stratum.analyse_multilevel`;
    ``"univariate"`` pools its effects as if independent (the pre-issue-18
    behaviour, labelled so in ``pooled.json``). ``rho``: the assumed
    correlation of the sampling errors of two effects of one trial (metafor
    ``vcalc``). ``inference``: ``"CR2"`` (cluster-robust t test with
    Satterthwaite df, clubSandwich ``coef_test``) or ``"model"`` (model-based
    z test). A stratum with one effect per trial never uses these settings.
    """

    model: str = "auto"
    rho: float = 0.6
    inference: str = "CR2"

    def __post_init__(self) -> None:
        if self.model not in DEPENDENCE_MODELS:
            raise ValueError(
                f"analysis.dependence.model must be one of {', '.join(DEPENDENCE_MODELS)}; "
                f"got {self.model!r}"
            )
        rho = self.rho
        if isinstance(rho, bool) or not isinstance(rho, int | float) or not -1 < rho < 1:
            raise ValueError(f"analysis.dependence.rho must be a number in (-1, 1); got {rho!r}")
        object.__setattr__(self, "rho", float(rho))
        if self.inference not in DEPENDENCE_INFERENCE:
            raise ValueError(
                "analysis.dependence.inference must be one of "
                f"{', '.join(DEPENDENCE_INFERENCE)}; "
                f"got {self.inference!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DependenceSettings:
        """From the ``analysis.dependence`` section (None or missing keys: the defaults)."""
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"analysis.dependence has unknown keys: {', '.join(unknown)}")
        return cls(**mapping)


@dataclass(frozen=True)
class AnalysisSettings:
    """The ``analysis`` configuration, parsed once at the door of the analysis stage.

    Field names are the rule params' names (``workflow/rules``), so
    :meth:`from_params` takes ``snakemake.params`` as it is; keys a rule does
    not pass keep their defaults. Method and test are checked here, so a typo
    stops before any number is computed.
    """

    method: str = "REML"
    test: str = "z"
    level: float = 0.95
    min_k: int = 3
    min_k_funnel: int = 10
    influence_exclude: int = 10
    leave_one_out: bool = True
    moderators: tuple[str, ...] = ()
    # the reference level of a categorical moderator ({column: level} in analysis.moderators)
    references: tuple[tuple[str, str], ...] = ()
    dependence: DependenceSettings = DependenceSettings()

    def __post_init__(self) -> None:
        method, test = meta.check_method(self.method, self.test, self.level)
        object.__setattr__(self, "method", method)  # canonical spelling: "reml" -> "REML"
        object.__setattr__(self, "test", test)
        for name in ("min_k", "min_k_funnel", "influence_exclude"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"analysis.{name} must be a whole number >= 0; got {value!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AnalysisSettings:
        """Settings from a rule's params (a mapping; extra keys such as ``label`` are ignored)."""
        kwargs = {f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params}
        if "moderators" in kwargs:
            names, references = parse_moderators(kwargs["moderators"])
            kwargs["moderators"] = names
            kwargs["references"] = tuple(sorted(references.items()))
        if "level" in kwargs:
            kwargs["level"] = float(kwargs["level"])
        if "leave_one_out" in kwargs:
            kwargs["leave_one_out"] = bool(kwargs["leave_one_out"])
        if "dependence" in kwargs:  # None: a stratum with one effect per trial (common.smk)
            kwargs["dependence"] = DependenceSettings.from_mapping(kwargs["dependence"])
        return cls(**kwargs)


@dataclass(frozen=True)
class StratumSpec:
    """What a stratum is: its name and the outcome domain's measure, label and sign."""

    name: str
    measure: str
    label: str
    favourable_sign: str

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any]) -> StratumSpec:
        return cls(
            name=name,
            measure=params["measure"],
            label=params["label"],
            favourable_sign=params["favourable_sign"],
        )


class StratumAnalysis(NamedTuple):
    """``pooled.json`` content, ``loo.csv``, ``influence.csv`` and the fit (None below min_k).

    ``fit`` is a :class:`meta.MetaResult`, or a
    :class:`~livingreview.multilevel.MultilevelResult` for a multilevel stratum.
    """

    pooled: dict[str, Any]
    loo: pd.DataFrame
    influence: pd.DataFrame
    fit: Any


def several_effects_per_trial(data: pd.DataFrame) -> bool:
    """True when some trial (``study_id``) has more than one row in the stratum."""
    return bool(data["study_id"].astype(str).duplicated().any())


def stratum_model(data: pd.DataFrame, settings: AnalysisSettings) -> str:
    """``"multilevel"`` or ``"univariate"``: the model a stratum's data need.

    Multilevel when a trial has several effects and ``analysis.dependence.model``
    is ``auto``; univariate otherwise (one effect per trial: always).
    """
    if settings.dependence.model == "auto" and several_effects_per_trial(data):
        return "multilevel"
    return "univariate"


def multilevel_method(settings: AnalysisSettings) -> str:
    """The variance-component estimator of the multilevel model: REML, or ML when configured.

    The multilevel model has REML and ML only (metafor ``rma.mv``); other
    ``analysis.method`` values (DL, PM, ...) fall back to REML, and
    ``pooled.json`` says so in ``warnings``.
    """
    return settings.method if settings.method in MULTILEVEL_METHODS else "REML"


def analyse_stratum(
    data: pd.DataFrame, stratum: StratumSpec, settings: AnalysisSettings
) -> StratumAnalysis:
    """Pooled estimate, leave-one-out and influence of one stratum, as the protocol says.

    The model is the one the data need (:func:`stratum_model`): with several
    effects per trial, :func:`livingreview.analysis.multilevel_stratum.analyse_multilevel`
    (``model: "multilevel"``, ``n_trials``, ``n_effects``, ``rho``,
    ``inference`` and the variance components in ``pooled``; leave-one-out
    and influence by trial; min_k counts trials); otherwise the univariate
    random-effects model below.

    Below ``min_k`` nothing is estimated: ``reported`` is false, the numbers
    are null and the two tables have their header only. ``converged`` is
    false and ``warnings`` lists the messages when an iterative estimate
    (the fit, its deleted fits or the refit) needed the fallback root-finder.
    """
    s = settings
    if stratum_model(data, s) == "multilevel":
        return _analyse_multilevel(data, stratum, s)
    k = int(len(data))
    pooled: dict[str, Any] = {
        "stratum": stratum.name,
        **parse_stratum(stratum.name),
        "label": stratum.label,
        "measure": stratum.measure,
        "favourable_sign": stratum.favourable_sign,
        "k": k,
        "n_studies": int(data["study_id"].nunique()),
        "n_participants": float(data["n"].sum()) if k else 0.0,
        "method": s.method,
        "test": s.test,
        "level": s.level,
        "min_k": s.min_k,
        "reported": k >= s.min_k,
        "converged": None,
        "warnings": [],
    }
    loo = pd.DataFrame(columns=LOO_COLUMNS)
    infl = pd.DataFrame(columns=["study"])
    result = None
    if k < s.min_k:
        pooled.update(dict.fromkeys(POOLED_NUMBERS))
        pooled["influence_refit"] = influence_refit(
            None, None, n_exclude=s.influence_exclude, min_k=s.min_k, k=k
        )
    else:
        with _convergence_warnings() as messages:
            result = meta.fit(
                data["yi"].to_numpy(float),
                data["vi"].to_numpy(float),
                method=s.method,
                test=s.test,
                level=s.level,
                labels=study_labels(data),
            )
            pooled.update(_fit_fields(result))
            pooled["method"] = result.method
            infl = influence_table(result)
            pooled["influence_refit"] = influence_refit(
                result, infl, n_exclude=s.influence_exclude, min_k=s.min_k
            )
            if s.leave_one_out:
                loo = loo_table(result, pooled)
        pooled["converged"] = bool(result.converged)
        pooled["warnings"] = messages
    if several_effects_per_trial(data):  # analysis.dependence.model: univariate
        n_trials = int(data["study_id"].astype(str).nunique())
        pooled.update(model="univariate", n_effects=k, n_trials=n_trials)
        pooled["warnings"].append(
            f"{k} effects of {n_trials} trials pooled as if independent "
            "(analysis.dependence.model: univariate)"
        )
    if is_ratio(stratum.measure):
        _exp_fields(pooled)
        _exp_fields(pooled["influence_refit"])
    return StratumAnalysis(round_sig(pooled), loo, infl, result)


def _analyse_multilevel(
    data: pd.DataFrame, stratum: StratumSpec, settings: AnalysisSettings
) -> StratumAnalysis:
    from .multilevel_stratum import analyse_multilevel  # it imports this module

    s, dep = settings, settings.dependence
    method = multilevel_method(s)
    res = analyse_multilevel(
        data,
        stratum=stratum.name,
        measure=stratum.measure,
        label=stratum.label,
        favourable_sign=stratum.favourable_sign,
        method=method,
        level=s.level,
        min_k=s.min_k,
        rho=dep.rho,
        inference=dep.inference,
        leave_one_out=s.leave_one_out,
        influence_exclude=s.influence_exclude,
    )
    if method != s.method:
        res.pooled["warnings"].insert(
            0, f"analysis.method {s.method} has no multilevel counterpart: fitted by {method}"
        )
    return res


@contextmanager
def _convergence_warnings() -> Iterator[list[str]]:
    """Collect :class:`meta.ConvergenceWarning` messages (once each); pass others on."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for w in caught:
        if issubclass(w.category, meta.ConvergenceWarning):
            if str(w.message) not in messages:
                messages.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def egger(
    data: pd.DataFrame,
    settings: AnalysisSettings,
    *,
    stratum: str,
    result: meta.MetaResult | None = None,
    model: str = "rma",
) -> dict[str, Any]:
    """Egger's regression test for funnel asymmetry (SE as predictor, metafor ``regtest``).

    Goes through the stratum's fitted ``result`` (fitted here when not given),
    so it uses the fit's method, test and level. A multilevel stratum
    (:func:`stratum_model`) gets the multilevel variant,
    :func:`livingreview.analysis.multilevel_stratum.egger_multilevel` (one point per
    effect, the slope on the SE tested with CR2).
    """
    if stratum_model(data, settings) == "multilevel":
        from .multilevel_stratum import egger_multilevel

        return egger_multilevel(
            data,
            stratum=stratum,
            min_k_funnel=settings.min_k_funnel,
            rho=settings.dependence.rho,
            method=multilevel_method(settings),
            level=settings.level,
        )
    k = int(len(data))
    out: dict[str, Any] = {"stratum": stratum, "k": k, "model": model, "predictor": "sei"}
    if k < settings.min_k_funnel:
        return {**out, "reported": False}
    if result is None:
        result = meta.fit(
            data["yi"].to_numpy(float),
            data["vi"].to_numpy(float),
            method=settings.method,
            test=settings.test,
            level=settings.level,
        )
    plain = to_plain(result.regtest(model))
    return round_sig({**plain, **out, "reported": True})


# --------------------------------------------------------------------------- the rule's entry point


@dataclass(frozen=True)
class StratumSettings:
    """The ``stratum`` rule's params: the analysis settings and what the stratum is."""

    analysis: AnalysisSettings
    spec: StratumSpec

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, name: str) -> StratumSettings:
        """``name``: the job's ``stratum`` wildcard."""
        return cls(AnalysisSettings.from_params(params), StratumSpec.from_params(name, params))


class StratumResult(NamedTuple):
    """The stratum's data, its analysis and (k >= min_k_funnel) Egger's test."""

    data: pd.DataFrame
    analysis: StratumAnalysis
    egger: dict[str, Any] | None


def run(settings: StratumSettings, inputs: Mapping[str, Any]) -> StratumResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``data`` (the stratum's data.csv). Egger's test is run where
    the contract gives the stratum a funnel (``contract.has_funnel``), as the
    rules choose ``stratum_funnel`` for it.
    """
    data = read_stratum(inputs["data"])
    analysis = analyse_stratum(data, settings.spec, settings.analysis)
    test = None
    if has_funnel(len(data), settings.analysis.min_k_funnel):
        test = egger(data, settings.analysis, stratum=settings.spec.name, result=analysis.fit)
    return StratumResult(data, analysis, test)


def write(result: StratumResult, outputs: Mapping[str, str | Path]) -> None:
    """Write pooled.json, loo.csv, influence.csv and the forest plot; where the
    rule has them (``stratum_funnel``), egger.json and the funnel plot."""
    from ..publish.plots import forest_plot, funnel_plot  # matplotlib: only when drawing

    data, (pooled, loo, influence, _) = result.data, result.analysis
    write_json(outputs["pooled"], pooled)
    write_csv(loo, outputs["loo"], text_columns=["omitted"], float_format=CSV_FLOAT)
    write_csv(influence, outputs["influence"], text_columns=["study"], float_format=CSV_FLOAT)
    forest_plot(data, pooled, Path(outputs["forest"]).with_suffix(""), formats=("svg", "png"))
    if "egger" in outputs:
        if result.egger is None:
            raise ValueError(f"{outputs['egger']}: the stratum has fewer effects than min_k_funnel")
        write_json(outputs["egger"], result.egger)
        funnel = Path(outputs["funnel"]).with_suffix("")
        funnel_plot(data, pooled, result.egger, funnel, formats=("svg", "png"))
