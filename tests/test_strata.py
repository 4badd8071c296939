"""Strata from effects.csv: names, membership, sign alignment, deterministic files."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from livingreview import contract
from livingreview.analysis import strata
from livingreview.analysis.strata import (
    DATA_COLUMNS,
    build_strata,
    parse_stratum,
    read_stratum,
    stratify,
    stratum_name,
)
from livingreview.errors import InputError
from livingreview.io import write_csv
from livingreview.stratifier import Stratifier

DOMAINS = {
    "glycemic": {"label": "Glycemic control", "type": "continuous", "favourable_sign": "negative"},
    "knowledge": {"label": "Knowledge", "type": "continuous", "favourable_sign": "positive"},
    "complications": {"label": "Complications", "type": "binary", "favourable_sign": "negative"},
}
PLATFORMS = {"whatsapp": "WhatsApp", "wechat": "WeChat"}


def effect(study, domain, platform, yi, vi=0.04, n=100, weeks=12.0):
    measure = "logRR" if domain == "complications" else "SMD"
    return {
        "study_id": study,
        "record_id": "1",
        "citation": f"{study.title()} et al.",
        "domain": domain,
        "platform": platform,
        "measure": measure,
        "yi": yi,
        "vi": vi,
        "n": n,
        "followup_weeks": weeks,
        "ln_n": __import__("math").log(n),
        "outcome": "HbA1c",
        "rob_overall": "low",
        "interactivity": "yes",
    }


@pytest.fixture
def effects() -> pd.DataFrame:
    return pd.DataFrame(
        [
            effect("b2020", "glycemic", "wechat", -0.5, n=80),
            effect("a2019", "glycemic", "whatsapp", -0.3, n=120, weeks=24),
            effect("a2019", "knowledge", "whatsapp", 0.7, n=120, weeks=24),
            effect("c2021", "glycemic", "mixed", -0.1, n=60),
            effect("c2021", "complications", "mixed", -0.2),
            effect("d2022", "complications", "whatsapp", -0.4),
        ]
    )


def test_stratum_names_round_trip() -> None:
    for domain, platform, kind in [
        ("glycemic", None, "domain"),
        ("clinical-other", "facebook-messenger", "domain-platform"),
        (None, "naver-band", "platform"),
    ]:
        name = stratum_name(domain, platform)
        assert parse_stratum(name) == {"kind": kind, "domain": domain, "platform": platform}
    assert stratum_name("clinical-other", "wechat") == "domain-clinical-other_platform-wechat"
    with pytest.raises(ValueError, match="not a stratum name"):
        parse_stratum("domain-Glycemic")


def test_the_stratifier_column_names_the_strata(tmp_path) -> None:
    """Issue 15: strata by exercise type are named by its column; the demo's keep platform."""
    for domain, value, kind in [
        ("mood", "high-intensity", "domain-platform"),
        (None, "aerobic", "platform"),
    ]:
        name = stratum_name(domain, value, key="exercise_type")
        assert parse_stratum(name) == {"kind": kind, "domain": domain, "platform": value}
        assert re.fullmatch(contract.STRATUM_PATTERN, name)
    assert (
        stratum_name("mood", "aerobic", key="exercise_type") == "domain-mood_exercise_type-aerobic"
    )
    frame = pd.DataFrame(
        [
            {**effect(s, d, "", y), "exercise_type": t}
            for s, d, t, y in [
                ("a2019", "glycemic", "aerobic", -0.3),
                ("b2020", "glycemic", "yoga", -0.5),
                ("b2020", "knowledge", "yoga", 0.4),
                ("c2021", "glycemic", "mixed", -0.1),
            ]
        ]
    ).drop(columns="platform")
    frame["supervised"] = ["yes", "no", "no", "yes"]
    src = tmp_path / "effects.csv"
    write_csv(frame, src)
    by_type = Stratifier(
        column="exercise_type",
        label="Exercise type",
        values={"aerobic": "Aerobic", "yoga": "Yoga"},
        overview=True,
    )
    out = tmp_path / "strata"
    stratify(src, out, out / "strata.json", DOMAINS, by_type, extra=["supervised"])
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == [
        "domain-glycemic",
        "domain-glycemic_exercise_type-aerobic",
        "domain-glycemic_exercise_type-yoga",
        "domain-knowledge",
        "domain-knowledge_exercise_type-yoga",
        "exercise_type-aerobic",
        "exercise_type-yoga",
    ]
    index = json.loads((out / "strata.json").read_text())
    assert index["domain-glycemic_exercise_type-yoga"]["label"] == "Glycemic control: Yoga"
    assert (
        index["exercise_type-yoga"]["kind"] == "platform" and index["exercise_type-yoga"]["k"] == 2
    )
    data = read_stratum(out / "domain-glycemic" / "data.csv")
    assert list(data.columns[:5]) == ["study_id", "citation", "domain", "exercise_type", "measure"]
    assert data["supervised"].tolist() == ["yes", "no", "yes"]
    assert (out / "studies.csv").read_text().startswith("study_id,exercise_type,followup_weeks")
    bad = frame.assign(exercise_type=["aerobic", "pilates", "yoga", "yoga"])
    with pytest.raises(InputError, match=r"row 3, column 'exercise_type': expected a configured "
                       r"exercise type \(aerobic, yoga, mixed\), got 'pilates'"):  # fmt: skip
        build_strata(bad, DOMAINS, by_type)


