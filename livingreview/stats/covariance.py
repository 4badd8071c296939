"""Sampling covariance of several effects from the same trial (block-diagonal V).

Two effects of one trial are estimated on overlapping participants, so their
sampling errors are correlated. Two ways of filling in V:

* :func:`impute_covariance`: a working correlation rho between any two
  effects of a trial, V_jl = rho sqrt(v_j v_l), as metafor's
  ``vcalc(vi, cluster, obs, rho)`` and clubSandwich's
  ``impute_covariance_matrix(vi, cluster, r)``.
* :func:`shared_control_covariance`: the exact large-sample covariance of
  effects that compare several arms with one shared control arm (Gleser &
  Olkin 2009), so a three-arm trial is neither double counted nor split by
  hand.

V is kept as a :class:`BlockDiagonal` (a sparse matrix whose blocks lie within
trials); :mod:`livingreview.stats.multilevel` reads it block by block and never
forms a dense k x k matrix.

References: Gleser LJ, Olkin I (2009) Stochastically dependent effect sizes.
In Cooper, Hedges, Valentine (eds) The Handbook of Research Synthesis and
Meta-Analysis, 2nd ed., 357-376. Pustejovsky JE, Tipton E (2021) Meta-analysis
with robust variance estimation: expanding the range of working models.
Prev Sci 23:425-438.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["MEASURES", "BlockDiagonal", "impute_covariance", "shared_control_covariance"]

MEASURES = ("SMD", "MD", "OR", "RR", "RD")


@dataclass(frozen=True, eq=False)
class BlockDiagonal:
    """A k x k block-diagonal sampling covariance matrix, stored sparse.

    ``matrix`` is a ``scipy.sparse.csr_array``; ``cluster`` gives each row's
    block code (rows of a block need not be contiguous).
    """

    matrix: sparse.csr_array
    cluster: np.ndarray

    @property
    def k(self) -> int:
        return int(self.matrix.shape[0])

    def diagonal(self) -> np.ndarray:
        return np.asarray(self.matrix.diagonal(), dtype=float)

    def to_dense(self) -> np.ndarray:
        """The full k x k matrix (for tests and small data only)."""
        return self.matrix.toarray()

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Sub-blocks V[rows[b], rows[b]] for an (nb, n) array of row indices -> (nb, n, n)."""
        nb, n = rows.shape
        out = np.empty((nb, n, n))
        for i in range(n):
            for j in range(n):
                out[:, i, j] = self.matrix[rows[:, i], rows[:, j]]
        return out

    @classmethod
    def from_blocks(
        cls, rows: Sequence[Sequence[int]], blocks: Sequence[Any], k: int | None = None
    ) -> BlockDiagonal:
        """Build from a list of row-index lists and the matching square blocks.

        Examples
        --------
        >>> V = BlockDiagonal.from_blocks([[0, 1], [2]], [[[1.0, 0.5], [0.5, 2.0]], [[3.0]]])
        >>> V.to_dense()
        array([[1. , 0.5, 0. ],
               [0.5, 2. , 0. ],
               [0. , 0. , 3. ]])
        """
        r_all, c_all, v_all = [], [], []
        cluster_of: dict[int, int] = {}
        for b, (idx, blk) in enumerate(zip(rows, blocks, strict=True)):
            idx = np.asarray(idx, dtype=np.int64)
            A = np.asarray(blk, dtype=float).reshape(idx.size, idx.size)
            if not np.allclose(A, A.T, rtol=1e-12, atol=0):
                raise ValueError(f"covariance block {b} (rows {idx.tolist()}) is not symmetric")
            for i in idx:
                if int(i) in cluster_of:
                    raise ValueError(f"row {int(i)} appears in two covariance blocks")
                cluster_of[int(i)] = b
            rr, cc = np.meshgrid(idx, idx, indexing="ij")
            r_all.append(rr.ravel())
            c_all.append(cc.ravel())
            v_all.append(A.ravel())
        n = k if k is not None else (max(cluster_of) + 1 if cluster_of else 0)
        missing = sorted(set(range(n)) - set(cluster_of))
        if missing:
            raise ValueError(f"row {missing[0]} is in no covariance block")
        mat = sparse.csr_array(
            (np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))), shape=(n, n)
        )
        cluster = np.array([cluster_of[i] for i in range(n)], dtype=np.int64)
        return cls(matrix=mat, cluster=cluster)


