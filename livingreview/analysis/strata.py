"""Split the selected effects into strata, one folder per stratum.

A living review reruns only what new data touched. Snakemake decides that per
file: a per-stratum job reruns when its ``data.csv`` changed. So this module
writes each stratum's data deterministically (sorted rows, round-trip floats)
and leaves a file untouched when its content is unchanged; a new study then
changes exactly the strata that contain it (ARCHITECTURE.md, "Only what
changed").

Strata (names are a contract, see ARCHITECTURE.md):

- ``domain-<d>``: every effect of outcome domain ``d``;
- ``domain-<d>_<key>-<v>``: the effects of ``d`` from trials whose stratifier
  (``extraction.stratifier``, column ``key``: ``platform`` in the demo) is ``v``
  (trials with ``mixed`` or no value are left out);
- ``<key>-<v>``: the stratifier overview (``extraction.stratifier.overview``),
  every continuous (SMD) effect of value ``v`` across domains. Domains differ in which sign is
  favourable, so here effects of domains whose favourable sign is negative are
  multiplied by -1 (column ``flipped``): positive = favours the intervention.
  A trial may contribute one effect per domain, so these effects are not
  independent: the analysis pools such a stratum with the multilevel model
  (:func:`livingreview.analysis.stratum.stratum_model`, ``analysis.dependence``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..contract import (
    DEMO_MODERATORS,
    STRATUM_FILES,
    STRATUM_RE,
    metareg_names,
    parse_stratum,
    stratum_files,
    stratum_name,
)
from ..contract import STRATUM_PATTERN as STRATUM_PATTERN  # re-exported: older callers
from ..errors import InputError, raise_collected
from ..io import write_bytes
from ..stratifier import MIXED, Stratifier

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Stratum names and the files of a stratum folder are the contract's (livingreview.contract).
# pandas and numpy are imported by the functions that use them.

DATA_COLUMNS = [
    "study_id",
    "citation",
    "domain",
    "platform",
    "measure",
    "yi",
    "vi",
    "n",
    "followup_weeks",
    "ln_n",
    "outcome",
]
# Study-level moderators carried along for meta-regression (extra columns).
EXTRA_COLUMNS = ["flipped", "rob_overall", *DEMO_MODERATORS]
STUDY_COLUMNS = ["study_id", "platform", "followup_weeks", "n", "ln_n", "k_effects"]
MEASURES = {"continuous": "SMD", "binary": "logRR"}
NO_PLATFORM = MIXED


def _stratifier(platforms: Mapping[str, str] | Stratifier, overview: bool | None) -> Stratifier:
    """A Stratifier; a plain mapping is the demo's platform values (older callers)."""
    if isinstance(platforms, Stratifier):
        if overview is None or overview == platforms.overview:
            return platforms
        return Stratifier(platforms.column, platforms.label, platforms.values, bool(overview))
    spec = {"values": dict(platforms), "overview": True if overview is None else overview}
    return Stratifier.from_config({"stratifier": spec})


def data_columns(column: str = "platform", extra: Sequence[str] = ()) -> list[str]:
    """The columns of a stratum's data.csv: the stratifier's column in place of ``platform``.

    ``extra`` are study columns (``extraction.study_columns``) carried after
    the demo's moderators for meta-regression.
    """
    cols = [column if c == "platform" else c for c in DATA_COLUMNS] + EXTRA_COLUMNS
    return cols + [c for c in extra if c not in cols]


