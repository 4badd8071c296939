"""Numbers that are valid one by one but cannot be true together stop the run.

Checked on merged values (agreed or resolved) and on the computed effect
sizes; the bounds are configuration (``extraction.plausibility``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..sheets import FILE, ROW
from .forms import MD_FORMS
from .values import REL_TOL, UNRESOLVED, fmt, key_text

if TYPE_CHECKING:
    from .effects import Effect
    from .merging import Merged


# Plausibility bounds (config extraction.plausibility; the schema declares the same
# defaults, tests/test_config_check.py checks they agree). docs/contracts.md explains each.
PLAUSIBILITY: dict[str, Any] = {"max_abs_smd": 5.0, "nonnegative_means": True}


def plausibility(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config["extraction"]["plausibility"]`` over :data:`PLAUSIBILITY`."""
    return {**PLAUSIBILITY, **(config.get("plausibility") or {})}


def _check_plausible(
    outcomes: Mapping[tuple, Merged], studies: Mapping[tuple, Merged], limits: Mapping[str, Any]
) -> list[InputError]:
    """Numbers that are valid one by one but cannot be true together.

    Checked on the merged values (agreed by the extractors, or resolved), so a
    slip of one extractor that a resolution corrects stops nothing, and a
    field still unresolved is left to the resolution. Named at the first
    extractor's row, or at the resolution's row when the value was resolved.

    * n1 + n2 above the study's ``n_total``: the analysed arms cannot hold more
      people than were randomised.
    * ``nonnegative_means`` (form ``means``, final values of measures that cannot
      be negative, e.g. HbA1c, weight, scores): a sample of n values >= 0 with
      mean m >= 0 has SD <= m sqrt(n) (all of n m on one person; sample SD with
      n - 1), so an SD (or SE sqrt(n)) above m sqrt(n) is impossible; typically a
      variance, a confidence interval or a misplaced decimal.
    """
    errors: list[InputError] = []

    def error(m: Merged, col: str, expected: str) -> InputError:
        where = m.resolved_from.get(col)
        if where is not None:
            file, row = where.rsplit(":", 1)
            return InputError(file, expected, row=int(row), column="value", got=m.values[col])
        first = m.rows[0]
        return InputError(first[FILE], expected, row=first[ROW], column=col, got=m.values[col])

    def known(m: Merged, *cols: str) -> bool:
        return all(m.values.get(c) is not None and m.values.get(c) is not UNRESOLVED for c in cols)

    for m in outcomes.values():
        study = studies.get((m.key[0],))
        if study is not None and known(study, "n_total") and known(m, "n1", "n2"):
            n1, n2, total = m.values["n1"], m.values["n2"], study.values["n_total"]
            if n1 + n2 > total:
                first = study.rows[0]
                col = "n1" if n1 >= n2 else "n2"
                errors.append(
                    error(
                        m,
                        col,
                        f"n1 + n2 at most the study's n_total = {fmt(total)} ({first[FILE]} row "
                        f"{first[ROW]}); n1 + n2 = {fmt(n1 + n2)}",
                    )
                )
                continue
        if not limits["nonnegative_means"] or m.values.get("form") != "means":
            continue
        for arm in (1, 2):
            if not known(m, f"m{arm}", f"n{arm}"):
                continue
            mean, n = m.values[f"m{arm}"], m.values[f"n{arm}"]
            if mean < 0:
                continue
            for col in (f"sd{arm}", f"se{arm}"):
                if not known(m, col):
                    continue
                is_sd = col.startswith("sd")
                value, limit = m.values[col], mean * math.sqrt(n) if is_sd else mean
                if value > limit * (1 + REL_TOL):
                    errors.append(
                        error(
                            m,
                            col,
                            f"{'an SD' if is_sd else 'an SE'} at most {fmt(round(limit, 4))}: a "
                            f"measure that cannot be negative with mean m{arm} = {fmt(mean)} over "
                            f"n{arm} = {fmt(n)} has SD <= m*sqrt(n) (a variance or CI instead? if "
                            "the measure can be negative, set extraction.plausibility."
                            "nonnegative_means: false)",
                        )
                    )
                    break
    return errors


def _check_effect_sizes(effects: Sequence[Effect], limits: Mapping[str, Any]) -> list[InputError]:
    """An SMD beyond ``max_abs_smd`` is almost always a misread number: stop, naming the rows."""
    bound = float(limits["max_abs_smd"])
    errors: list[InputError] = []
    for e in effects:
        if e.measure != "SMD" or e.yi is None or not abs(e.yi) > bound:
            continue
        first = e.merged.rows[0]
        form = e.merged.values.get("form")
        errors.append(
            InputError(
                first[FILE],
                f"numbers giving an SMD within +-{fmt(bound)} (extraction.plausibility."
                f"max_abs_smd); {key_text(e.merged.key)} gives SMD = {e.yi:.3g} from form {form}: "
                "check the means, SDs and n (a misplaced decimal, an SE for an SD?)",
                row=first[ROW],
                column="md" if form in MD_FORMS else "m1",
            )
        )
    return errors
