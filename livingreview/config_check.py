"""Start-up checks of the configuration that JSON Schema cannot make.

Snakemake reads ``configfile:`` with a YAML loader that keeps the *last* of
two equal keys (a second ``method: FE`` silently switched the model) and
expands anchors and aliases without limit. :func:`check_config_files` reads
each config file again, strictly, before the schema is applied;
:func:`check_inputs` then checks that the input folders exist (a typo in
``inputs.root`` would otherwise look like a review without records, empty
``results/`` and delete the reviewers' queues) and that no sheet is being
written or copied right now. The workflow calls both at the top of
``workflow/rules/common.smk``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

MAX_NODES = 10_000  # values a config may expand to through anchors/aliases (ours: ~300)
HUMAN_FOLDERS = (
    "screening",
    "extraction",
    "search/exports",
    "grade",
)  # what people drop files into


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (naming the line) and alias bombs."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *defaults' may be overridden by explicit keys
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise InputError(
                    self.name,
                    f"each key once in a mapping (also on line {seen[key]}; YAML keeps only "
                    "the last, so one of them would be silently ignored)",
                    row=line,
                    column=str(key),
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, bound: int) -> int:
    """Number of nodes ``node`` stands for once every alias is expanded (stops past ``bound``)."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in memo:
            return memo[id(n)]
        memo[id(n)] = bound + 1  # a recursive alias expands without end
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child)
                if total > bound:
                    break
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                total += size(key) + size(value)
                if total > bound:
                    break
        memo[id(n)] = total
        return total

    return size(node)


def load_strict(path: str | Path, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse a YAML config file, refusing duplicate keys and alias expansion beyond ``max_nodes``.

    Errors are :class:`~livingreview.errors.InputError` naming the file and the
    line (``row``) and, for a duplicate, the key (``column``).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, max_nodes) > max_nodes:
            raise InputError(
                path,
                f"a configuration of at most {max_nodes} values once YAML anchors and aliases "
                "(&name, *name) are expanded; this one expands to more (write the values out)",
                row=node.start_mark.line + 1,
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(
            path,
            f"valid YAML ({exc.problem or exc})",
            row=mark.line + 1 if mark is not None else None,
        ) from None
    finally:
        loader.dispose()


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Read every config file strictly (:func:`load_strict`); raise on the first problem."""
    for path in paths:
        load_strict(path)


def check_references(config: Mapping[str, Any], configfiles: Iterable[str | Path] = ()) -> None:
    """Keys that name other keys: every ``grade.outcomes`` entry must be an outcome domain."""
    source = ", ".join(map(str, configfiles)) or "the configuration"
    domains = list(((config.get("extraction") or {}).get("domains")) or {})
    for name in ((config.get("grade") or {}).get("outcomes")) or {}:
        if name not in domains:
            raise InputError(
                source,
                f"an outcome domain of extraction.domains ({', '.join(domains)})",
                column=f"grade.outcomes.{name}",
                got=name,
            )


def check_inputs(
    config: Mapping[str, Any],
    configfiles: Iterable[str | Path] = (),
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Check ``inputs.root`` and its ``search/`` folder exist, and that no input is mid-copy.

    ``configfiles`` are named in messages. A file under the folders
    people fill (:data:`HUMAN_FOLDERS`) modified less than
    ``inputs.quiet_period_s`` seconds ago may still be being copied or saved:
    the check waits until that period has passed once, and if a file changed
    again meanwhile the run stops ("retry in N s") before anything is read.
    """
    source = ", ".join(map(str, configfiles)) or "the configuration"
    inputs = config.get("inputs") or {}
    root = Path(str(inputs.get("root", "")))
    if not root.is_dir():
        raise InputError(
            source,
            "inputs.root to be an existing folder holding search/, screening/ and extraction/ "
            f"(relative to the project folder {Path.cwd()})",
            column="inputs.root",
            got=str(root),
        )
    if not (root / "search").is_dir():
        raise InputError(
            source,
            f"a search/ folder inside inputs.root ({root}/search); is inputs.root the right folder?",
            column="inputs.root",
            got=str(root),
        )
    quiet = float(inputs.get("quiet_period_s", 0))
    if quiet <= 0:
        return
    fresh = recently_modified(root, quiet, now())
    if not fresh:
        return
    sleep(max(quiet - min(age for _, age in fresh), 0.0))
    still = recently_modified(root, quiet, now())
    if still:
        path, age = min(still, key=lambda item: item[1])
        wait = max(1, round(quiet - age + 0.5))
        raise InputError(
            path,
            f"a file that nobody is writing: it changed {age:.1f} s ago, within the quiet period "
            f"inputs.quiet_period_s = {quiet:g} s (is it still being copied or saved?); nothing "
            f"was read or published, retry in {wait} s",
        )


def recently_modified(root: Path, quiet: float, at: float) -> list[tuple[Path, float]]:
    """(file, age in s) of visible files under ``root``'s human folders changed within ``quiet``."""
    out = []
    for folder in HUMAN_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.name.startswith((".", "~$")) or not path.is_file():
                continue
            age = at - path.stat().st_mtime
            if -quiet < age < quiet:  # a little in the future: another machine's clock
                out.append((path, max(age, 0.0)))
    return out
