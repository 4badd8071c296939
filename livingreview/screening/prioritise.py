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
reviews).

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
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "METHOD",
    "PrioritiseSettings",
    "StoppingEstimate",
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
    "stopping_estimate",
    "stopping_sample",
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
#: ASReview LAB 2-3's default model ELAS u4 (asreview/models/models.py): SVM C, include:exclude ratio.
SVM_C, SVM_RATIO, SVM_MAX_DF = 0.11, 9.8, 0.95
STOPPING_METHOD = "random-sample hypergeometric stopping criterion (Callaghan & Muller-Hansen 2020)"
#: Record-store columns whose text the model reads (a missing column counts as empty).
TEXT_FIELDS = ("title", "abstract", "mesh_terms", "keywords")
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
        Also train an in-batch model on the newest update's decisions alone
        (what a new ASReview project on the batch would learn) and average
        its predicted probability of inclusion with the all-rounds model's
        (:func:`combined_log_odds`), once the newest update has at least one
        include and one exclude; before that, and when every decision is of
        one round, the all-rounds model alone ranks.
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
            if name in kwargs:
                kwargs[name] = bool(kwargs[name])
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- model


def _ids(records: pd.DataFrame) -> pd.Index:
    if "record_id" in records.columns:
        return pd.Index(records["record_id"].astype(str))
    return pd.Index(records.index.astype(str))


def record_text(records: pd.DataFrame) -> pd.Series:
    """Title, abstract, MeSH terms and keywords of each record as one string, by record_id.

    Examples
    --------
    >>> recs = pd.DataFrame({"record_id": ["1"], "title": ["Trial"], "mesh_terms": ["Diabetes"]})
    >>> record_text(recs).tolist()
    ['Trial Diabetes']
    """
    text = _joined_text(records, ";")
    return pd.Series([" ".join(t.split()) for t in text], index=_ids(records), dtype=object)


def _joined_text(records: pd.DataFrame, replace: str | None = None) -> np.ndarray:
    """The text fields of each record joined by spaces (``replace`` characters made spaces)."""
    parts = []
    for c in TEXT_FIELDS:
        if c in records.columns:
            part = records[c].fillna("").astype(str)
            if replace:
                part = part.str.replace(replace, " ", regex=False)
            parts.append(part.to_numpy(dtype=object))
    if not parts:
        return np.full(len(records), "", dtype=object)
    text = parts[0]
    for p in parts[1:]:
        text = text + " " + p
    return text


def _model_text(records: pd.DataFrame, ids: Sequence[str]) -> list[str]:
    """What :func:`vectorise` reads of the records ``ids``, in that order, read once.

    The same matrix as ``vectorise(record_text(records).loc[ids])``, without
    :func:`record_text`'s pass over every record of the store to tidy its
    spacing and semicolons: the tokeniser treats them as :func:`_prepared`
    says (ASCII spacing and ``;`` separate words anyway; other text has its
    spacing tidied there). A unit test holds the two to the same matrix.
    """
    all_ids = _ids(records)
    need = all_ids.isin(ids)
    text = pd.Series(_joined_text(records[need]), index=all_ids[need], dtype=object)
    missing = [r for r in ids if r not in text.index]
    if missing:
        raise KeyError(f"record_id {missing[0]!r} is not in the record store")
    return text.loc[list(ids)].tolist()


_WORD = b"abcdefghijklmnopqrstuvwxyz0123456789_\x01"
#: Lower-cased ASCII bytes -> words separated by spaces; b"\x01" (the record separator) kept.
_SPLIT = bytes(c if c in _WORD or c > 127 else 32 for c in range(256))
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def _prepared(text: str, strip_accents: bool) -> str:
    """Text ready for the bytes split: ASCII as is; other text accent-stripped, or pre-tokenised.

    Without ``strip_accents`` a non-ASCII text is lower-cased and reduced to
    its scikit-learn tokens joined by spaces (its non-ASCII bytes are kept
    by the split), as ``TfidfVectorizer``'s defaults tokenise it.
    """
    text = text.replace("\x01", " ")
    if text.isascii():  # every ASCII space and punctuation byte separates words in the split
        return text
    text = " ".join(text.split())  # other spacing (NEL, U+2028, ...) as record_text tidies it
    if strip_accents:
        return _ascii(text)
    return " ".join(_TOKEN.findall(text.lower()))