def _codes(x: Any, k: int, name: str) -> np.ndarray:
    s = pd.Series(np.asarray(x, dtype=object).reshape(-1))
    if len(s) != k:
        raise ValueError(f"{name} has {len(s)} entries for {k} effects")
    if s.isna().any():
        raise ValueError(f"effect {int(np.flatnonzero(s.isna().to_numpy())[0])}: {name} is missing")
    return pd.factorize(s)[0].astype(np.int64)


def _pairs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (row, col) pairs of rows sharing a code, diagonal included, vectorised by size."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rr, cc = [], []
    for n in np.unique(sizes):
        cl = np.flatnonzero(sizes == n)
        rows = order[starts[cl][:, None] + np.arange(n)[None, :]]  # (nb, n)
        rr.append(np.repeat(rows, n, axis=1).ravel())
        cc.append(np.tile(rows, (1, n)).ravel())
    return np.concatenate(rr), np.concatenate(cc)


def _vector(x: Any, k: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1)
    if a.size != k:
        raise ValueError(f"{name} has {a.size} entries for {k} effects")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"effect {bad[0]}: {name} must be a finite number")
    return a


def impute_covariance(
    vi: Sequence[float] | np.ndarray, cluster: Sequence[Any] | np.ndarray, rho: float
) -> BlockDiagonal:
    """Block-diagonal V with a constant working correlation within each cluster.

    Parameters
    ----------
    vi
        Sampling variances (> 0), one per effect.
    cluster
        Cluster (trial) of each effect.
    rho
        Correlation between the sampling errors of two effects of the same
        cluster, in (-1, 1).

    Returns
    -------
    BlockDiagonal
        V with V_jj = v_j and V_jl = rho sqrt(v_j v_l) within a cluster, 0
        across clusters.

    Notes
    -----
    The common working model of robust variance estimation (Hedges, Tipton &
    Johnson 2010; Pustejovsky & Tipton 2021): equal to metafor's
    ``vcalc(vi, cluster, obs = seq_along(vi), rho = rho)`` and
    clubSandwich's ``impute_covariance_matrix(vi, cluster, r = rho)``.

    Examples
    --------
    >>> V = impute_covariance([0.04, 0.09, 0.01], ["a", "a", "b"], rho=0.5)
    >>> V.to_dense().round(4)
    array([[0.04, 0.03, 0.  ],
           [0.03, 0.09, 0.  ],
           [0.  , 0.  , 0.01]])
    """
    v = _vector(vi, len(np.asarray(vi).reshape(-1)), "vi")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise ValueError(f"effect {bad[0]}: vi must be > 0 (got {v[bad[0]]!r})")
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1); got {rho!r}")
    codes = _codes(cluster, v.size, "cluster")
    r, c = _pairs(codes)
    val = np.where(r == c, v[r], rho * np.sqrt(v[r] * v[c]))
    mat = sparse.csr_array((val, (r, c)), shape=(v.size, v.size))
    return BlockDiagonal(matrix=mat, cluster=codes)


