"""One cell of a sheet: its text converted to the column's type and checked against its schema.

Numbers follow one strict grammar (:func:`parse_number`: digits, an optional sign
and a decimal point), and a cell that breaks it is told why (a comma, thousands
separators, an exponent); most values pass a plain-Python check
(:func:`_fast_check`) and never reach jsonschema, which is imported on first use
(``livingreview.sheets`` reads the files and validates whole rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}


class _CellChecker:
    """Coerce and validate one cell against its column's schema, caching by value.

    Sheets repeat the same values over and over (decisions, forms, domains), so
    checking each distinct (column, text) once makes validation cost scale with
    the number of distinct values rather than with rows x columns.
    """

    def __init__(
        self,
        props: dict[str, dict[str, Any]],
        cache: dict[tuple[str, str], tuple[Any, tuple[str, Any] | None]] | None = None,
    ) -> None:
        self.props = props
        self.coerce = {name: _coercer(spec) for name, spec in props.items()}
        self.fast = {name: _fast_check(spec) for name, spec in props.items()}
        self.cache = {} if cache is None else cache

    def __call__(self, name: str, raw: str) -> tuple[Any, tuple[str, Any] | None]:
        key = (name, raw)
        hit = self.cache.get(key)
        if hit is None:
            hit = self._check(name, raw)
            self.cache[key] = hit
        return hit

    def _check(self, name: str, raw: str) -> tuple[Any, tuple[str, Any] | None]:
        spec = self.props[name]
        try:
            value = self.coerce[name](raw)
        except ValueError as exc:
            return None, (str(exc), raw)
        fast = self.fast[name]
        if fast is not None and fast(value):
            return value, None
        expected = check_value(name, spec, value, props=self.props)
        return (value, None) if expected is None else (None, (expected, value))


def check_value(
    name: str, spec: dict[str, Any], value: Any, props: dict[str, dict[str, Any]] | None = None
) -> str | None:
    """What a cell of column ``name`` was expected to hold, or None when ``value`` is valid.

    The JSON Schema verdict (jsonschema, imported on first use: most values
    pass the plain-Python check of :func:`_fast_check` and never need it).
    """
    fast = _fast_check(spec)
    if fast is not None and fast(value):
        return None
    import jsonschema

    validator = jsonschema.Draft202012Validator({"type": "object", "properties": {name: spec}})
    for err in validator.iter_errors({name: value}):
        return describe_error(err, props if props is not None else {name: spec})[1]
    return None


# Keywords :func:`_fast_check` decides exactly as JSON Schema does (annotations included).
_FAST_KEYWORDS = {
    "type",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
    "description",
    "title",
    "$comment",
}
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _fast_check(spec: Any) -> Callable[[Any], bool] | None:
    """A predicate true only for values JSON Schema accepts under ``spec``; None if unsure.

    Validating tens of thousands of distinct numbers through jsonschema costs
    about a second on a 2,000-trial review. This plain-Python check covers the
    keywords the sheet schemas use; a False answer (or None: other keywords)
    sends the value to jsonschema, whose error gives the message, so messages
    and verdicts are jsonschema's. Types are matched exactly (a bool is no
    number, an integral float goes to jsonschema), which can only send more
    values to jsonschema, never accept one it rejects.
    """
    if not isinstance(spec, dict) or not set(spec) <= _FAST_KEYWORDS:
        return None
    kind = spec.get("type")
    types: tuple[type, ...] | None = None
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else kind
        if not isinstance(kinds, list) or any(k not in _PYTHON_TYPES for k in kinds):
            return None
        types = tuple(t for k in kinds for t in _PYTHON_TYPES[k])
    enum: frozenset[str] | None = None
    if "enum" in spec:
        if not isinstance(spec["enum"], list) or any(type(e) is not str for e in spec["enum"]):
            return None
        enum = frozenset(spec["enum"])
    bounds = {k: spec[k] for k in _BOUNDS if k in spec}
    if any(type(b) not in (int, float) for b in bounds.values()):
        return None
    regex: re.Pattern[str] | None = None
    if "pattern" in spec:
        try:
            regex = re.compile(spec["pattern"])
        except (re.error, TypeError):
            return None
    low, high = bounds.get("minimum"), bounds.get("maximum")
    low_x, high_x = bounds.get("exclusiveMinimum"), bounds.get("exclusiveMaximum")

    def accepts(value: Any) -> bool:
        kind = type(value)
        if types is not None and kind not in types:
            return False
        if enum is not None and (kind is not str or value not in enum):
            return False
        if kind is int or kind is float:
            if low is not None and value < low:
                return False
            if high is not None and value > high:
                return False
            if low_x is not None and value <= low_x:
                return False
            if high_x is not None and value >= high_x:
                return False
        return not (regex is not None and kind is str and regex.search(value) is None)

    return accepts


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _types(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type", "string")
    return [kind] if isinstance(kind, str) else list(kind)


def coerce_cell(raw: str, spec: dict[str, Any]) -> Any:
    """Convert a cell's text to the schema type; ValueError says what was expected."""
    return _coercer(spec)(raw)


