"""Hashed TF-IDF features of the records' title, abstract, MeSH terms and keywords.

Split off :mod:`livingreview.screening.prioritise`: the text a model reads
(:func:`record_text`, :func:`_model_text`) and :func:`vectorise`, hashed word
uni- and bigrams with sublinear TF and smoothed IDF, identical (a unit test
holds it) to scikit-learn's ``HashingVectorizer`` + ``TfidfTransformer``, and
collision-free with ``hash_bits: 64``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .prioritise import PrioritiseSettings

__all__ = ["TEXT_FIELDS", "record_text", "vectorise"]

#: Record-store columns whose text the model reads (a missing column counts as empty).
TEXT_FIELDS = ("title", "abstract", "mesh_terms", "keywords")
#: ASReview LAB 2-3's ELAS u4 drops terms in more than 95% of records (svm and ensemble).
SVM_MAX_DF = 0.95


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