def test_membership_and_platform_overview(effects: pd.DataFrame) -> None:
    strata = build_strata(effects, DOMAINS, PLATFORMS)
    assert sorted(strata) == [
        "domain-complications",
        "domain-complications_platform-whatsapp",
        "domain-glycemic",
        "domain-glycemic_platform-wechat",
        "domain-glycemic_platform-whatsapp",
        "domain-knowledge",
        "domain-knowledge_platform-whatsapp",
        "platform-wechat",
        "platform-whatsapp",
    ]
    # sorted by study_id; mixed-platform trials stay in the domain stratum only
    assert strata["domain-glycemic"]["study_id"].tolist() == ["a2019", "b2020", "c2021"]
    # the overview has continuous outcomes only, negative-favourable domains flipped
    overview = strata["platform-whatsapp"]
    assert overview["domain"].tolist() == ["glycemic", "knowledge"]
    assert overview["yi"].tolist() == [0.3, 0.7]
    assert overview["flipped"].tolist() == [True, False]
    assert strata["domain-glycemic"]["yi"].tolist() == [-0.3, -0.5, -0.1]
    assert list(strata["domain-glycemic"].columns[: len(DATA_COLUMNS)]) == DATA_COLUMNS
    assert "platform-wechat" not in build_strata(
        effects, DOMAINS, PLATFORMS, platform_overview=False
    )


def test_unknown_platform_is_reported_with_row(effects: pd.DataFrame) -> None:
    effects.loc[2, "platform"] = "myspace"
    with pytest.raises(InputError) as err:
        build_strata(effects, DOMAINS, PLATFORMS, source="effects.csv")
    assert str(err.value) == (
        "effects.csv, row 4, column 'platform': expected a configured platform "
        "(whatsapp, wechat, mixed), got 'myspace'"
    )


def test_files_are_deterministic_and_unchanged_strata_keep_their_mtime(
    effects: pd.DataFrame, tmp_path
) -> None:
    src = tmp_path / "effects.csv"
    effects.to_csv(src, index=False)
    out = tmp_path / "strata"
    index_path = out / "strata.json"
    first = stratify(src, out, index_path, DOMAINS, PLATFORMS)
    assert len(first) == 9
    index = json.loads(index_path.read_text())
    assert index["platform-whatsapp"] == {
        "k": 2,
        "n_studies": 1,
        "kind": "platform",
        "domain": None,
        "platform": "whatsapp",
        "measure": "SMD",
        "label": "WhatsApp: all continuous outcomes",
        "favourable_sign": "positive",
    }
    assert index["domain-complications"]["measure"] == "logRR"
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/data.csv")}
    blobs = {p: p.read_bytes() for p in stamps}

    # same input, reordered rows: nothing rewritten
    effects.iloc[::-1].to_csv(src, index=False)
    assert stratify(src, out, index_path, DOMAINS, PLATFORMS) == []
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # one number of one study: exactly the strata holding it
    effects.loc[effects["study_id"] == "b2020", "yi"] = -0.55
    effects.to_csv(src, index=False)
    assert stratify(src, out, index_path, DOMAINS, PLATFORMS) == [
        "domain-glycemic",
        "domain-glycemic_platform-wechat",
        "platform-wechat",
    ]
    data = read_stratum(out / "domain-glycemic" / "data.csv")
    assert data.loc[data["study_id"] == "b2020", "yi"].item() == -0.55
    assert (
        blobs[out / "domain-knowledge" / "data.csv"]
        == (out / "domain-knowledge" / "data.csv").read_bytes()
    )

    # a study moving platform removes the stratum it left
    effects.loc[effects["study_id"] == "b2020", "platform"] = "whatsapp"
    effects.to_csv(src, index=False)
    stratify(src, out, index_path, DOMAINS, PLATFORMS)
    assert not (out / "platform-wechat").exists()
    assert not (out / "domain-glycemic_platform-wechat").exists()