def _coercer(spec: dict[str, Any]) -> Callable[[str], Any]:
    """:func:`coerce_cell` for one column's ``spec``, decided once per column, not per cell."""
    kinds = [k for k in _types(spec) if k != "null"]
    kind = kinds[0] if kinds else "string"
    if kind == "number":
        return _to_number
    if kind == "integer":
        return _to_integer
    if kind == "boolean":
        return _to_boolean
    enum = spec.get("enum")
    if enum and all(isinstance(e, str) and e == e.lower() for e in enum):
        return str.lower
    return _as_text


# The one grammar of a number in a sheet (docs/contracts.md, "Numbers in sheets"):
# an optional sign (- or the typographic minus U+2212; + is allowed), ASCII digits
# with at most one decimal point, nothing else. Python's float()/int() accept far
# more ("7_69" is 769, " 1e5", "nan", "infinity", non-ASCII digits), each a silent
# misread of what a person typed.
NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_THOUSANDS_RE = re.compile(r"[+-]?[0-9]{1,3}(?:[,'\u00a0\u202f ][0-9]{3})+(?:\.[0-9]*)?")
_EXPONENT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_NOT_FINITE = {"nan", "inf", "infinity", "+inf", "-inf", "+infinity", "-infinity", "na", "n/a"}
NUMBER_EXPECTED = "a number (use a point as decimal separator)"


def parse_number(raw: str) -> float:
    """A sheet cell's text as a float under the one number grammar, else ValueError saying why.

    Examples
    --------
    >>> parse_number("-7.69"), parse_number("\u22120.5"), parse_number(".5")
    (-7.69, -0.5, 0.5)
    >>> parse_number("7_69")
    Traceback (most recent call last):
    ...
    ValueError: a number of digits with an optional sign and decimal point (no '_' inside)
    """
    text = raw.replace("\u2212", "-")
    if NUMBER_RE.fullmatch(text):
        return float(text)
    raise ValueError(_number_problem(text))


def _number_problem(text: str) -> str:
    """What is wrong with a cell that is not a number under :data:`NUMBER_RE`."""
    if text.strip().lower() in _NOT_FINITE:
        return "a finite number (nan, inf and NA are not numbers; leave the cell empty)"
    if _THOUSANDS_RE.fullmatch(text):
        return "a number without thousands separators (write 1234, not 1,234 or 1 234)"
    if "," in text:
        return NUMBER_EXPECTED
    if "_" in text:
        return "a number of digits with an optional sign and decimal point (no '_' inside)"
    if _EXPONENT_RE.fullmatch(text):
        return "a number in plain decimal notation (write 100000 or 0.00001, not 1e5 or 1e-5)"
    if re.search(r"\s", text):
        return "a number without spaces inside"
    if re.match(r"[+-]{2}", text) or re.search(r"[0-9.][+-]", text):
        return "a number with at most one sign, in front (got a sign twice or inside)"
    if any(c.isdigit() and not "0" <= c <= "9" for c in text):
        return "a number written with the digits 0-9"
    return NUMBER_EXPECTED


def _to_number(raw: str) -> float:
    return parse_number(raw)


def _to_integer(raw: str) -> int:
    try:
        value = parse_number(raw)
    except ValueError as exc:
        expected = str(exc)
        raise ValueError(
            "a whole number" if expected == NUMBER_EXPECTED else f"a whole number: {expected}"
        ) from None
    if not value.is_integer():
        raise ValueError("a whole number")
    return int(value)


def _to_boolean(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("yes or no")


def _as_text(raw: str) -> str:
    return raw


def describe_error(
    err: jsonschema.ValidationError, props: dict[str, dict[str, Any]]
) -> tuple[str | None, str]:
    """Turn a jsonschema error into (column, what was expected)."""
    column = str(err.path[0]) if err.path else None
    spec = props.get(column, {}) if column else {}
    kind = err.validator
    if kind == "required":
        match = re.match(r"'(.+)' is a required property", err.message)
        column = match.group(1) if match else column
        return column, "a value (this column is required)"
    if "description" in spec and kind in ("pattern", "format"):
        return column, spec["description"]
    if kind == "enum":
        return column, "one of: " + ", ".join(str(v) for v in err.validator_value)
    if kind == "minimum":
        return column, f"a value >= {err.validator_value}"
    if kind == "exclusiveMinimum":
        return column, f"a value > {err.validator_value}"
    if kind == "maximum":
        return column, f"a value <= {err.validator_value}"
    if kind == "exclusiveMaximum":
        return column, f"a value < {err.validator_value}"
    if kind == "pattern":
        return column, f"text matching {err.validator_value}"
    return column, err.message
