"""Prioritised screening: rank each update's records by what the team already decided.

A living review holds every final decision of every earlier round, so each new
batch can be ranked by a model trained on all of them (ASReview, Rayyan and
Covidence start each import afresh). The model is deliberately plain and
deterministic: TF-IDF of title, abstract and MeSH terms/keywords (hashed word
uni- and bigrams, sublinear term frequency) and an L2-regularised logistic regression
with balanced class weights (scikit-learn, ``liblinear``, seeded). Its score is
the predicted log-odds of inclusion; only the order matters. ``model: svm``
adopts ASReview LAB's published default (ELAS u4) instead, and reproduces its
features exactly with ``hash_bits: 64``; ``ensemble`` adds both models'
standardised scores. ``balance_rounds`` weighs the newest update's decisions as
much as all earlier ones; ``batch_model`` averages the model with one trained on
the newest update's decisions alone (bench/RESULTS.md has the replays on real
reviews). The features are in :mod:`.vectorise`, the classifiers in
:mod:`.relevance`, the stopping estimate in :mod:`.stopping`.

Labels are the final title/abstract decisions of ``results/screening/decisions.csv``
(``stage == "title_abstract"``): ``status`` ``included`` -> 1, ``excluded`` -> 0;
``conflict``, ``awaiting`` and ``unscreened`` records are unlabelled. A record that
an adjudicator decided carries the adjudicated status (docs/contracts.md).

Nothing is ever hidden: :func:`order_queue` keeps every row of a queue and only
adds ``rank`` and ``relevance`` and sorts. Before ``min_includes`` includes and
``min_excludes`` excludes exist the queue keeps its current order, the
relevance is empty and the reason is given (``frame.attrs["reason"]``).

:func:`stopping_estimate` advises when a round may stop: from a random sample of
the records still unscreened it estimates how many relevant records remain,
with an exact hypergeometric confidence interval, and tests the hypothesis that
recall is still below the target (Callaghan & Müller-Hansen 2020). It never
excludes a record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .relevance import combined_log_odds, relevance_scores, round_weights
from .vectorise import _ids, _model_text, record_text, vectorise

__all__ = [
    "METHOD",
    "PrioritiseSettings",
    "labels_from_decisions",
    "n_likely_relevant",
    "order_queue",
    "order_queues",
    "provenance",
    "rank",
    "combined_log_odds",
    "ranking_summary",
    "record_text",
    "relevance_scores",
    "round_weights",
    "vectorise",
]

#: What the provenance names as the model (``METHOD``: the default, ``model: logistic``).
METHOD = "hashed tf-idf (word n-grams, sublinear tf) + logistic regression (balanced, liblinear)"
MODELS = {
    "logistic": METHOD,
    "svm": "hashed tf-idf (word n-grams, sublinear tf) + linear SVM (squared hinge, C = 0.11, "
    "includes weighted 9.8:1; ASReview LAB's ELAS u4)",
    "ensemble": "hashed tf-idf (word n-grams, sublinear tf) + logistic regression (balanced) "
    "and linear SVM (ASReview ELAS u4), standardised decision values added",
}
LABEL_STAGE = "title_abstract"


@dataclass(frozen=True)
class PrioritiseSettings:
    """The ``screening.prioritise`` configuration, parsed once at the door.

    Parameters
    ----------
    enabled : bool
        Rank queues at all. ``False``: queues keep their order; ``rank`` and
        ``relevance`` are still added (relevance empty), so the columns do not
        depend on the setting.
    min_includes, min_excludes : int
        Final title/abstract includes and excludes needed before the model is
        trained; below either the current order is kept.
    seed : int
        Seed of the classifier (``liblinear`` shuffles its coordinates).
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    ngram_max : {1, 2}
        Longest word n-gram of the TF-IDF features.
    hash_bits : int
        The features are hashed into ``2**hash_bits`` columns (10 to 24), or,
        with 64, into 62-bit keys: practically collision-free, a vocabulary
        without the vocabulary.
    target_recall : float
        Recall the stopping estimate tests against (0 < target_recall < 1).
    level : float
        Confidence level of the stopping estimate's interval and test.
    model : {"logistic", "svm", "ensemble"}
        ``logistic``: L2 logistic regression with balanced class weights and
        ``C``. ``svm``: ASReview LAB's published default model ELAS u4 (linear
        SVM, squared hinge, C = 0.11; includes weighted 9.8 times the
        excludes in total, ASReview's ``Balanced(ratio=9.8)``). ``ensemble``:
        both, their decision values each divided by its standard deviation
        over the training records and added.
    balance_rounds : bool
        Decisions on records of the newest update (``first_seen`` the newest
        date in the store) weigh as much, in total, as all earlier decisions
        together (see :func:`round_weights`); off: every decision weighs the same.
    batch_model : bool
        ``True``: also train an in-batch model on the newest update's decisions
        alone (what a new ASReview project on the batch would learn) and average
        its predicted probability of inclusion with the all-rounds model's
        (:func:`combined_log_odds`), once the newest update has at least one
        include and one exclude; before that, and when every decision is of
        one round, the all-rounds model alone ranks. (A record-by-record replay
        can weight the two by their record instead: :class:`~.relevance.Prequential`.)
    n_jobs : int
        Processes that vectorise the records (chunks of 4,000 records; the
        matrix is identical for any value).

    Examples
    --------
    >>> s = PrioritiseSettings.from_params({"min_includes": 3, "seed": 7, "other": 1})
    >>> s.min_includes, s.min_excludes, s.seed
    (3, 20, 7)
    >>> PrioritiseSettings.from_params({"target_recall": 1.5})
    Traceback (most recent call last):
    ...
    ValueError: screening.prioritise.target_recall must be in (0, 1); got 1.5
    """

    enabled: bool = True
    min_includes: int = 5
    min_excludes: int = 20
    seed: int = 0
    C: float = 10.0
    ngram_max: int = 2
    hash_bits: int = 20
    target_recall: float = 0.95
    level: float = 0.95
    model: str = "logistic"
    balance_rounds: bool = False
    batch_model: bool = False
    n_jobs: int = 1

    def __post_init__(self) -> None:
        for name in ("min_includes", "min_excludes", "seed", "n_jobs"):
            value = getattr(self, name)
            low = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"screening.prioritise.{name} must be a whole number >= {low}; got {value!r}"
                )
        if self.ngram_max not in (1, 2):
            raise ValueError(
                f"screening.prioritise.ngram_max must be 1 or 2; got {self.ngram_max!r}"
            )
        if isinstance(self.hash_bits, bool) or self.hash_bits not in [*range(10, 25), 64]:
            raise ValueError(
                "screening.prioritise.hash_bits must be a whole number in 10..24, or 64; "
                f"got {self.hash_bits!r}"
            )
        for name in ("target_recall", "level"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"screening.prioritise.{name} must be in (0, 1); got {value!r}")
        if self.model not in MODELS:
            raise ValueError(
                f"screening.prioritise.model must be one of {', '.join(MODELS)}; got {self.model!r}"
            )
        for name in ("enabled", "balance_rounds", "batch_model"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"screening.prioritise.{name} must be true or false; got {getattr(self, name)!r}"
                )
        if not self.C > 0:
            raise ValueError(f"screening.prioritise.C must be > 0; got {self.C!r}")

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any] | PrioritiseSettings | None
    ) -> PrioritiseSettings:
        """Settings from a rule's params mapping; unknown keys are ignored, missing keys default."""
        if isinstance(params, PrioritiseSettings):
            return params
        params = params or {}
        kwargs = {f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params}
        for name in ("C", "target_recall", "level"):
            if name in kwargs:
                kwargs[name] = float(kwargs[name])
        for name in ("enabled", "balance_rounds", "batch_model"):
            if name in kwargs and not isinstance(kwargs[name], str):  # a string is checked as is
                kwargs[name] = bool(kwargs[name])
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def labels_from_decisions(decisions: pd.DataFrame) -> pd.Series:
    """Final title/abstract decisions as labels (1 included, 0 excluded), indexed by record_id.

    Examples
    --------
    >>> d = pd.DataFrame({"record_id": ["1", "2", "3", "1"],
    ...                   "stage": ["title_abstract"] * 3 + ["full_text"],
    ...                   "status": ["included", "excluded", "conflict", "excluded"]})
    >>> labels_from_decisions(d).to_dict()
    {'1': 1, '2': 0}
    """
    ta = decisions[
        (decisions["stage"] == LABEL_STAGE) & decisions["status"].isin(["included", "excluded"])
    ]
    return pd.Series(
        (ta["status"] == "included").astype(int).to_numpy(),
        index=pd.Index(ta["record_id"].astype(str), name="record_id"),
        name="label",
    )


