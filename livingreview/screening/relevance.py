"""The classifiers that score the records: logistic regression, ASReview's ELAS u4 SVM, both.

Split off :mod:`livingreview.screening.prioritise`: :func:`relevance_scores`
fits ``settings.model`` on the decided rows of a :func:`~.vectorise.vectorise`
matrix and scores every row; ``balance_rounds`` (:func:`round_weights`) and
``batch_model`` (:func:`combined_log_odds`) act here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .prioritise import PrioritiseSettings

__all__ = [
    "SVM_C",
    "SVM_RATIO",
    "Prequential",
    "combined_log_odds",
    "model_pair_scores",
    "predictive_log_likelihood",
    "relevance_scores",
    "round_weights",
]

#: ASReview LAB 2-3's default model ELAS u4 (asreview/models/models.py): SVM C, include:exclude ratio.
SVM_C, SVM_RATIO = 0.11, 9.8


def round_weights(current: np.ndarray) -> np.ndarray:
    """Sample weights that make the newest round's decisions weigh as much as all earlier ones.

    ``current`` marks the training decisions made on records of the newest
    update. Each of them weighs ``n_earlier / n_current``, each earlier one
    1, so that both rounds carry the same total weight; when either round is
    empty every weight is 1. A living review's later batches can differ from
    its earlier ones (new interventions, new wording); weighting the examples
    of the current period up is the classic answer to such drift
    (Klinkenberg 2004, Intell Data Anal 8:281-300), and it needs no tuned
    constant.

    Examples
    --------
    >>> round_weights(np.array([False, False, False, True])).tolist()
    [1.0, 1.0, 1.0, 3.0]
    >>> round_weights(np.array([False, False])).tolist()
    [1.0, 1.0]
    """
    current = np.asarray(current, dtype=bool)
    w = np.ones(len(current))
    n_cur = int(current.sum())
    if 0 < n_cur < len(current):
        w[current] = (len(current) - n_cur) / n_cur
    return w


def _svm_weights(labels: np.ndarray) -> np.ndarray:
    """ASReview's ``Balanced(ratio)``: includes 1, excludes n_inc / (ratio n_exc), mean 1."""
    n1, n0 = int((labels == 1).sum()), int((labels == 0).sum())
    w = np.where(labels == 1, 1.0, n1 / (SVM_RATIO * n0))
    return w * (len(labels) / w.sum())


def relevance_scores(
    features: Any,
    train: np.ndarray,
    labels: np.ndarray,
    settings: PrioritiseSettings,
    current: np.ndarray | None = None,
    prequential: Prequential | None = None,
) -> np.ndarray:
    """Predicted relevance of every row of ``features`` from a model fit on rows ``train``.

    ``logistic``: the log-odds of inclusion; ``svm``: the signed distance
    to the margin; ``ensemble``: the sum of both divided by their standard
    deviations over the training rows. Above 0 means "predicted included"
    (generously for ``svm``: ASReview's weights favour the includes 9.8:1);
    only the order matters for the queues.

    Parameters
    ----------
    features : sparse matrix
        Output of :func:`vectorise` for all records.
    train : array of int
        Row positions of the decided records.
    labels : array of {0, 1}
        Their final decisions (1 = included), both classes present.
    settings : PrioritiseSettings
    current : array of bool, optional
        Which training decisions are of the newest round; used when
        ``settings.balance_rounds`` (:func:`round_weights`) or
        ``settings.batch_model`` (an in-batch model on these rows alone, its
        probability averaged with the all-rounds model's: :func:`combined_log_odds`;
        weighted by evidence only through ``prequential``).
    prequential : Prequential, optional
        With ``batch_model``, in a record-by-record replay: the two models weighted by
        its evidence so far, and both models' scores kept for its
        :meth:`~Prequential.observe` of the next decision.

    Examples
    --------
    >>> from livingreview.screening.prioritise import PrioritiseSettings, vectorise
    >>> s = PrioritiseSettings()
    >>> X = vectorise(["insulin trial", "insulin app", "bird song", "bird flight", "insulin"], s)
    >>> score = relevance_scores(X, np.array([0, 1, 2, 3]), np.array([1, 1, 0, 0]), s)
    >>> bool(score[4] > 0)
    True
    """
    score, batch = model_pair_scores(features, train, labels, settings, current)
    if prequential is None:
        return score if batch is None else combined_log_odds(score, batch)
    prequential.last = None if batch is None else (score, batch)
    return score if batch is None else combined_log_odds(score, batch, prequential.log_evidence)