def read_effects(path: str | Path, column: str = "platform") -> pd.DataFrame:
    """Read ``results/effects/effects.csv`` (written by the extraction stage)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, dtype={"study_id": str, "record_id": str}, keep_default_na=False)
    needed = data_columns(column)[: len(DATA_COLUMNS)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(path, "the effects.csv columns of docs/contracts.md", column=missing[0])
    for col in ("yi", "vi", "n", "followup_weeks", "ln_n"):
        frame[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
    return frame


def _check(effects: pd.DataFrame, domains: Mapping[str, Any], strat: Stratifier, path):
    errors: list[InputError] = []
    platforms = strat.values
    # Column lists give each cell as to_dict("records") would (Python scalars),
    # without building one dict per row.
    columns = ("domain", strat.column, "measure", "yi", "vi")
    cells = zip(*(effects[c].tolist() for c in columns), strict=True)
    for i, values in enumerate(cells, start=2):
        row = dict(zip(("domain", "platform", "measure", "yi", "vi"), values, strict=True))
        if row["domain"] not in domains:
            errors.append(
                InputError(
                    path,
                    f"a configured domain ({', '.join(domains)})",
                    row=i,
                    column="domain",
                    got=row["domain"],
                )
            )
            continue
        plat = row["platform"]
        if plat not in ("", NO_PLATFORM) and plat not in platforms:
            known = ", ".join([*platforms, NO_PLATFORM])
            errors.append(
                InputError(
                    path,
                    f"a configured {strat.label.lower()} ({known})",
                    row=i,
                    column=strat.column,
                    got=plat,
                )
            )
        want = MEASURES[domains[row["domain"]]["type"]]
        if row["measure"] != want:
            errors.append(
                InputError(
                    path,
                    f"measure {want} for domain {row['domain']}",
                    row=i,
                    column="measure",
                    got=row["measure"],
                )
            )
        for col in ("yi", "vi"):
            value = row[col]
            if not (isinstance(value, float) and math.isfinite(value)) or (
                col == "vi" and value <= 0
            ):
                errors.append(
                    InputError(
                        path,
                        "a finite number" + (" > 0" if col == "vi" else ""),
                        row=i,
                        column=col,
                        got=value,
                    )
                )
    raise_collected(errors)


def build_strata(
    effects: pd.DataFrame,
    domains: Mapping[str, Mapping[str, Any]],
    platforms: Mapping[str, str] | Stratifier,
    *,
    platform_overview: bool | None = None,
    source: str | Path = "effects.csv",
    extra: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """Return ``{stratum: data}`` for every stratum with at least one effect.

    ``domains`` is ``config.extraction.domains`` (``type``, ``favourable_sign``),
    ``platforms`` the :class:`~livingreview.stratifier.Stratifier` (or, for older
    callers, the platform values: column ``platform``, overview on);
    ``platform_overview`` overrides its ``overview``; ``extra`` are the study
    columns carried along. Rows are sorted by ``study_id, domain`` (then
    outcome) so the files are reproducible.
    """
    strat = _stratifier(platforms, platform_overview)
    tables, members = _layout(effects, domains, strat, source=source, extra=extra)
    return {
        name: tables[table].iloc[rows].reset_index(drop=True)
        for name, (table, rows) in members.items()
    }


def _layout(
    effects: pd.DataFrame,
    domains: Mapping[str, Mapping[str, Any]],
    strat: Stratifier,
    *,
    source: str | Path,
    extra: Sequence[str] = (),
) -> tuple[list[pd.DataFrame], dict[str, tuple[int, np.ndarray]]]:
    """The strata as row positions: (tables, ``{stratum: (table index, rows)}``), sorted by name.

    Table 0 holds every effect (sorted); table 1, with ``platform_overview``,
    the continuous effects with the overview's sign flip. Every stratum is a
    subset of one of them, which lets :func:`stratify` format each row once.
    """
    import numpy as np

    _check(effects, domains, strat, source)
    key, platforms = strat.column, strat.values
    data = effects.copy()
    data[key] = data[key].replace("", NO_PLATFORM)
    data["flipped"] = False
    columns = data_columns(key, extra)
    for col in columns[len(DATA_COLUMNS) + 1 :]:
        if col not in data.columns:
            data[col] = ""
    data = (
        data[columns]
        .sort_values(["study_id", "domain", "outcome"], kind="mergesort")
        .reset_index(drop=True)
    )
    tables = [data]
    members: dict[str, tuple[int, np.ndarray]] = {}
    domain_of, platform_of = data["domain"].to_numpy(), data[key].to_numpy()
    for domain in sorted(domains):
        in_domain = domain_of == domain
        if not in_domain.any():
            continue
        members[stratum_name(domain)] = (0, np.flatnonzero(in_domain))
        for platform in sorted(platforms):
            rows = np.flatnonzero(in_domain & (platform_of == platform))
            if rows.size:
                members[stratum_name(domain, platform, key=key)] = (0, rows)
    if strat.overview:
        continuous = [d for d in domains if domains[d]["type"] == "continuous"]
        negative = {d for d in continuous if domains[d]["favourable_sign"] == "negative"}
        overview = data[data["domain"].isin(continuous)].copy()
        flip = overview["domain"].isin(negative)
        overview.loc[flip, "yi"] = -overview.loc[flip, "yi"]
        overview["flipped"] = flip
        overview = overview.reset_index(drop=True)
        platform_of = overview[key].to_numpy()
        for platform in sorted(platforms):
            rows = np.flatnonzero(platform_of == platform)
            if rows.size:
                members[stratum_name(platform=platform, key=key)] = (1, rows)
        tables.append(overview)
    return tables, dict(sorted(members.items()))


def describe(
    strata: Mapping[str, pd.DataFrame],
    domains: Mapping[str, Mapping[str, Any]],
    platforms: Mapping[str, str] | Stratifier,
) -> dict[str, dict[str, Any]]:
    """The ``strata.json`` index: k, kind, domain, platform (stratifier value), measure, label."""
    values = platforms.values if isinstance(platforms, Stratifier) else platforms
    return {
        name: _index_entry(name, len(frame), frame["study_id"].nunique(), domains, values)
        for name, frame in strata.items()
    }


def _index_entry(
    name: str,
    k: int,
    n_studies: int,
    domains: Mapping[str, Mapping[str, Any]],
    platforms: Mapping[str, str],
) -> dict[str, Any]:
    info = parse_stratum(name)
    domain, platform = info["domain"], info["platform"]
    if domain:
        spec = domains[domain]
        label = spec.get("label", domain)
        sign = spec["favourable_sign"]
        measure = MEASURES[spec["type"]]
        if platform:
            label = f"{label}: {platforms[platform]}"
    else:
        label = f"{platforms[platform]}: all continuous outcomes"
        sign = "positive"
        measure = "SMD"
    return {
        "k": int(k),
        "n_studies": int(n_studies),
        "kind": info["kind"],
        "domain": domain,
        "platform": platform,
        "measure": measure,
        "label": label,
        "favourable_sign": sign,
    }


def study_table(effects: pd.DataFrame, column: str = "platform") -> pd.DataFrame:
    """One row per study for the design check: follow-up and the largest n it reports.

    ``column``: the stratifier's, written in place of ``platform``.
    """
    import numpy as np
    import pandas as pd

    grouped = effects.groupby("study_id", sort=True)
    table = pd.DataFrame(
        {
            column: grouped[column].first().replace("", NO_PLATFORM),
            "followup_weeks": grouped["followup_weeks"].max(),
            "n": grouped["n"].max(),
            "k_effects": grouped.size(),
        }
    ).reset_index()
    table["ln_n"] = np.log(table["n"])
    return table[[column if c == "platform" else c for c in STUDY_COLUMNS]]


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    # float_format=None writes the shortest repr that round-trips: no precision lost.
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _csv_rows(frame: pd.DataFrame) -> list[bytes] | None:
    """The lines of :func:`_csv_bytes` (header first, without line ends), or None.

    None when a cell holds a line break, so that one row spans several lines.
    pandas formats each cell on its own (floats by their shortest repr), so the
    lines of a frame's rows are those any subset of its rows writes.
    """
    lines = _csv_bytes(frame).split(b"\n")
    return lines[:-1] if len(lines) == len(frame) + 2 else None


def write_if_changed(path: str | Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly it.

    Keeping the old file (and its mtime) is what lets Snakemake skip the
    strata a change did not touch.
    """
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    write_bytes(path, data)
    return True