def test_study_table_for_design_check(effects: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "effects.csv"
    effects.to_csv(src, index=False)
    stratify(src, tmp_path / "s", tmp_path / "s" / "strata.json", DOMAINS, PLATFORMS)
    studies = pd.read_csv(tmp_path / "s" / "studies.csv")
    assert studies["study_id"].tolist() == ["a2019", "b2020", "c2021", "d2022"]
    assert studies.loc[0, "followup_weeks"] == 24 and studies.loc[0, "k_effects"] == 2


def test_small_study_outputs_removed_below_min_k_funnel(effects: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "effects.csv"
    effects.to_csv(src, index=False)
    out = tmp_path / "s"
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS)
    stale = out / "domain-glycemic" / "egger.json"
    stale.write_text("{}")
    kept = out / "domain-glycemic" / "pooled.json"
    kept.write_text("{}")
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=3)
    assert stale.exists()  # k = 3 >= 3
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=4)
    assert not stale.exists() and kept.exists()


def test_every_funnel_file_removed_below_min_k_funnel(effects: pd.DataFrame, tmp_path) -> None:
    """Regression (issue 13, defect 3): funnel.png outlived its stratum's fall below min_k_funnel."""
    src = tmp_path / "effects.csv"
    effects.to_csv(src, index=False)
    out = tmp_path / "s"
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=3)
    folder = out / "domain-glycemic"  # k = 3
    job_files = contract.stratum_outputs(3, min_k_funnel=3).values()
    for name in job_files:  # as the stratum_funnel job writes them
        (folder / name).write_text("x")
    (folder / "old-layout.svg").write_text("x")  # a file no version of the contract lists
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=3)
    assert {p.name for p in folder.iterdir()} == set(contract.stratum_files(3, 3))
    assert {"egger.json", "funnel.svg", "funnel.png"} <= {p.name for p in folder.iterdir()}

    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=4)

    left = {p.name for p in folder.iterdir()}
    assert left == {
        "data.csv",
        "pooled.json",
        "loo.csv",
        "influence.csv",
        "forest.svg",
        "forest.png",
    }
    assert left == set(contract.stratum_files(3, min_k_funnel=4))


# --------------------------------------------------------------------------- row assembly
# stratify() formats each effect's row once and assembles every stratum's file from
# those lines; these tests hold its bytes to those of each stratum frame written whole.


def _random_effects(seed: int, n_studies: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    platforms = ["whatsapp", "wechat", "mixed", ""]
    rows = []
    for s in range(n_studies):
        study = f"s{rng.integers(1000, 9999)}-{s}"
        platform = platforms[rng.integers(len(platforms))]
        weeks = int(rng.integers(4, 53))
        for domain in DOMAINS:
            if rng.random() < 0.3:
                continue
            yi = round(float(rng.normal(0, 0.6)), 6)  # at most 15 digits, as written
            row = effect(study, domain, platform, yi, n=int(rng.integers(20, 400)))
            row.update(
                vi=round(float(rng.uniform(0.005, 0.3)), 6),
                followup_weeks=weeks,
                citation=["Smith, J. (2020)", 'The "WA" trial', "Zhang\u00e9 et al.", "2021"][
                    s % 4
                ],
                outcome=["HbA1c", "FBG", "knowledge total"][int(rng.integers(3))],
                interactivity=["yes", "no", ""][int(rng.integers(3))],
            )
            rows.append(row)
    return pd.DataFrame(rows)


def _write_effects(frame: pd.DataFrame, path) -> None:
    # as the extraction stage writes effects.csv (livingreview.io.write_csv)
    write_csv(frame, path, text_columns=("citation", "record_id"))


def _stratified(src, out) -> dict:
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=3)
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/data.csv"))}


