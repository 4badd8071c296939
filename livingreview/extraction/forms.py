"""The forms in which trials report an outcome, and the numbers each form needs.

One check (:func:`_form_problem`) serves an extractor's row when it is read
and a merged row after resolutions, so both stop with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .values import fmt

ARM_FORMS = ("means", "change_sd", "change_se")
MD_FORMS = {
    "md_ci": ("md", "ci_low", "ci_high", "n1", "n2"),
    "md_se": ("md", "se", "n1", "n2"),
    "md_p": ("md", "p", "n1", "n2"),
}
EVENT_COLUMNS = ("events1", "n1", "events2", "n2")


def _arm_sd_columns(form: str, arm: int) -> tuple[str, str]:
    primary, other = (f"se{arm}", f"sd{arm}") if form == "change_se" else (f"sd{arm}", f"se{arm}")
    return primary, other


def _form_problem(get: Callable[[str], Any]) -> tuple[str, str] | None:
    """(column, expected) for the first thing missing or inconsistent in a row's numbers.

    ``get(column)`` returns the value or None; only columns the form can use
    are consulted, so the same check serves extractor rows and merged rows.
    """
    form = get("form")
    if form == "events":
        for col in EVENT_COLUMNS:
            if get(col) is None:
                return col, "a value (form events needs events1, n1, events2, n2)"
        for ev, n in (("events1", "n1"), ("events2", "n2")):
            if get(ev) > get(n):
                return ev, f"at most {n} = {fmt(get(n))} events"
        return None
    if form in MD_FORMS:
        need = MD_FORMS[form]
        for col in need:
            if get(col) is None:
                return col, f"a value (form {form} needs {', '.join(need)})"
        md = get("md")
    else:  # arm forms
        for col in ("m1", "n1", "m2", "n2"):
            if get(col) is None:
                return col, f"a value (form {form} needs m1, n1, m2, n2 and an SD or SE per arm)"
        md = get("m1") - get("m2")
        for arm in (1, 2):
            primary, other = _arm_sd_columns(form, arm)
            if get(primary) is None and get(other) is None:
                has_md_stat = (get("ci_low") is not None and get("ci_high") is not None) or (
                    get("se") is not None or get("p") is not None
                )
                if not has_md_stat:
                    return primary, (
                        f"a value ({primary}, or {other}; or for the mean difference "
                        "ci_low and ci_high, se or p)"
                    )
    lo, hi = get("ci_low"), get("ci_high")
    if lo is not None or hi is not None:
        if lo is None or hi is None:
            col = "ci_low" if lo is None else "ci_high"
            return col, "both ci_low and ci_high (or neither)"
        if not lo < hi:
            return "ci_high", f"a value above ci_low = {fmt(lo)}"
        if not lo <= md <= hi:
            col = "ci_low" if md < lo else "ci_high"
            what = "md" if form in MD_FORMS else "m1 - m2"
            return col, f"a 95% CI containing the mean difference ({what} = {fmt(md)})"
    return None