def shared_control_covariance(
    measure: str,
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    trial: Sequence[Any] | np.ndarray,
    control: Sequence[Any] | np.ndarray,
    *,
    n_control: Sequence[float] | np.ndarray,
    n_total: Sequence[float] | np.ndarray | None = None,
    events_control: Sequence[float] | np.ndarray | None = None,
    sd_control: Sequence[float] | np.ndarray | None = None,
) -> BlockDiagonal:
    """Covariance of effects that share a control arm (multi-arm trials), Gleser & Olkin (2009).

    Parameters
    ----------
    measure
        ``"SMD"`` (standardised mean difference), ``"MD"``, ``"OR"`` (log odds
        ratio), ``"RR"`` (log risk ratio) or ``"RD"``.
    yi, vi
        Effects and their sampling variances (the diagonal of V).
    trial
        Trial of each effect.
    control
        Label of the control arm each effect is computed against; effects of
        the same trial with the same label share that arm. Effects of one
        trial with different control labels are taken as independent.
    n_control
        Size of the control arm (after any continuity correction for binary
        outcomes).
    n_total
        SMD: total sample size of the trial over all its arms.
    events_control
        OR, RR, RD: events in the control arm (corrected counts, as used for
        yi).
    sd_control
        MD: standard deviation of the control arm.

    Returns
    -------
    BlockDiagonal
        V with the given vi on the diagonal and the shared-control covariance
        between effects of the same (trial, control).

    Notes
    -----
    The covariance of two contrasts against one control arm is the variance
    of the control arm's contribution (delta method):

    * MD: sd_c^2 / n_c
    * log OR: 1/a_c + 1/(n_c - a_c)
    * log RR: 1/a_c - 1/n_c
    * RD: p_c (1 - p_c) / n_c with p_c = a_c / n_c
    * SMD: 1/n_c + d_j d_l / (2 N), N the total sample size of the trial
      (Gleser & Olkin 2009, eq. 19.27, as in the metafor analysis example
      for ``dat.gleser2009``).

    Examples
    --------
    >>> V = shared_control_covariance("RR", [-0.2, -0.4], [0.05, 0.06], trial=[1, 1],
    ...     control=["placebo", "placebo"], n_control=[50, 50], events_control=[20, 20])
    >>> V.to_dense().round(4)
    array([[0.05, 0.03],
           [0.03, 0.06]])
    """
    m = str(measure).upper()
    if m not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}; got {measure!r}")
    v = _vector(vi, len(np.asarray(vi).reshape(-1)), "vi")
    k = v.size
    y = _vector(yi, k, "yi")
    nc = _vector(n_control, k, "n_control")
    needs = {
        "SMD": ("n_total", n_total),
        "MD": ("sd_control", sd_control),
        "OR": ("events_control", events_control),
        "RR": ("events_control", events_control),
        "RD": ("events_control", events_control),
    }[m]
    if needs[1] is None:
        raise ValueError(f"measure {m} needs {needs[0]}")
    extra = _vector(needs[1], k, needs[0])
    tcodes = _codes(trial, k, "trial")
    ccodes = _codes(control, k, "control")
    shared = pd.factorize(pd.Series(list(zip(tcodes, ccodes, strict=True))))[0]
    # the control arm's data must be the same on every row that shares it
    frame = pd.DataFrame({"g": shared, "nc": nc, "x": extra})
    for col, label in (("nc", "n_control"), ("x", needs[0])):
        first = frame.groupby("g")[col].transform("first")
        bad = np.flatnonzero(first.to_numpy() != frame[col].to_numpy())
        if bad.size:
            raise ValueError(
                f"effect {bad[0]}: {label} differs from the other effects sharing its control arm"
            )
    if m == "SMD":
        cov_term = 1 / nc
    elif m == "MD":
        cov_term = extra**2 / nc
    elif m == "OR":
        cov_term = 1 / extra + 1 / (nc - extra)
    elif m == "RR":
        cov_term = 1 / extra - 1 / nc
    else:
        pc = extra / nc
        cov_term = pc * (1 - pc) / nc
    r, c = _pairs(shared)
    off = cov_term[r]
    if m == "SMD":
        off = off + y[r] * y[c] / (2 * extra[r])
    val = np.where(r == c, v[r], off)
    mat = sparse.csr_array((val, (r, c)), shape=(k, k))
    # blocks are by shared control arm; the trial partition is coarser (checked by the fit)
    return BlockDiagonal(matrix=mat, cluster=shared.astype(np.int64))