def _not_ranked(unlabelled: Sequence[str], reason: str) -> pd.DataFrame:
    ids = [str(r) for r in unlabelled]
    out = pd.DataFrame(
        {"record_id": ids, "score": np.full(len(ids), np.nan), "rank": np.arange(1, len(ids) + 1)}
    )
    out.attrs.update(prioritised=False, reason=reason)
    return out


def rank(
    records: pd.DataFrame,
    labelled: pd.Series | Mapping[str, int],
    unlabelled: Sequence[str],
    settings: PrioritiseSettings | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Order undecided records by predicted relevance.

    Parameters
    ----------
    records : DataFrame
        The record store (``record_id`` column or index; title, abstract, mesh_terms, ...).
    labelled : Series or mapping
        record_id -> 1 (included) or 0 (excluded): all final decisions so far
        (:func:`labels_from_decisions`).
    unlabelled : sequence of str
        Record ids to rank, in their current order (ties keep it).
    settings : PrioritiseSettings or mapping

    Returns
    -------
    DataFrame
        ``record_id, score, rank`` (rank 1 = most likely relevant), sorted by
        rank. ``attrs``: ``prioritised`` (bool), ``reason`` (str) and, when
        ranked, ``provenance`` (:func:`provenance`). Before the minimum
        numbers of includes and excludes exist, scores are NaN and the rank is
        the current order.

    Examples
    --------
    >>> recs = pd.DataFrame({"record_id": list("abcde"),
    ...     "title": ["insulin trial", "bird song", "insulin app trial", "bird flight", "jazz"]})
    >>> s = PrioritiseSettings(min_includes=1, min_excludes=1)
    >>> r = rank(recs, {"a": 1, "b": 0}, ["d", "e", "c"], s)
    >>> r["record_id"].tolist(), bool(r.attrs["prioritised"])
    (['c', 'e', 'd'], True)
    >>> rank(recs, {"a": 1, "b": 0}, ["d", "e", "c"]).attrs["reason"]
    'not ranked yet: 1 includes and 1 excludes so far; the model needs at least 5 and 20'
    """
    settings = PrioritiseSettings.from_params(settings)
    labels = pd.Series(labelled, dtype=int) if not isinstance(labelled, pd.Series) else labelled
    labels.index = labels.index.astype(str)
    n_inc, n_exc = int((labels == 1).sum()), int((labels == 0).sum())
    if not settings.enabled:
        return _not_ranked(unlabelled, "not ranked: screening.prioritise.enabled is false")
    if n_inc < settings.min_includes or n_exc < settings.min_excludes:
        return _not_ranked(
            unlabelled,
            f"not ranked yet: {n_inc} includes and {n_exc} excludes so far; the model "
            f"needs at least {settings.min_includes} and {settings.min_excludes}",
        )
    unl = [str(r) for r in unlabelled]
    train_ids = list(labels.index)
    X = vectorise(_model_text(records, train_ids + unl), settings)
    n = len(train_ids)
    by_round = settings.balance_rounds or settings.batch_model
    current = _newest_round(records, train_ids) if by_round else None
    score = relevance_scores(X, np.arange(n), labels.to_numpy(), settings, current)[n:]
    order = np.lexsort((np.arange(len(unl)), -score))  # score descending, then current order
    out = pd.DataFrame(
        {
            "record_id": [unl[i] for i in order],
            "score": score[order],
            "rank": np.arange(1, len(unl) + 1),
        }
    )
    out.attrs.update(
        prioritised=True,
        reason=f"ranked by a model trained on {n_inc} includes and {n_exc} excludes",
        provenance=provenance(
            settings, n_inc, n_exc, X.shape[1], None if current is None else int(current.sum())
        ),
    )
    return out


def _newest_round(records: pd.DataFrame, train_ids: Sequence[str]) -> np.ndarray | None:
    """Which decided records were first seen in the newest update (``first_seen`` the latest date)."""
    if "first_seen" not in records.columns:
        return None
    seen = pd.Series(records["first_seen"].astype(str).to_numpy(), index=_ids(records))
    seen = seen[~seen.index.duplicated()]
    newest = seen.max()
    return (seen.reindex(list(train_ids)) == newest).to_numpy()


def provenance(
    settings: PrioritiseSettings,
    n_includes: int,
    n_excludes: int,
    n_features: int,
    n_newest_round: int | None = None,
) -> dict[str, Any]:
    """What a ranking was made with: method, library versions, training counts and settings.

    ``n_newest_round``: decisions weighted as the newest round (``balance_rounds``).
    """
    import sklearn

    return {
        "method": MODELS[settings.model],
        "label": f"final {LABEL_STAGE} status (included = 1, excluded = 0)",
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "n_includes": n_includes,
        "n_excludes": n_excludes,
        "n_features": int(n_features),
        "n_newest_round": n_newest_round,
        "settings": settings.as_dict(),
    }


def order_queue(
    queue: pd.DataFrame,
    records: pd.DataFrame,
    decisions: pd.DataFrame,
    settings: PrioritiseSettings | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """A reviewer's queue with ``rank`` and ``relevance`` columns, most relevant first.

    Every row is kept. Rows are ranked within their ``stage`` (stages keep the
    order in which they first appear in the queue); ``rank`` starts at 1 in
    each stage; ``relevance`` is the model's log-odds of inclusion rounded to
    4 decimals (NaN when not ranked, see ``attrs["reason"]``). The model is
    trained once on all final title/abstract decisions and scores both stages.

    Parameters
    ----------
    queue : DataFrame
        ``record_id`` and ``stage`` columns at least (``screening.QUEUE_COLUMNS``).
    records : DataFrame
        The record store.
    decisions : DataFrame
        ``results/screening/decisions.csv`` (``record_id, stage, status``).
    settings : PrioritiseSettings or mapping

    Examples
    --------
    >>> recs = pd.DataFrame({"record_id": list("abcde"),
    ...     "title": ["insulin trial", "bird song", "insulin app trial", "bird flight", "jazz"]})
    >>> dec = pd.DataFrame({"record_id": list("abcde"), "stage": ["title_abstract"] * 5,
    ...     "status": ["included", "excluded", "unscreened", "unscreened", "awaiting"]})
    >>> q = pd.DataFrame({"record_id": list("dec"), "stage": ["title_abstract"] * 3})
    >>> out = order_queue(q, recs, dec, {"min_includes": 1, "min_excludes": 1})
    >>> out[["record_id", "rank"]].values.tolist()
    [['c', 1], ['e', 2], ['d', 3]]
    """
    ids = list(dict.fromkeys(queue["record_id"].astype(str)))
    return _apply(queue, rank(records, labels_from_decisions(decisions), ids, settings))


def order_queues(
    queues: Mapping[str, pd.DataFrame],
    records: pd.DataFrame,
    decisions: pd.DataFrame,
    settings: PrioritiseSettings | Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`order_queue` for every reviewer's queue with one model (trained once).

    Examples
    --------
    >>> recs = pd.DataFrame({"record_id": list("abcde"),
    ...     "title": ["insulin trial", "bird song", "insulin app trial", "bird flight", "jazz"]})
    >>> dec = pd.DataFrame({"record_id": list("abcde"), "stage": ["title_abstract"] * 5,
    ...     "status": ["included", "excluded", "unscreened", "unscreened", "awaiting"]})
    >>> qs = {"alice": pd.DataFrame({"record_id": list("dc"), "stage": "title_abstract"}),
    ...       "bob": pd.DataFrame({"record_id": list("edc"), "stage": "title_abstract"})}
    >>> out = order_queues(qs, recs, dec, {"min_includes": 1, "min_excludes": 1})
    >>> out["alice"]["record_id"].tolist(), out["bob"]["record_id"].tolist()
    (['c', 'd'], ['c', 'e', 'd'])
    """
    ids = list(dict.fromkeys(str(r) for q in queues.values() for r in q["record_id"]))
    ranked = rank(records, labels_from_decisions(decisions), ids, settings)
    return {name: _apply(queue, ranked) for name, queue in queues.items()}


def n_likely_relevant(queue: pd.DataFrame) -> int:
    """Queued records the model predicts as included (relevance, the log-odds, above 0).

    For ``livingreview status``; 0 when the queue is not ranked.
    """
    if "relevance" not in queue.columns:
        return 0
    return int((pd.to_numeric(queue["relevance"], errors="coerce") > 0).sum())


def ranking_summary(queues: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """What to publish beside the queues (``results/screening/prioritise.json``).

    ``prioritised`` and ``reason`` (why not, when not), ``model``
    (:func:`provenance`: method, scikit-learn version, training counts,
    settings; None when not ranked) and ``likely_relevant``: reviewer ->
    stage -> queued records predicted as included (:func:`n_likely_relevant`).
    Takes the output of :func:`order_queues`.

    Examples
    --------
    >>> recs = pd.DataFrame({"record_id": list("abc"), "title": ["x y", "y z", "x"]})
    >>> dec = pd.DataFrame({"record_id": list("abc"), "stage": ["title_abstract"] * 3,
    ...     "status": ["included", "excluded", "unscreened"]})
    >>> q = {"alice": pd.DataFrame({"record_id": ["c"], "stage": ["title_abstract"]})}
    >>> s = ranking_summary(order_queues(q, recs, dec))
    >>> s["prioritised"], s["model"], s["likely_relevant"]
    (False, None, {'alice': {'title_abstract': 0}})
    """
    attrs: dict[str, Any] = {}
    for queue in queues.values():
        if queue.attrs.get("reason") and queue.attrs.get("reason") != "empty queue":
            attrs = queue.attrs
            break
    return {
        "prioritised": bool(attrs.get("prioritised", False)),
        "reason": str(attrs.get("reason", "no queued records")),
        "model": attrs.get("provenance"),
        "likely_relevant": {
            name: {
                str(stage): n_likely_relevant(part)
                for stage, part in queue.groupby("stage", sort=False)
            }
            for name, queue in queues.items()
        },
    }


def _apply(queue: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    """Sort ``queue`` by ``ranked`` within each stage; add ``rank`` and ``relevance``."""
    queue = queue.reset_index(drop=True)
    if queue.empty:
        out = queue.assign(rank=pd.Series(dtype=int), relevance=pd.Series(dtype=float))
        out.attrs.update(prioritised=False, reason="empty queue")
        return out
    ids = queue["record_id"].astype(str)
    score = dict(zip(ranked["record_id"], ranked["score"], strict=True))
    if ranked.attrs.get("prioritised"):
        position = ids.map(dict(zip(ranked["record_id"], ranked["rank"], strict=True)))
    else:  # keep the queue's own order
        position = pd.Series(np.arange(len(queue)))
    stages = list(dict.fromkeys(queue["stage"].astype(str)))
    key = pd.DataFrame(
        {
            "stage": queue["stage"].astype(str).map(stages.index),
            "order": position,
            "row": np.arange(len(queue)),
        }
    )
    order = key.sort_values(["stage", "order", "row"]).index
    out = queue.loc[order].reset_index(drop=True)
    out["rank"] = out.groupby("stage", sort=False).cumcount() + 1
    out["relevance"] = out["record_id"].astype(str).map(score).astype(float).round(4)
    out.attrs.update(ranked.attrs)
    return out