def write_strata(
    strata: Mapping[str, pd.DataFrame],
    index: Mapping[str, Any],
    studies: pd.DataFrame,
    out_dir: str | Path,
    index_path: str | Path,
    *,
    min_k_funnel: int | None = None,
) -> list[str]:
    """Write ``<out_dir>/<stratum>/data.csv``, ``studies.csv`` and ``strata.json``.

    Stratum folders that no longer have data (e.g. after a correction moved a
    study's platform) are removed so that no stale result is picked up, and so
    is every file of a stratum folder that the contract does not list for its k
    (:func:`livingreview.contract.stratum_files`): the Egger and funnel files of
    a stratum that fell below ``min_k_funnel``, or a file of an older layout.
    Returns the strata whose ``data.csv`` was (re)written.
    """
    contents = {name: (_csv_bytes(frame), len(frame)) for name, frame in strata.items()}
    return _write_files(
        contents, index, _csv_bytes(studies), out_dir, index_path, min_k_funnel=min_k_funnel
    )


def _write_files(
    contents: Mapping[str, tuple[bytes, int]],
    index: Mapping[str, Any],
    studies: bytes,
    out_dir: str | Path,
    index_path: str | Path,
    *,
    min_k_funnel: int | None,
) -> list[str]:
    """:func:`write_strata` given each stratum's data.csv bytes and k, and studies.csv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, (data, k) in contents.items():
        if write_if_changed(out_dir / name / "data.csv", data):
            changed.append(name)
        _remove_stale(out_dir / name, k, min_k_funnel)
    for child in sorted(out_dir.iterdir()):
        if child.is_dir() and STRATUM_RE.match(child.name) and child.name not in contents:
            shutil.rmtree(child)
    write_if_changed(out_dir / "studies.csv", studies)
    # The checkpoint's declared output: always written, so Snakemake sees it is current.
    write_bytes(index_path, (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return changed


def _remove_stale(folder: Path, k: int, min_k_funnel: int | None) -> None:
    """Delete the files of a stratum folder the contract does not list for a stratum of k effects."""
    keep = set(STRATUM_FILES if min_k_funnel is None else stratum_files(k, min_k_funnel))
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name not in keep:
            path.unlink()


def remove_stale_metareg(metareg_dir: str | Path, index_path: str | Path) -> list[str]:
    """Delete ``<metareg_dir>/<name>.json`` of domains that no longer have a stratum.

    A domain whose effects all went (a narrower time window, a removed domain)
    has no meta-regression job any more; its old result must not be reported
    or published. Returns the names removed.
    """
    folder = Path(metareg_dir)
    if not folder.is_dir():
        return []
    keep = set(metareg_names(json.loads(Path(index_path).read_text(encoding="utf-8"))))
    stale = sorted(p for p in folder.glob("*.json") if p.stem not in keep)
    for path in stale:
        path.unlink()
    return [p.stem for p in stale]


ROB_COLUMNS = [
    "study_id",
    "citation",
    "rob_d1",
    "rob_d2",
    "rob_d3",
    "rob_d4",
    "rob_d5",
    "rob_overall",
]


def write_rob_table(studies_path: str | Path, out_path: str | Path) -> bool:
    """Copy the RoB 2 judgements of ``extraction/studies.csv`` next to the strata.

    Written by the ``stratify`` checkpoint, and only when its content changed, so
    that the RoB figures (slow to draw for a large review) are redrawn only when
    a judgement changed, not whenever an outcome number did.
    """
    import pandas as pd

    studies = pd.read_csv(studies_path, dtype=str, keep_default_na=False)
    columns = [c for c in ROB_COLUMNS if c in studies.columns]
    table = studies[columns].sort_values("study_id", kind="stable")
    return write_if_changed(out_path, _csv_bytes(table))


def stratify(
    effects_path: str | Path,
    out_dir: str | Path,
    index_path: str | Path,
    domains: Mapping[str, Mapping[str, Any]],
    platforms: Mapping[str, str] | Stratifier,
    *,
    platform_overview: bool | None = None,
    min_k_funnel: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Read effects.csv and write every stratum; returns the strata rewritten.

    ``platforms``, ``platform_overview`` and ``extra`` as in :func:`build_strata`.
    Each row is formatted once (strata overlap: every effect is in its domain,
    domain x stratifier and overview strata) and each stratum's file assembled
    from its rows' lines; the bytes are those :func:`write_strata` writes.
    """
    contents, index, studies = _stratum_bytes(
        effects_path, domains, _stratifier(platforms, platform_overview), extra
    )
    return _write_files(contents, index, studies, out_dir, index_path, min_k_funnel=min_k_funnel)


