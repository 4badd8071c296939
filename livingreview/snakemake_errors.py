"""The pipeline's own error messages in Snakemake's output, for ``livingreview update`` to show.

A failed job's traceback, or the Snakefile's config check, ends in a line naming
one of :mod:`livingreview.errors`' classes; :func:`input_error_lines` finds those
messages and says whether they are about input (exit code 2).
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Sequence

ERROR_LINE = re.compile(r"^(livingreview(?:\.\w+)+): (.*)$")
CONFIG_ERROR = "does not match workflow/schemas/config.schema.yaml"  # workflow/rules/common.smk
# An error of ours raised while Snakemake parses the workflow (config checks in common.smk):
# Snakemake prints the bare class name, then the message, then the stack.
STARTUP_ERROR = re.compile(r'^(\w+) in file ".*", line \d+:$')


def input_error_lines(output: str) -> tuple[list[str], bool]:
    """The messages of the pipeline's own errors in Snakemake's output, and whether bad input.

    A job that stops on bad input raises a :class:`~livingreview.errors.LivingReviewError`;
    its traceback ends with ``livingreview.<module>.<Class>: <message>`` (several
    problems continue on indented lines). Config validation fails in the
    Snakefile with Snakemake's ``WorkflowError`` naming the config file. Returns
    the message lines (each message once) and True when they are about input
    (:class:`~livingreview.errors.InputError`, ``InputErrors`` or the config),
    which is exit code 2.
    """
    from . import errors

    lines = output.splitlines()
    found: list[list[str]] = []
    bad_input = False
    for i, line in enumerate(lines):
        m = ERROR_LINE.match(line)
        if m:
            cls = _error_class(m.group(1))
            if cls is None:
                continue
            bad_input |= issubclass(cls, errors.InputError | errors.InputErrors)
            block = [m.group(2)]
            block += itertools.takewhile(lambda x: x.startswith("  "), lines[i + 1 :])
        elif CONFIG_ERROR in line:
            bad_input = True
            block = [line, *_message_after(lines, i)]
        elif (startup := _startup_error(line)) is not None:
            bad_input |= startup
            block = _message_after(lines, i)
        else:
            continue
        if block not in found:
            found.append(block)
    return [x for block in found for x in block], bad_input


def _message_after(lines: Sequence[str], i: int) -> list[str]:
    """The message lines Snakemake prints after line ``i``, up to the stack or its next entry."""
    block: list[str] = []
    for x in lines[i + 1 :]:
        if x.startswith("  File ") or x.startswith(("[", "WorkflowError")):
            break
        block.append(x)
    while block and not block[-1].strip():
        block.pop()
    return block


def _startup_error(line: str) -> bool | None:
    """For Snakemake's ``<Class> in file ...`` line: True for our bad-input errors,
    False for another error of ours, None when the class is not ours."""
    from . import errors

    m = STARTUP_ERROR.match(line)
    cls = _error_class(f"livingreview.errors.{m.group(1)}") if m else None
    if cls is None:
        return None
    return issubclass(cls, errors.InputError | errors.InputErrors)


def _error_class(name: str) -> type | None:
    """The class ``livingreview.<module>.<Class>`` if it is one of the pipeline's errors."""
    from .errors import LivingReviewError

    module, _, attr = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, LivingReviewError) else None
