"""One copy of the docstring pieces several functions of ``livingreview.stats`` share.

As statsmodels' ``Substitution``: a docstring names a piece ``{data}``,
``{model}``, ``{labels}``, ``{binary}`` or ``{bcg}`` and :func:`shared` puts it in
when the module is imported, so ``help()``, numpydoc and the doctests see whole
docstrings and the text is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

PIECES = {
    "data": """yi, vi : array_like
        Effect estimates and their sampling variances, one per study, as
        :func:`~livingreview.stats.fit`.""",
    "labels": """labels : sequence, optional
        Study labels for the output's first column; default 1..k.""",
    "model": """method, test, level
        tau^2 estimator, test (``"z"`` or ``"knha"``) and confidence level, as
        :func:`~livingreview.stats.fit`.""",
    "binary": """ai, n1i : array_like
        Events and size of arm 1 (intervention).
    ci, n2i : array_like
        Events and size of arm 2 (control).
    add : float, default 0.5
        Added to all four cells of a study with a zero cell.""",
    "bcg": """>>> from livingreview import stats
    >>> dat = stats.datasets.bcg()
    >>> yi, vi = stats.log_risk_ratio(dat.tpos, dat.tpos + dat.tneg, dat.cpos, dat.cpos + dat.cneg)""",
}


def shared(func: F) -> F:
    """Put the shared pieces into ``func``'s docstring (``{name}`` -> ``PIECES[name]``).

    Parameters
    ----------
    func : callable
        A function whose docstring names pieces of :data:`PIECES`.

    Returns
    -------
    callable
        ``func`` itself, its ``__doc__`` completed.

    Notes
    -----
    The pieces are indented for a module-level function's docstring (four
    spaces); an unknown ``{name}`` is left as it is.

    Examples
    --------
    >>> @shared
    ... def f(yi, vi):
    ...     '''Parameters
    ...     ----------
    ...     {data}
    ...     '''
    >>> print(f.__doc__.split(":func:")[0].strip())
    Parameters
        ----------
        yi, vi : array_like
            Effect estimates and their sampling variances, one per study, as
    """
    doc = func.__doc__ or ""
    for name, text in PIECES.items():
        doc = doc.replace("{" + name + "}", text)
    func.__doc__ = doc
    return func