@pytest.mark.parametrize("seed", range(6))
def test_assembled_rows_equal_each_stratum_written_whole(seed, tmp_path) -> None:
    frame = _random_effects(seed)
    if seed % 2:
        frame["n"] = frame["n"].astype(float) + 0.5  # a float column of n
        frame["followup_weeks"] = frame["followup_weeks"] + 0.25
    if seed == 2:
        frame = frame.drop(columns=["interactivity", "rob_overall"])  # filled with ''
    if seed == 3:
        frame.loc[0, "yi"] = 0.0  # flipped to -0.0 in the overview
        frame.loc[1, "citation"] = "Two\nlines"  # a row that spans two lines: written whole
    if seed == 4:
        frame["platform"] = ""  # every trial 'mixed': no platform strata
    src = tmp_path / "effects.csv"
    _write_effects(frame, src)
    written = _stratified(src, tmp_path / "out")
    whole = build_strata(
        strata.read_effects(src), DOMAINS, PLATFORMS, platform_overview=True, source=src
    )
    assert written == {name: strata._csv_bytes(f) for name, f in whole.items()}
    assert len(written) >= 3


def test_rob_table_keeps_judgements_sorted_and_is_rewritten_only_on_change(tmp_path) -> None:
    studies = pd.DataFrame(
        {
            "study_id": ["b2", "a1", "c3"],
            "citation": ["B, 2020", 'A "one"', "C\nthree"],
            "rob_d1": ["low", "high", ""],
            "rob_overall": ["low", "high", "some concerns"],
            "country": ["x", "y", "z"],
        }
    )
    path, out = tmp_path / "studies.csv", tmp_path / "rob.csv"
    write_csv(studies, path, text_columns=("citation",))
    assert strata.write_rob_table(path, out) is True
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns) == ["study_id", "citation", "rob_d1", "rob_overall"]
    assert list(table["study_id"]) == ["a1", "b2", "c3"] and table["citation"][2] == "C\nthree"
    before = out.stat().st_mtime_ns
    assert strata.write_rob_table(path, out) is False and out.stat().st_mtime_ns == before
    studies.loc[0, "rob_d1"] = "high"
    write_csv(studies, path, text_columns=("citation",))
    assert strata.write_rob_table(path, out) is True


def test_meta_regression_of_a_domain_without_stratum_is_removed(
    effects: pd.DataFrame, tmp_path
) -> None:
    """A domain whose effects all went keeps no meta-regression to be reported or published."""
    src = tmp_path / "effects.csv"
    out = tmp_path / "s"
    metareg = tmp_path / "metareg"
    metareg.mkdir()
    for name in ("glycemic", "knowledge", "complications", "overall"):
        (metareg / f"{name}.json").write_text("{}")
    effects[effects["domain"] != "knowledge"].to_csv(src, index=False)
    stratify(src, out, out / "strata.json", DOMAINS, PLATFORMS)

    removed = strata.remove_stale_metareg(metareg, out / "strata.json")

    assert removed == ["knowledge"]
    assert sorted(p.stem for p in metareg.glob("*.json")) == [
        "complications",
        "glycemic",
        "overall",
    ]
    assert strata.remove_stale_metareg(tmp_path / "none", out / "strata.json") == []


def test_stratify_entry_point_writes_what_the_function_does_and_says_what_changed(
    effects: pd.DataFrame, tmp_path
) -> None:
    src, sheet = tmp_path / "effects.csv", tmp_path / "studies.csv"
    effects.to_csv(src, index=False)
    write_csv(pd.DataFrame({"study_id": ["a1"], "rob_overall": ["low"]}), sheet)
    (tmp_path / "metareg").mkdir()
    (tmp_path / "metareg" / "gone.json").write_text("{}")
    stratifier = Stratifier.from_config({"stratifier": {"values": PLATFORMS, "overview": True}})
    params = {"domains": DOMAINS, "stratifier": stratifier.as_params(), "study_columns": [],
              "min_k_funnel": 10, "rob_table": tmp_path / "rob.csv",
              "metareg_dir": tmp_path / "metareg"}  # fmt: skip
    settings = strata.StratifySettings.from_params(params)
    outputs = {"index": tmp_path / "new" / "strata.json"}
    inputs = {"effects": src, "studies": sheet}
    first = strata.write(strata.run(settings, inputs), outputs)
    assert len(first.strata) == 9 and first.removed_metareg == ["gone"] and first.rob_table
    assert strata.write(strata.run(settings, inputs), outputs) == ([], [], False)
    old = tmp_path / "old"
    assert stratify(src, old, old / "strata.json", DOMAINS, PLATFORMS, min_k_funnel=10)
    for path in sorted(p for p in old.rglob("*") if p.is_file()):
        assert (tmp_path / "new" / path.relative_to(old)).read_bytes() == path.read_bytes()
