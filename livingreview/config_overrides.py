"""``livingreview update --config`` entries: Snakemake's own ``key=value`` and dotted keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

KEY_RE = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*")


def parse_overrides(entries: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Split ``--config`` entries into Snakemake's own (``key=value``) and dotted ones.

    ``search.mode=live`` sets ``config["search"]["mode"]``: dotted keys are
    merged into one nested mapping (written to a config file given to
    Snakemake after the project's own, so they win key by key). Values are
    read as YAML scalars: ``3`` is a number, ``true`` a boolean, ``live`` text.
    Raises ValueError for an entry that is not ``KEY=VALUE``.

    >>> parse_overrides(["search.mode=live", "analysis.min_k=2", "x=1"])
    (['x=1'], {'search': {'mode': 'live'}, 'analysis': {'min_k': 2}})
    """
    plain: list[str] = []
    nested: dict[str, Any] = {}
    for entry in entries:
        key, eq, raw = entry.partition("=")
        if not eq or not KEY_RE.fullmatch(key):
            raise ValueError(
                f"--config {entry!r}: expected KEY=VALUE, KEY a config key such as "
                "search.mode (dots for nested keys)"
            )
        if "." not in key:
            plain.append(entry)
            continue
        try:
            value = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            value = raw
        *parents, last = key.split(".")
        node = nested
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--config {entry!r}: {part} was given a value already")
            node = child
        node[last] = value
    return plain, nested