def _stratum_bytes(
    effects_path: str | Path,
    domains: Mapping[str, Mapping[str, Any]],
    strat: Stratifier,
    extra: Sequence[str],
) -> tuple[dict[str, tuple[bytes, int]], dict[str, dict[str, Any]], bytes]:
    """Each stratum's data.csv bytes and k, strata.json's entries and studies.csv's bytes."""
    effects = read_effects(effects_path, strat.column)
    tables, members = _layout(effects, domains, strat, source=effects_path, extra=extra)
    lines = [_csv_rows(table) for table in tables]
    contents: dict[str, tuple[bytes, int]] = {}
    index: dict[str, dict[str, Any]] = {}
    for name, (table, rows) in members.items():
        own = lines[table]
        if own is None:
            data = _csv_bytes(tables[table].iloc[rows].reset_index(drop=True))
        else:
            data = b"\n".join([own[0], *(own[1 + i] for i in rows), b""])
        contents[name] = (data, len(rows))
        n_studies = tables[table]["study_id"].iloc[rows].nunique()
        index[name] = _index_entry(name, len(rows), n_studies, domains, strat.values)
    return contents, index, _csv_bytes(study_table(effects, strat.column))


@dataclass(frozen=True)
class StratifySettings:
    """The ``stratify`` checkpoint's params, parsed once.

    ``rob_table`` and ``metareg_dir`` are where the checkpoint keeps the RoB
    table and removes meta-regressions of domains that lost their stratum.
    """

    domains: Mapping[str, Mapping[str, Any]]
    stratifier: Stratifier
    study_columns: tuple[str, ...]
    min_k_funnel: int
    rob_table: Path
    metareg_dir: Path

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StratifySettings:
        return cls(
            domains=dict(params["domains"]),
            stratifier=Stratifier.from_config({"stratifier": params["stratifier"]}),
            study_columns=tuple(params["study_columns"]),
            min_k_funnel=int(params["min_k_funnel"]),
            rob_table=Path(params["rob_table"]),
            metareg_dir=Path(params["metareg_dir"]),
        )


