"""Start-up checks of the config (livingreview.config_check): strict YAML, input folders, quiet period."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from livingreview.config_check import check_inputs, load_strict, recently_modified
from livingreview.errors import InputError
from livingreview.extraction.plausibility import PLAUSIBILITY

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_reads_strictly_as_safe_load() -> None:
    path = REPO / "config" / "config.yaml"
    assert load_strict(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_duplicate_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "analysis:\n  method: REML\n  test: z\n  method: FE\n")
    with pytest.raises(InputError) as info:
        load_strict(path)
    assert (info.value.row, info.value.column) == (4, "method")
    assert str(info.value).startswith(f"{path}, row 4, column 'method': expected each key once")
    assert "also on line 2" in str(info.value)


def test_merge_key_may_be_overridden_and_small_anchors_pass(tmp_path: Path) -> None:
    text = "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\ny: [*b, *b]\n"
    assert load_strict(write(tmp_path / "c.yaml", text)) == {
        "base": {"a": 1, "b": 2},
        "x": {"a": 1, "b": 3},
        "y": [{"a": 1, "b": 2}, {"a": 1, "b": 2}],
    }


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 12)]
    path = write(tmp_path / "c.yaml", "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(InputError, match="once YAML anchors and aliases"):
        load_strict(path)
    assert time.perf_counter() - start < 2
    with pytest.raises(InputError, match="once YAML anchors and aliases"):
        load_strict(write(tmp_path / "r.yaml", "a: &a [*a]\n"))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"c.yaml, row 2: expected valid YAML"):
        load_strict(write(tmp_path / "c.yaml", "a: 1\nb: c: d\n"))


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "search").mkdir(parents=True)
    (root / "screening" / "title_abstract").mkdir(parents=True)
    return root


def test_inputs_root_and_its_search_folder_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _root(tmp_path)
    check_inputs({"inputs": {"root": "in", "quiet_period_s": 0}})
    with pytest.raises(InputError, match="inputs.root to be an existing folder") as info:
        check_inputs({"inputs": {"root": "ni"}}, ["config/config.yaml"])
    assert info.value.file == "config/config.yaml" and info.value.got == "ni"
    with pytest.raises(InputError, match=r"a search/ folder inside inputs.root \(in/screening/"):
        check_inputs({"inputs": {"root": "in/screening"}})


def test_fresh_sheet_is_waited_for_once_then_read(tmp_path: Path) -> None:
    root = _root(tmp_path)
    sheet = write(root / "screening" / "title_abstract" / "zoe.csv", "x\n")
    mtime = sheet.stat().st_mtime
    clock = [mtime + 0.5]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    check_inputs(
        {"inputs": {"root": str(root), "quiet_period_s": 3}}, now=lambda: clock[0], sleep=sleep
    )
    assert slept == [pytest.approx(2.5)]


def test_sheet_still_changing_stops_with_retry(tmp_path: Path) -> None:
    root = _root(tmp_path)
    sheet = write(root / "extraction" / "outcomes" / "zoe.csv", "x\n")
    clock = [sheet.stat().st_mtime + 1]

    def sleep(s: float) -> None:  # the copy goes on while we wait
        clock[0] += s
        os.utime(sheet, (clock[0] - 0.2, clock[0] - 0.2))

    with pytest.raises(InputError) as info:
        check_inputs(
            {"inputs": {"root": str(root), "quiet_period_s": 5}}, now=lambda: clock[0], sleep=sleep
        )
    assert info.value.file == str(sheet)
    assert "changed 0.2 s ago, within the quiet period inputs.quiet_period_s = 5 s" in str(
        info.value
    )
    assert str(info.value).endswith("nothing was read or published, retry in 5 s")


def test_a_file_being_copied_in_real_time_stops_the_run(tmp_path: Path) -> None:
    root = _root(tmp_path)
    target = root / "screening" / "title_abstract" / "zoe.csv"
    stop = threading.Event()

    def copy() -> None:  # a slow copy: a line every 0.1 s
        with open(target, "w", encoding="utf-8") as fh:
            while not stop.is_set():
                fh.write("90000001,exclude,,,\n")
                fh.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=copy)
    writer.start()
    try:
        time.sleep(0.2)
        with pytest.raises(InputError, match="retry in"):
            check_inputs({"inputs": {"root": str(root), "quiet_period_s": 1}})
    finally:
        stop.set()
        writer.join()


def test_hidden_files_snapshots_and_old_files_are_not_waited_for(tmp_path: Path) -> None:
    root = _root(tmp_path)
    write(root / "screening" / "title_abstract" / ".~lock.zoe.csv#", "x")
    write(root / "search" / "pubmed" / "2026-11-20.xml.gz", "x")  # written by the pipeline
    old = write(root / "extraction" / "studies" / "carol.csv", "x")
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert recently_modified(root, 5, time.time()) == []


def test_schema_defaults_match_the_package() -> None:
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    props = schema["properties"]
    plaus = props["extraction"]["properties"]["plausibility"]
    assert plaus["default"] == PLAUSIBILITY
    assert {k: v["default"] for k, v in plaus["properties"].items()} == PLAUSIBILITY
    assert props["inputs"]["properties"]["quiet_period_s"]["default"] > 0
