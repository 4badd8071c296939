"""Two public meta-analysis datasets (R package metadat) for examples and doctests.

The numbers are those of metadat 1.2 (``dat.bcg``, ``dat.normand1999``), checked
against the effect sizes metafor computes from them in
``tests/reference/metafor_reference.json`` (datasets ``bcg_rr``, effects ``smd``),
so an example's output is a metafor number.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["bcg", "normand1999"]


def bcg() -> pd.DataFrame:
    """The 13 BCG vaccine trials against tuberculosis (metadat ``dat.bcg``).

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``trial``, ``year``, ``tpos``/``tneg`` (vaccinated,
        tuberculosis positive/negative), ``cpos``/``cneg`` (not vaccinated) and
        ``ablat`` (absolute latitude of the trial, degrees).

    Notes
    -----
    Colditz GA, Brewer TF, Berkey CS, et al. Efficacy of BCG vaccine in the
    prevention of tuberculosis: meta-analysis of the published literature.
    JAMA 1994;271:698-702.

    Examples
    --------
    >>> from livingreview.stats import datasets
    >>> dat = datasets.bcg()
    >>> len(dat), int(dat.tpos.sum()), int(dat.cpos.sum())
    (13, 1065, 1510)
    """
    return pd.DataFrame(
        {
            "trial": range(1, 14),
            "year": [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976],
            "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
            "tneg": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
            "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
            "cneg": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
            "ablat": [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33],
        }
    )


def normand1999() -> pd.DataFrame:
    """Length of hospital stay (days), specialist stroke care vs usual care (``dat.normand1999``).

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study``, then mean, SD and size of the
        specialist-care arm (``m1i``, ``sd1i``, ``n1i``) and of the
        routine-care arm (``m2i``, ``sd2i``, ``n2i``).

    Notes
    -----
    Normand SLT. Meta-analysis: formulating, evaluating, combining, and
    reporting. Stat Med 1999;18:321-359.

    Examples
    --------
    >>> from livingreview.stats import datasets
    >>> dat = datasets.normand1999()
    >>> len(dat), int(dat.n1i.sum()), int(dat.n2i.sum())
    (9, 548, 610)
    """
    return pd.DataFrame(
        {
            "study": range(1, 10),
            "m1i": [55, 27, 64, 66, 14, 19, 52, 21, 30],
            "sd1i": [47, 7, 17, 20, 8, 7, 45, 16, 27],
            "n1i": [155, 31, 75, 18, 8, 57, 34, 110, 60],
            "m2i": [75, 29, 119, 137, 18, 18, 41, 31, 23],
            "sd2i": [64, 4, 29, 48, 11, 4, 34, 27, 20],
            "n2i": [156, 32, 71, 18, 13, 52, 33, 183, 52],
        }
    )
