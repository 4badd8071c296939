"""PRISMA 2020 flow diagram: the numbers drawn, both templates, print size, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from livingreview.publish.prisma import LATEST, WHOLE, prisma_figure, prisma_table, write_prisma

matplotlib.use("Agg")

DATA = Path(__file__).parent / "data" / "screening"
NB = "\u00a0"  # "(n = 4)" is held together with no-break spaces


def counts(**over) -> dict:
    """prisma.json of the screening fixture (see test_screening.test_prisma_counts_add_up)."""
    flow = {
        "records": 21,
        "screened": 14,
        "excluded_title_abstract": 5,
        "fulltext_assessed": 7,
        "fulltext_excluded": {"non-extractable data": 1, "not an RCT": 1, "wrong intervention": 1},
        "fulltext_excluded_total": 3,
        "included_records": 4,
        "awaiting": {"title_abstract": 4, "full_text": 1},
        "unscreened": {"title_abstract": 2, "full_text": 0},
        "conflicts": {"title_abstract": 1, "full_text": 1},
    }
    new = {
        **flow,
        "records": 9,
        "screened": 3,
        "excluded_title_abstract": 1,
        "fulltext_assessed": 1,
        "fulltext_excluded": {},
        "fulltext_excluded_total": 0,
        "included_records": 1,
        "identified": {"embase": 3, "pubmed": 8},
        "identified_total": 11,
        "duplicates_removed": 2,
    }
    base = {
        **flow,
        "identified": {"embase": 5, "pubmed": 24},
        "identified_total": 29,
        "duplicates_removed": 8,
        "included_studies": 4,
        "previous_included": 3,
        "previous_included_records": 3,
        "new_included": 1,
        "latest_search": "2026-11-01",
        "update": False,
        "new_search": new,
    }
    base.update(over)
    return base


def texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.axes[0].texts).replace(NB, " ")


def test_new_review_template_shows_the_counts():
    fig = prisma_figure(counts())
    shown = texts(fig)
    for line in (
        "Identification of studies via databases and registers",
        "Records identified from:",
        "Embase (n = 5)",
        "PubMed (n = 24)",
        "Total (n = 29)",
        "Duplicate records removed (n = 8)",
        "Records screened (n = 14)",
        "Records excluded (n = 5)",
        "Reports assessed for eligibility (n = 7)",
        "Reports excluded (n = 3):",
        "Non-extractable data (n = 1)",
        "Studies included in review (n = 4)",
        "Reports of included studies (n = 4)",
        "Title/abstract: 2 records not screened, 4 awaiting a second reviewer, 1 conflict awaiting adjudication",
    ):
        assert line in shown, line
    assert "Previous studies" not in shown


def test_updated_review_template_separates_previous_and_new_studies():
    shown = texts(prisma_figure(counts(update=True)))
    flat = " ".join(shown.split())  # undo the wrapping of the narrower columns
    for line in (
        "Previous studies",
        "Identification of new studies via databases and registers",
        "PubMed (n = 8)",
        "Total (n = 11)",
        "Records screened (n = 3)",
        "Reports excluded (n = 0)",
        "New studies included in review (n = 1)",
        "Total studies included in review (n = 4)",
        "Reports of total included studies (n = 4)",
    ):
        assert line in flat, line
    assert "Studies included in previous version of review (n = 3)" in flat
    assert "Reports of studies included in previous version of review (n = 3)" in flat


def _inside(inner, outer, tol=0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y0 >= outer.y0 - tol
        and inner.y1 <= outer.y1 + tol
    )


@pytest.mark.parametrize("update", [False, True])
def test_print_size_and_every_text_inside_its_box(update):
    many = {
        f"exclusion reason number {i} with a fairly long description": 100 + i for i in range(10)
    }
    big = {
        "fulltext_excluded": many,
        "fulltext_excluded_total": sum(many.values()),
        "identified": {"pubmed": 123456, "embase": 2345, "cinahl": 17},
    }
    c = counts(update=update, **big)
    c["new_search"].update(big)
    fig = prisma_figure(c)
    width, height = fig.get_size_inches()
    assert width == pytest.approx(8.3)  # A4 width: printed at 100 %
    assert height < 11.7  # fits on an A4 page
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()  # the Agg canvas the PNG is drawn on
    fig_box = fig.bbox
    boxes = [p.get_window_extent(renderer) for p in ax.patches]
    for text in ax.texts:
        assert text.get_fontsize() >= 8.0  # readable in print
        extent = text.get_window_extent(renderer)
        assert _inside(extent, fig_box), text.get_text()
        if text.get_text():
            assert any(_inside(extent, b) for b in boxes), (
                f"text leaves its box: {text.get_text()!r}"
            )
    assert "PubMed (n = 123,456)" in texts(fig)


def test_files_are_deterministic(tmp_path):
    c = counts(update=True)
    first = write_prisma(c, tmp_path / "a" / "prisma.svg")
    second = write_prisma(c, tmp_path / "b" / "prisma.svg")
    assert [p.name for p in first] == ["prisma.svg", "prisma.png"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    svg = first[0].read_text()
    assert "Total studies included in review" in svg and "<dc:date>" not in svg
    assert first[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagram_from_the_screening_stage_output(tmp_path):
    """End to end on the fixture review: the stage writes prisma.json and the diagram agrees."""
    import yaml

    from livingreview.screening import stage as screening

    config = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text()
    )
    out = tmp_path / "out"
    settings = screening.ScreeningSettings.from_params(
        {"root": DATA / "review", "screening": config["screening"]}
    )
    result = screening.run(
        settings, {"records": DATA / "records.csv", "summary": DATA / "summary.json"}
    )
    screening.write_outputs(result, out)
    data = json.loads((out / "prisma.json").read_text())
    svg = (out / "prisma.svg").read_text().replace("&#160;", " ").replace(NB, " ")
    assert data["update"] is True
    assert f"Total studies included in review (n = {data['included_studies']})" in svg
    assert f"Records screened (n = {data['new_search']['screened']})" in svg


def test_prisma_table_of_an_update_counts_the_latest_search_beside_the_whole_review():
    table = prisma_table(counts(update=True)).set_index("PRISMA 2020 box")
    assert list(table.columns) == [WHOLE, LATEST]
    assert table.loc["Records identified from PubMed"].tolist() == [24, 8]
    assert table.loc["Records identified, total"].tolist() == [29, 11]
    # a reason the latest search lacks counts 0 there, not blank
    assert table.loc["Reports excluded: not an RCT"].tolist() == [1, 0]
    assert table.loc["Conflicts awaiting adjudication (full text)"].tolist() == [1, 1]
    # study counts belong to the review as a whole: blank in the latest-search column
    assert table.loc["Studies included in the previous version", WHOLE] == 3
    assert table.loc["New studies included in this version", WHOLE] == 1
    for box in ("Studies included in the review", "New studies included in this version"):
        assert pd.isna(table.loc[box, LATEST])


def test_prisma_table_of_a_new_review_has_one_column_in_the_flow_order():
    table = prisma_table(counts())
    assert list(table.columns) == ["PRISMA 2020 box", WHOLE]
    boxes = table["PRISMA 2020 box"].tolist()
    assert boxes[:3] == [
        "Records identified from Embase",
        "Records identified from PubMed",
        "Records identified, total",
    ]
    assert boxes.index("Reports excluded: non-extractable data") < boxes.index(
        "Reports excluded, total"
    )
    assert boxes[-1] == "Studies included in the review"