_CHUNK = 4000  # records per vectorising chunk (bounds the memory of the token lists)


def _ascii(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 64-bit hash of the pair (a, b) of 32-bit token hashes (splitmix64's finaliser)."""
    with np.errstate(over="ignore"):
        x = (a << np.uint64(32)) | b
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 62-bit hash of the pair (a, b) of 64-bit hashes (bigrams of the collision-free mode)."""
    with np.errstate(over="ignore"):
        return _mix(_mix(a, np.uint64(0)) ^ b, np.uint64(1)) & _MASK62


_MASK62 = np.uint64(2**62 - 1)
#: ``hash_bits: 64``: 62-bit keys, so that collisions are practically impossible (see vectorise).
_EXACT = 2**62


def _hashed_counts(
    texts: Sequence[str], ngram_max: int, n_features: int, strip_accents: bool = True
) -> Any:
    """Term counts of one chunk of texts, CSR with ``n_features`` hashed columns.

    Tokens are scikit-learn's default (``(?u)\\b\\w\\w+\\b`` on the lower-cased
    text, accents stripped): on ASCII text that is every run of 2+ letters,
    digits or underscores, found here with ``bytes.translate`` and ``bytes.split``
    over the whole chunk's bytes at once instead of one regular-expression pass per
    record. A word's column is ``abs(murmurhash3_32(word)) % n_features``,
    exactly scikit-learn's ``HashingVectorizer`` (``alternate_sign=False``); a
    bigram's column mixes its two words' hashes (as Vowpal Wabbit hashes
    n-grams), so no bigram string is ever built. Columns depend on the text
    alone, so chunks can be vectorised separately (and in parallel) and
    stacked.
    """
    from scipy import sparse
    from sklearn.utils import murmurhash3_32

    if not texts:
        return sparse.csr_matrix((0, n_features), dtype=np.float64)
    text = " \x01 ".join(_prepared(t, strip_accents) for t in texts)
    words = text.encode("utf-8").lower().translate(_SPLIT).split()
    codes, unique = pd.factorize(np.asarray(words, dtype=object))
    del words
    is_sep = np.zeros(len(unique), dtype=bool)
    long_enough = np.fromiter(map(len, unique), dtype=np.int64, count=len(unique)) > 1
    sep = np.flatnonzero(unique == b"\x01")
    is_sep[sep] = True
    row = np.cumsum(is_sep[codes])  # record of each word
    keep = long_enough[codes] & ~is_sep[codes]
    codes, row = codes[keep], row[keep]
    signed = np.fromiter(
        (murmurhash3_32(u, seed=0) for u in unique), dtype=np.int64, count=len(unique)
    )
    h = (signed & 0xFFFFFFFF).astype(np.uint64)
    if n_features == _EXACT:  # a second, independent 32-bit hash makes 64-bit word keys
        second = np.fromiter(
            (murmurhash3_32(u, seed=1, positive=True) for u in unique),
            dtype=np.uint64,
            count=len(unique),
        )
        h = _mix(h, second)
        cols = [(h[codes] & _MASK62).astype(np.int64)]
    else:
        cols = [np.abs(signed[codes]) % n_features]
    rows = [row]
    if ngram_max == 2 and len(codes) > 1:
        pair = row[1:] == row[:-1]
        a, b = h[codes[:-1][pair]], h[codes[1:][pair]]
        if n_features == _EXACT:
            cols.append(_mix2(a, b).astype(np.int64))
        else:
            cols.append((_mix(a, b) % np.uint64(n_features)).astype(np.int64))
        rows.append(row[:-1][pair])
    r, c = np.concatenate(rows), np.concatenate(cols)
    if n_features == _EXACT:
        counts = sparse.csr_matrix(
            (np.ones(len(r), dtype=np.float64), (r, c)), shape=(len(texts), n_features)
        )
        counts.sum_duplicates()
        return counts
    return _csr_counts(r, c, len(texts), n_features)


def _csr_counts(row: np.ndarray, col: np.ndarray, n_rows: int, n_features: int) -> Any:
    """Canonical CSR counts of the (row, col) pairs: one sort of ``row * n_features + col``.

    The same matrix as scipy's COO -> CSR + ``sum_duplicates`` (sorted
    indices, duplicates summed), in a third of its time: the packed keys
    (32-bit when they fit) are sorted at once (numpy's vectorised sort)
    instead of row by row, and runs of equal keys are counted.
    """
    from scipy import sparse

    bits = int(n_features - 1).bit_length()
    unsigned = np.uint64 if n_rows << bits > 2**32 else np.uint32
    shift = unsigned(bits)
    key = (row.astype(unsigned) << shift) | col.astype(unsigned)
    key.sort()
    first = np.ones(len(key), dtype=bool)  # the first of each run of equal keys
    first[1:] = key[1:] != key[:-1]
    start = np.flatnonzero(first)
    data = np.empty(len(start), dtype=np.float64)  # the length of each run
    np.subtract(start[1:], start[:-1], out=data[:-1], casting="unsafe")
    data[-1:] = len(key) - start[-1:]
    key = key[start]
    indices = (key & unsigned((1 << bits) - 1)).astype(np.int32)
    rows = (key >> shift).astype(np.int64)
    indptr = np.zeros(n_rows + 1, dtype=np.int32 if len(key) < 2**31 else np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_features))


def vectorise(texts: Sequence[str], settings: PrioritiseSettings) -> Any:
    """TF-IDF matrix (scipy CSR, one row per text): hashed word uni- (and bi-) grams.

    Terms are hashed into ``2**hash_bits`` columns (:func:`_hashed_counts`:
    words as scikit-learn's ``HashingVectorizer``, bigrams from their words'
    hashes) and weighted by sublinear TF and smoothed IDF, rows
    L2-normalised (``TfidfTransformer``). Hashing needs no vocabulary, so the
    records are vectorised in independent chunks of 4,000, in
    ``settings.n_jobs`` processes; the stacked matrix is the same, bit for
    bit, for any number of processes. With ``2**20`` columns collisions are
    rare at review scale. Columns no record uses are dropped (the
    classifier's cost grows with the columns). The IDF is fitted on all
    records given (decided and undecided), as ASReview does: the text of an
    undecided record is known, its label is not.
    """
    from scipy import sparse

    texts = list(texts)
    chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)] or [[]]
    n_features = _EXACT if settings.hash_bits == 64 else 2**settings.hash_bits
    strip = settings.model == "logistic"  # ELAS u4 keeps accents (TfidfVectorizer's default)
    if settings.n_jobs > 1 and len(chunks) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=settings.n_jobs)(
            delayed(_hashed_counts)(c, settings.ngram_max, n_features, strip) for c in chunks
        )
    else:
        parts = [_hashed_counts(c, settings.ngram_max, n_features, strip) for c in chunks]
    # Stack the chunks by hand (sparse.vstack checks and copies more), indices
    # kept int32 where they fit: every later step, liblinear's included, is a
    # pass over these arrays.
    n_rows = sum(p.shape[0] for p in parts)
    nnz = np.cumsum([0] + [p.nnz for p in parts])
    index = np.int32 if n_features < 2**31 and nnz[-1] < 2**31 else np.int64
    data = np.concatenate([p.data for p in parts])
    indices = np.concatenate([p.indices for p in parts]).astype(index, copy=False)
    indptr = np.concatenate(
        [np.zeros(1, dtype=index)]
        + [(p.indptr[1:] + off).astype(index) for p, off in zip(parts, nnz[:-1], strict=True)]
    )
    # Keep only the columns some record uses (for svm/ensemble, as ELAS u4, not
    # those in more than 95% of the records): a monotone relabelling of the
    # column indices, O(non-zeros) (fancy column indexing would copy far more).
    if n_features == _EXACT:  # the keys used, in key order
        _, column = np.unique(indices, return_inverse=True)
        column = column.astype(index, copy=False)
    else:
        present = np.zeros(n_features, dtype=bool)
        present[indices] = True
        column = (np.cumsum(present, dtype=index) - 1).take(indices)
    df = np.bincount(column)  # records per column (a record's columns are distinct)
    used = np.ones(len(df), dtype=bool)
    if settings.model != "logistic":  # ELAS u4's max_df = 0.95: drop terms in > 95% of records
        used &= df <= SVM_MAX_DF * n_rows
    keep = used[column]
    if not keep.all():
        relabel = (np.cumsum(used, dtype=index) - 1).astype(index)
        row = np.repeat(np.arange(n_rows), np.diff(indptr))[keep]
        data, column, df = data[keep], relabel[column[keep]], df[used]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))])
        indptr = indptr.astype(index)
    return _tfidf(sparse.csr_matrix((data, column, indptr), shape=(n_rows, len(df))), df)


def _tfidf(counts: Any, df: np.ndarray) -> Any:
    """``TfidfTransformer(sublinear_tf=True).fit_transform(counts)``, in place, bit for bit.

    The same operations in the same order as scikit-learn's (smoothed IDF
    ``log((n + 1) / (df + 1)) + 1``, ``1 + log(tf)``, rows L2-normalised by
    its ``normalize``), without its copies and checks of the large matrix;
    ``df`` is the records per column, already counted. A unit test holds it to
    scikit-learn's.
    """
    from sklearn.preprocessing import normalize

    idf = np.full(len(df), counts.shape[0] + 1, dtype=np.float64)
    idf /= df.astype(np.float64) + 1.0
    np.log(idf, out=idf)
    idf += 1.0
    data = counts.data
    np.log(data, out=data)
    data += 1.0
    data *= idf[counts.indices]
    return normalize(counts, norm="l2", copy=False)


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
        probability averaged with the all-rounds model's: :func:`combined_log_odds`).

    Examples
    --------
    >>> s = PrioritiseSettings()
    >>> X = vectorise(["insulin trial", "insulin app", "bird song", "bird flight", "insulin"], s)
    >>> score = relevance_scores(X, np.array([0, 1, 2, 3]), np.array([1, 1, 0, 0]), s)
    >>> bool(score[4] > 0)
    True
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
            score = combined_log_odds(score, batch)
    return score


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


def combined_log_odds(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log-odds of the mean of two models' probabilities (the logistic of their scores).

    ``batch_model``: the all-rounds model and the in-batch model vote with
    equal weight on the probability scale, so neither model's scale (a model
    fit on a handful of decisions can be far more confident) decides alone
    which records come first; above 0 still means "predicted included".
    For ``svm`` and ``ensemble`` the logistic of the decision value is not a
    calibrated probability, only a monotone squashing of it.

    Examples
    --------
    >>> bool(abs(combined_log_odds(np.array([2.0]), np.array([-2.0]))[0]) < 1e-12)
    True
    >>> combined_log_odds(np.array([-30.0, 3.0]), np.array([1.0, 1.0])).round(3).tolist()
    [-0.551, 1.672]
    """
    from scipy.special import expit, logit

    return logit((expit(np.asarray(a, dtype=float)) + expit(np.asarray(b, dtype=float))) / 2)


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


# --------------------------------------------------------------------------- stopping


@dataclass(frozen=True)
class StoppingEstimate:
    """Relevant records still unscreened, estimated from a random sample of them.

    ``remaining`` is the point estimate of the relevant records still
    unscreened once the sample is screened, ``k (N - n) / n``;
    ``remaining_low`` and ``remaining_high`` its exact two-sided
    hypergeometric interval at ``level``;
    ``recall`` and ``recall_low`` the implied recall so far (estimate and lower
    bound); ``p_value`` tests H0 "recall is below ``target_recall``" and
    ``can_stop`` is ``p_value < 1 - level``. Advice only.
    """

    method: str
    n_unscreened: int
    sample_size: int
    sample_relevant: int
    found: int
    remaining: float
    remaining_low: int
    remaining_high: int
    recall: float
    recall_low: float
    target_recall: float
    p_value: float
    level: float
    can_stop: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stopping_sample(unscreened: Sequence[str], size: int, seed: int = 0) -> list[str]:
    """A simple random sample (without replacement) of the unscreened records to screen next.

    The sample must be random, not the top of the ranking, for
    :func:`stopping_estimate` to hold.

    Examples
    --------
    >>> stopping_sample(["a", "b", "c", "d"], 2, seed=1) == stopping_sample(["a", "b", "c", "d"], 2, 1)
    True
    """
    ids = list(unscreened)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), size=min(size, len(ids)), replace=False)
    return [ids[i] for i in sorted(pick)]


