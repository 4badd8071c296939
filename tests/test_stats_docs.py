"""Every public function of livingreview.stats documents itself as statsmodels does (numpydoc).

The Examples run as doctests (pytest --doctest-modules, pyproject.toml) and print
metafor's numbers for metadat datasets (livingreview.stats.datasets); this test
checks that no public function lacks the sections.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from livingreview import stats

SECTIONS = ("Parameters", "Returns", "Notes", "Examples")
FUNCTIONS = sorted(
    {
        (name, module)
        for module in stats._MODULES
        for name, obj in vars(importlib.import_module(f"livingreview.stats.{module}")).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and obj.__module__ == f"livingreview.stats.{module}"
    }
)


def test_the_public_api_is_documented_and_reachable() -> None:
    assert len(FUNCTIONS) >= 40
    exported = {name for name in stats.__all__ if callable(getattr(stats, name))}
    assert {"fit", "leave_one_out", "influence", "egger_test", "trim_and_fill"} <= exported


@pytest.mark.parametrize(("name", "module"), FUNCTIONS)
def test_function_has_numpydoc_sections(name: str, module: str) -> None:
    obj = getattr(importlib.import_module(f"livingreview.stats.{module}"), name)
    doc = inspect.getdoc(obj) or ""
    wanted = SECTIONS if inspect.signature(obj).parameters else SECTIONS[1:]
    missing = [s for s in wanted if not re.search(rf"^{s}\n-{{{len(s)}}}$", doc, re.M)]
    assert missing == [], f"livingreview.stats.{module}.{name} lacks {missing}"
    assert ">>> " in doc.split("Examples\n--------", 1)[1]
