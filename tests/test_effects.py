"""livingreview.stats.escalc against metafor's escalc (tests/reference/metafor_reference.json).

Tolerance 1e-6 relative (absolute 1e-10 below 1e-4); the worst deviation is
printed by the last test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livingreview.stats import escalc as effects

REF = json.loads((Path(__file__).parent / "reference" / "metafor_reference.json").read_text())[
    "effects"
]
RTOL = 1e-6
WORST: list[tuple[float, str]] = []


def _close(name: str, ours: np.ndarray, ref: list[float]) -> None:
    b = np.asarray(ref, dtype=float)
    dev = np.abs(np.asarray(ours) - b) / np.maximum(np.abs(b), 1e-4)
    i = int(np.argmax(dev))
    WORST.append((float(dev[i]), f"{name}[{i}]: ours {float(ours[i])!r} metafor {float(b[i])!r}"))
    assert dev[i] <= RTOL, WORST[-1][1]


@pytest.mark.parametrize("case", ["smd", "smd_small"])
def test_smd_matches_escalc(case: str) -> None:
    r = REF[case]
    yi, vi = effects.smd(r["m1"], r["sd1"], r["n1"], r["m2"], r["sd2"], r["n2"])
    _close(case + ".yi", yi, r["yi"])
    _close(case + ".vi", vi, r["vi"])


def test_smd_from_change_is_smd_on_change_scores() -> None:
    r = REF["smd"]
    yi, vi = effects.smd_from_change(r["m1"], r["sd1"], r["n1"], r["m2"], r["sd2"], r["n2"])
    _close("smd_from_change.yi", yi, r["yi"])
    _close("smd_from_change.vi", vi, r["vi"])


def test_smd_from_md_se_matches_escalc_t_route() -> None:
    r = REF["smd_from_md_se"]
    yi, vi = effects.smd_from_md_se(r["md"], r["se"], r["n1"], r["n2"])
    _close("smd_from_md_se.yi", yi, r["yi"])
    _close("smd_from_md_se.vi", vi, r["vi"])


@pytest.mark.parametrize("case", ["rr", "or", "rr_edge", "or_edge"])
def test_binary_matches_escalc_zero_cells(case: str) -> None:
    r = REF[case]
    func = effects.log_risk_ratio if case.startswith("rr") else effects.log_odds_ratio
    yi, vi = func(r["ai"], r["n1i"], r["ci"], r["n2i"])
    _close(case + ".yi", yi, r["yi"])
    _close(case + ".vi", vi, r["vi"])


def test_double_zero_study_is_kept_with_correction() -> None:
    yi, vi = effects.log_risk_ratio([0], [118], [0], [105])
    assert yi[0] == pytest.approx(np.log(0.5 / 119) - np.log(0.5 / 106))
    assert vi[0] == pytest.approx(1 / 0.5 - 1 / 119 + 1 / 0.5 - 1 / 106)


def test_hedges_correction_exact_values() -> None:
    # c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)): c(2) = 1/sqrt(pi), c(3) = sqrt(pi/6)
    assert effects.hedges_correction(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-14)
    assert effects.hedges_correction(3) == pytest.approx(np.sqrt(np.pi / 6), rel=1e-14)
    assert np.isnan(effects.hedges_correction(1))
    assert effects.hedges_correction(1e6) == pytest.approx(
        1 - 3 / (4e6 - 1), rel=1e-8
    )  # log-gamma form, as metafor


def test_standard_errors_from_reported_statistics() -> None:
    z975 = 1.959963984540054
    t975_10 = 2.2281388519862739  # qt(0.975, 10) in R
    assert effects.se_from_ci(-1.0, 3.0)[0] == pytest.approx(2 / z975, rel=1e-14)
    assert effects.se_from_ci(-1.0, 3.0, df=10)[0] == pytest.approx(2 / t975_10, rel=1e-12)
    assert effects.se_from_ci(0.0, 2.0, level=0.90)[0] == pytest.approx(
        1 / 1.6448536269514715, rel=1e-12
    )
    assert effects.se_from_p(0.5, 0.05)[0] == pytest.approx(0.5 / z975, rel=1e-12)
    assert effects.se_from_p(-0.5, 0.05, df=10)[0] == pytest.approx(0.5 / t975_10, rel=1e-12)
    np.testing.assert_allclose(effects.se_from_t([2.0, -1.0], [-4.0, 2.0]), [0.5, 0.5])
    np.testing.assert_allclose(effects.sd_from_se([0.5, 1.0], [16, 25]), [2.0, 5.0])


def test_align_and_design_effect() -> None:
    np.testing.assert_array_equal(effects.align([0.3, -0.2], "lower"), [-0.3, 0.2])
    np.testing.assert_array_equal(effects.align([0.3, -0.2], ["higher", "lower"]), [0.3, 0.2])
    np.testing.assert_allclose(effects.design_effect([0.05, 0.0], [21, 30]), [2.0, 1.0])
    np.testing.assert_allclose(effects.effective_n([100, 50], [2.0, 1.0]), [50, 50])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: effects.smd([1, 2], [1, -1], [10, 10], [1, 1], [1, 1], [10, 10]),
            "study 1: field 'sd1' must be > 0 (got -1.0)",
        ),
        (
            lambda: effects.smd([1, 2], [1, 1], [10, 10], [1, 1], [1, 0], [10, 10]),
            "study 1: field 'sd2' must be > 0 (got 0.0)",
        ),
        (
            lambda: effects.smd([1], [1], [1], [1], [1], [10]),
            "study 0: field 'n1' must be >= 2 (got 1.0)",
        ),
        (
            lambda: effects.smd([1, float("nan")], [1, 1], [10, 10], [1, 1], [1, 1], [10, 10]),
            "study 1: field 'm1' must be a finite number (got nan)",
        ),
        (
            lambda: effects.log_risk_ratio([1, 20], [10, 10], [1, 1], [10, 10]),
            "study 1: field 'ai' must be <= n1i (got 20.0)",
        ),
        (
            lambda: effects.log_odds_ratio([1, 2], [10, 10], [-1, 1], [10, 10]),
            "study 0: field 'ci' must be >= 0 (got -1.0)",
        ),
        (lambda: effects.se_from_p(0.5, 0.0), "study 0: field 'p' must be in (0, 1) (got 0.0)"),
        (lambda: effects.se_from_ci(1.0, 0.5), "study 0: field 'upper' must be > lower (got 0.5)"),
        (
            lambda: effects.align([1.0], "up"),
            "study 0: field 'favourable' must be 'higher' or 'lower' (got 'up')",
        ),
        (
            lambda: effects.design_effect(1.5, 10),
            "study 0: field 'icc' must be in [0, 1] (got 1.5)",
        ),
    ],
)
def test_bad_values_name_study_and_field(call, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        call()
    assert str(exc.value) == message
    assert isinstance(exc.value, effects.EffectInputError)


def test_error_attributes_for_callers() -> None:
    with pytest.raises(effects.EffectInputError) as exc:
        effects.smd([1, 2, 3], [1, 1, 1], [10, 10, 10], [1, 1, 1], [1, 1, 1], [10, 0, 10])
    assert (exc.value.index, exc.value.field, exc.value.value) == (1, "n2", 0.0)


def test_report_worst_deviation(capsys: pytest.CaptureFixture[str]) -> None:
    if not WORST:  # run alone: compare everything here
        for case in ("smd", "smd_small"):
            test_smd_matches_escalc(case)
        test_smd_from_md_se_matches_escalc_t_route()
        for case in ("rr", "or", "rr_edge", "or_edge"):
            test_binary_matches_escalc_zero_cells(case)
    dev, msg = max(WORST)
    with capsys.disabled():
        print(
            f"\n[test_effects] worst deviation from metafor escalc: {dev:.3g} (tolerance {RTOL:g}) at {msg}"
        )
    assert dev <= RTOL