def stopping_estimate(
    found: int,
    n_unscreened: int,
    sample_size: int,
    sample_relevant: int,
    settings: PrioritiseSettings | Mapping[str, Any] | None = None,
) -> StoppingEstimate:
    """Estimate the relevant records left after screening a random sample of the remainder.

    The team has screened some records in ranked order and found ``found``
    relevant ones. Of the ``n_unscreened`` records still left, a simple
    random sample of ``sample_size`` is screened and holds ``sample_relevant``
    relevant ones. The number ``K`` of relevant records among the
    ``n_unscreened`` then makes ``sample_relevant`` hypergeometric
    (population ``n_unscreened``, ``K`` successes, ``sample_size`` draws):

    * relevant records left after the sample, ``K - sample_relevant``: point
      estimate ``sample_relevant * (n_unscreened - sample_size) / sample_size``;
    * exact interval: every ``K`` not rejected by either one-sided test at
      ``(1 - level) / 2``, minus ``sample_relevant``;
    * stopping test (Callaghan & Müller-Hansen 2020): H0 "recall <
      ``target_recall``" holds iff ``K >= K_tar`` with
      ``K_tar = floor((found + sample_relevant) / target_recall - found) + 1``;
      ``p = P(X <= sample_relevant | n_unscreened, K_tar, sample_size)``.
      ``can_stop`` when ``p < 1 - level``: stopping after the sample misses
      the target recall with probability at most ``1 - level``.

    It advises; it never excludes a record. Reference: Callaghan MW,
    Müller-Hansen F. Statistical stopping criteria for automated screening in
    systematic reviews. Syst Rev 2020;9:273. doi:10.1186/s13643-020-01521-4.

    Examples
    --------
    >>> e = stopping_estimate(found=40, n_unscreened=1000, sample_size=200, sample_relevant=0)
    >>> e.remaining, e.remaining_low, e.remaining_high, e.can_stop
    (0.0, 0, 16, False)
    >>> e = stopping_estimate(found=40, n_unscreened=1000, sample_size=800, sample_relevant=0)
    >>> e.remaining_high, e.can_stop, round(e.p_value, 4)
    (2, True, 0.0079)
    """
    from scipy.stats import hypergeom

    settings = PrioritiseSettings.from_params(settings)
    N, n, k = int(n_unscreened), int(sample_size), int(sample_relevant)
    if not 0 <= n <= N or not 0 <= k <= n or found < 0:
        raise ValueError(
            f"need 0 <= sample_relevant ({k}) <= sample_size ({n}) <= n_unscreened ({N})"
        )
    alpha = 1 - settings.level
    if n == 0:
        est, low, high = math.nan, 0, N
    else:
        K = np.arange(k, N - (n - k) + 1)
        keep_high = hypergeom.cdf(k, N, K, n) > alpha / 2  # P(X <= k | K): too small K is kept
        keep_low = hypergeom.sf(k - 1, N, K, n) > alpha / 2  # P(X >= k | K)
        kept = K[keep_high & keep_low]
        est = k * (N - n) / n
        low, high = (int(kept.min()) - k, int(kept.max()) - k) if kept.size else (0, 0)
    total_found = found + k
    k_tar = math.floor(total_found / settings.target_recall - found) + 1
    if n == 0:
        p = 1.0
    elif k_tar > N:  # even every unscreened record relevant would not keep recall below target
        p = 0.0
    else:
        p = float(hypergeom.cdf(k, N, max(k_tar, k), n))
    recall = total_found / (total_found + est) if total_found and not math.isnan(est) else math.nan
    recall_low = total_found / (total_found + high) if total_found + high > 0 else math.nan
    return StoppingEstimate(
        method=STOPPING_METHOD,
        n_unscreened=N,
        sample_size=n,
        sample_relevant=k,
        found=int(found),
        remaining=float(est),
        remaining_low=low,
        remaining_high=high,
        recall=float(recall),
        recall_low=float(recall_low),
        target_recall=settings.target_recall,
        p_value=p,
        level=settings.level,
        can_stop=bool(p < alpha),
    )