def model_pair_scores(
    features: Any,
    train: np.ndarray,
    labels: np.ndarray,
    settings: PrioritiseSettings,
    current: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The all-rounds model's scores and the in-batch model's (None when there is none).

    Arguments as :func:`relevance_scores`. The in-batch model exists when
    ``settings.batch_model`` is on, ``current`` marks some but not all
    training rows, and those hold an include and an exclude.
    """
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        raise ValueError("relevance_scores needs both included and excluded records")
    train = np.asarray(train, dtype=int)
    weight = None
    if settings.balance_rounds and current is not None:
        weight = round_weights(current)
    score = _model_scores(features, train, labels, settings, weight)
    if settings.batch_model and current is not None:
        current = np.asarray(current, dtype=bool)
        if 0 < current.sum() < len(current) and len(np.unique(labels[current])) == 2:
            batch = _model_scores(features, train[current], labels[current], settings, None)
            return score, batch
    return score, None


def _model_scores(
    features: Any,
    train: np.ndarray,
    labels: np.ndarray,
    settings: PrioritiseSettings,
    weight: np.ndarray | None,
) -> np.ndarray:
    """The decision values of ``settings.model`` fit on rows ``train``, for every row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    X = features[train]
    dual = len(train) < features.shape[1]  # the faster form when features outnumber records
    out = []
    if settings.model in ("logistic", "ensemble"):
        model = LogisticRegression(
            C=settings.C,
            class_weight="balanced",
            solver="liblinear",
            dual=dual,
            random_state=settings.seed,
            max_iter=1000,
        )
        model.fit(X, labels, sample_weight=weight)
        out.append(model.decision_function(features))
    if settings.model in ("svm", "ensemble"):
        svm = LinearSVC(
            C=SVM_C, loss="squared_hinge", dual=dual, random_state=settings.seed, max_iter=10_000
        )
        w = _svm_weights(labels)
        svm.fit(X, labels, sample_weight=w if weight is None else w * weight)
        out.append(svm.decision_function(features))
    if len(out) == 1:
        return out[0]
    return sum(s / (float(np.std(s[train])) or 1.0) for s in out)


def combined_log_odds(
    a: np.ndarray, b: np.ndarray, log_evidence: Sequence[float] | None = None
) -> np.ndarray:
    """Log-odds of the weighted mean of two models' probabilities (the logistic of their scores).

    ``batch_model``: the all-rounds model ``a`` and the in-batch model ``b``
    vote on the probability scale, so neither model's scale (a model fit on
    a handful of decisions can be far more confident) decides alone which
    records come first; above 0 still means "predicted included". Without
    ``log_evidence`` (``batch_model: true``) they weigh the same; with it
    (a replay's :class:`Prequential`) each weighs in
    proportion to ``exp`` of its log evidence, Bayesian model averaging. For
    ``svm`` and ``ensemble`` the logistic of the decision value is not a
    calibrated probability, only a monotone squashing of it.

    Examples
    --------
    >>> bool(abs(combined_log_odds(np.array([2.0]), np.array([-2.0]))[0]) < 1e-12)
    True
    >>> combined_log_odds(np.array([-30.0, 3.0]), np.array([1.0, 1.0])).round(3).tolist()
    [-0.551, 1.672]
    >>> combined_log_odds(np.array([2.0]), np.array([-2.0]), [0.0, -50.0]).round(6).tolist()
    [2.0]
    """
    from scipy.special import expit, logit

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if log_evidence is None:
        return logit((expit(a) + expit(b)) / 2)
    w = float(expit(log_evidence[0] - log_evidence[1]))  # exp(la) / (exp(la) + exp(lb))
    return logit(w * expit(a) + (1 - w) * expit(b))


def predictive_log_likelihood(score: float | np.ndarray, label: int | np.ndarray) -> np.ndarray:
    """``log P(label)`` that a score gave a decision, the probability being its logistic."""
    from scipy.special import log_expit

    score, label = np.asarray(score, dtype=float), np.asarray(label)
    return log_expit(np.where(label == 1, score, -score))


@dataclass
class Prequential:
    """The all-rounds and in-batch models of ``batch_model`` weighted by their record, in a replay.

    Each model's weight is proportional to the product of the probabilities
    it gave the batch's decisions *before* it was trained on them (Dawid's
    prequential principle, Dawid 1984, J R Stat Soc A 147:278-292; the
    weighting of dynamic weighted majority, Kolter & Maloof 2007, JMLR
    8:2755-2790, without its constants): under concept drift the model that
    has predicted this batch better takes over, from the batch's own
    evidence, with no tuned constant. Both start at weight 1/2 when the
    in-batch model first exists (:func:`combined_log_odds` then is the
    plain average). It needs the decisions in the order they were made, so
    it serves record-by-record replays (``bench/bench_prioritise.py``), not
    the pipeline's one ranking per run (:func:`~.prioritise.rank`), and is not
    a configuration value: in the replays of ``bench/RESULTS.md`` it lost to
    the plain average on two of three reviews. A replay passes
    it to :func:`relevance_scores` before each decision and calls
    :meth:`observe` with the decision.

    Examples
    --------
    >>> from livingreview.screening.prioritise import PrioritiseSettings, vectorise
    >>> s = PrioritiseSettings(batch_model=True)
    >>> X = vectorise(["insulin a", "bird a", "bird b", "insulin b", "bird c"], s)
    >>> p = Prequential()  # earlier round: insulin included; the batch: bird included
    >>> cur = np.array([0, 0, 1, 1], bool)
    >>> _ = relevance_scores(X, np.arange(4), np.array([1, 0, 1, 0]), s, cur, prequential=p)
    >>> p.observe(4, 1)
    >>> p.log_evidence[1] > p.log_evidence[0]  # the in-batch model predicted "bird c" better
    True
    """

    log_evidence: list[float] = field(default_factory=lambda: [0.0, 0.0])
    last: tuple[np.ndarray, np.ndarray] | None = None  # both models' scores before the decision

    def observe(self, row: int, label: int) -> None:
        """Add what each model of the last :func:`relevance_scores` predicted for ``row``'s decision."""
        if self.last is not None:
            for m, score in enumerate(self.last):
                self.log_evidence[m] += float(predictive_log_likelihood(score[row], label))