class StratifyResult(NamedTuple):
    """Every stratum's data.csv (bytes, k), strata.json's entries, studies.csv, and where from."""

    settings: StratifySettings
    contents: Mapping[str, tuple[bytes, int]]
    index: Mapping[str, dict[str, Any]]
    studies: bytes
    studies_sheet: Path  # extraction's studies.csv, for the RoB table


class Rewritten(NamedTuple):
    """What :func:`write` changed: strata whose data.csv it rewrote, stale
    meta-regressions it removed, whether the RoB table changed."""

    strata: list[str]
    removed_metareg: list[str]
    rob_table: bool


def run(settings: StratifySettings, inputs: Mapping[str, Any]) -> StratifyResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``effects`` (effects.csv) and ``studies`` (extraction's studies.csv).
    """
    contents, index, studies = _stratum_bytes(
        inputs["effects"], settings.domains, settings.stratifier, settings.study_columns
    )
    return StratifyResult(settings, contents, index, studies, Path(inputs["studies"]))


def write(result: StratifyResult, outputs: Mapping[str, str | Path]) -> Rewritten:
    """Write the strata beside the ``index`` output (strata.json), leaving unchanged files be.

    Then remove the meta-regressions of domains without a stratum and rewrite
    the RoB table if its content changed.
    """
    index_path, settings = Path(outputs["index"]), result.settings
    changed = _write_files(result.contents, result.index, result.studies, index_path.parent,
                           index_path, min_k_funnel=settings.min_k_funnel)  # fmt: skip
    return Rewritten(
        changed,
        remove_stale_metareg(settings.metareg_dir, index_path),
        write_rob_table(result.studies_sheet, settings.rob_table),
    )


def read_stratum(path: str | Path) -> pd.DataFrame:
    """Read one stratum's ``data.csv`` with the right types.

    The stratifier's column is the fourth (``platform`` in the demo) and is read as text.
    """
    import pandas as pd

    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n").split(",")
    key = header[3] if len(header) > 3 else "platform"
    frame = pd.read_csv(
        path,
        dtype={"study_id": str, "citation": str, "outcome": str, key: str},
        keep_default_na=False,
        na_values=[""],
    )
    for col in ("citation", "outcome", key):
        if col in frame.columns:
            frame[col] = frame[col].fillna("")
    return frame
