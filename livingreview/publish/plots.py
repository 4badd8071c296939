"""Figures of the review: forest, funnel, domain and platform summaries, RoB 2.

Every figure is written as SVG and PNG and is byte-identical for identical
inputs, because a living review publishes a checksummed bundle on every
update: a figure that changed only because of a timestamp or a random SVG id
would look like a change in the evidence. Hence a fixed ``svg.hashsalt``, no
``Date`` in SVG metadata, no ``Software`` text chunk in PNG, text kept as SVG
text (``svg.fonttype: none``, also much faster for large forest plots).

Text from the data (citations, labels, database names) is never parsed as
markup: ``text.parse_math`` and ``text.usetex`` are off in :data:`RC`, which
every figure is drawn under, so ``$x^2$``, backslashes and braces in a
citation are printed as they are (mathtext raised on some of them).

Sign conventions are always drawn: each effect axis says on which side the
intervention is favoured (``favourable_sign`` of the domain, see
``config.extraction.domains``). Risk-of-bias plots follow the layout and
colours that robvis (McGuinness & Higgins 2021, Res Synth Methods 12:55-61)
made standard for RoB 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.markers import MarkerStyle  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from ..formatting import p_value  # noqa: E402
from ..io import atomic_write  # noqa: E402
from ..measures import display, is_ratio
from ..stats import dist  # noqa: E402

RC = {
    "svg.hashsalt": "livingreview",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "path.simplify": False,
    # Data text is plain text: no mathtext ("$...$") and no LaTeX, in any figure.
    "text.parse_math": False,
    "text.usetex": False,
}
PNG_DPI = 150
# A PNG taller than this is lowered in resolution: a forest plot of 1,500 studies
# is ~400 inches tall, and at print resolution it would take seconds per figure
# and exceed what image viewers open. The SVG keeps every detail at any size.
PNG_MAX_PIXELS = 12_000
# Below this resolution 9-pt text is under 7.5 pixels high and cannot be read, so a
# figure's per-row labels are left out of its PNG (forest plots of more than ~820
# studies): drawing thousands of unreadable labels was most of the cost of the
# largest strata. The SVG always keeps every label.
LABEL_MIN_DPI = 60
NBSP = "\u00a0"  # padding that SVG viewers keep (runs of plain spaces collapse to one)
MONO = {"family": "monospace", "fontsize": 8, "va": "center", "ha": "right"}
FORMATS = ("svg", "png")

# robvis colours (RoB 2 "cochrane" palette) and symbols.
ROB_LEVELS = ("low", "some concerns", "high", "no information")
ROB_COLOURS = {
    "low": "#02C100",
    "some concerns": "#E2DF07",
    "high": "#BF0000",
    "no information": "#4EA1F7",
}
ROB_SYMBOLS = {"low": "+", "some concerns": "-", "high": "X", "no information": "?"}
ROB_DOMAINS = {
    "rob_d1": "D1: Bias arising from the randomization process",
    "rob_d2": "D2: Bias due to deviations from intended interventions",
    "rob_d3": "D3: Bias due to missing outcome data",
    "rob_d4": "D4: Bias in measurement of the outcome",
    "rob_d5": "D5: Bias in selection of the reported result",
    "rob_overall": "Overall risk of bias",
}


# --------------------------------------------------------------------------- helpers


def png_dpi(fig: Figure) -> float:
    """Resolution of the PNG of ``fig``: print resolution, lowered so no side exceeds the cap."""
    return min(PNG_DPI, PNG_MAX_PIXELS / max(fig.get_size_inches()))


def save_figure(
    fig: Figure,
    path: str | Path,
    formats: Sequence[str] = FORMATS,
    *,
    row_labels: Sequence[Artist] = (),
) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix in ``formats`` (atomically, deterministically).

    ``path`` may carry any suffix (``forest.svg``) or none; the stem is what counts.
    ``row_labels`` are left out of a PNG rendered below ``LABEL_MIN_DPI``.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".svg", ".png") else path
    written = []
    dpi = png_dpi(fig)
    for fmt in formats:
        legible = fmt != "png" or dpi >= LABEL_MIN_DPI
        for artist in row_labels:
            artist.set_visible(legible)
        target = stem.with_name(stem.name + "." + fmt)
        extra: dict[str, Any] = (
            {"metadata": {"Date": None}}
            if fmt == "svg"
            # zlib level 3: as small as the default 6 on these flat-colour images, 30% faster
            else {"metadata": {"Software": None}, "pil_kwargs": {"compress_level": 3}}
        )
        with matplotlib.rc_context(RC), atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches=None, **extra)
        written.append(target)
    return written


def _sign(favourable_sign: Any) -> int:
    """+1 when positive effects favour the intervention, -1 when negative do, 0 if unknown."""
    if isinstance(favourable_sign, int | float) and not isinstance(favourable_sign, bool):
        return int(np.sign(favourable_sign))
    text = str(favourable_sign or "").strip().lower()
    if text in ("positive", "+", "higher", "+1", "1"):
        return 1
    if text in ("negative", "-", "lower", "-1"):
        return -1
    return 0


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def fmt_num(value: Any, digits: int = 2) -> str:
    x = _num(value)
    return "NA" if not math.isfinite(x) else f"{x:.{digits}f}"


def fmt_p(value: Any) -> str:
    return p_value(value)


def _ratio_name(measure: str) -> str:
    return "Odds ratio" if "OR" in str(measure).upper() else "Risk ratio"


def _axis_label(measure: str) -> str:
    if is_ratio(measure):
        return f"{_ratio_name(measure)} (log scale)"
    return "Standardized mean difference (Hedges' g)" if str(measure).upper() == "SMD" else measure


def _est_ci_text(est: float, lo: float, hi: float, measure: str) -> str:
    return f"{fmt_num(display(est, measure))} [{fmt_num(display(lo, measure))}, {fmt_num(display(hi, measure))}]"


def _ratio_ticks(ax: Axes) -> None:
    """Ticks at round ratios on a log-scale axis that holds log values."""
    lo, hi = ax.get_xlim()
    candidates = np.array([0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20])  # even on a log axis
    logs = np.log(candidates)
    keep = (logs >= lo) & (logs <= hi)
    if keep.sum() < 3:
        ticks = np.linspace(lo, hi, 5)
        ax.set_xticks(ticks, [f"{math.exp(t):.2g}" for t in ticks])
    else:
        ax.set_xticks(logs[keep], [f"{c:g}" for c in candidates[keep]])


def _favours_labels(ax: Axes, sign: int, *, y: float = -0.16, null: float = 0.0) -> None:
    """Write 'Favours intervention' / 'Favours control' under the two sides of the null line."""
    if sign == 0:
        ax.text(
            0.5, y, "direction differs by outcome", transform=ax.transAxes, ha="center", va="top"
        )
        return
    left, right = (
        ("Favours intervention", "Favours control")
        if sign < 0
        else ("Favours control", "Favours intervention")
    )
    lo, hi = ax.get_xlim()
    frac = (null - lo) / (hi - lo) if hi > lo else 0.5
    frac = min(max(frac, 0.0), 1.0)
    trans = ax.transAxes
    ax.text(frac - 0.02, y, "\u2190 " + left, transform=trans, ha="right", va="top", fontsize=8)
    ax.text(frac + 0.02, y, right + " \u2192", transform=trans, ha="left", va="top", fontsize=8)


def _xlim(values: Sequence[float], include: float = 0.0, pad: float = 0.08) -> tuple[float, float]:
    arr = np.asarray([v for v in values if math.isfinite(v)] + [include], dtype=float)
    lo, hi = float(arr.min()), float(arr.max())
    span = hi - lo if hi > lo else 1.0
    return lo - pad * span, hi + pad * span


def _labels(data: pd.DataFrame) -> list[str]:
    """Study labels: citation when given, else study_id; domain added when a study repeats."""
    ids = data["study_id"].astype(str) if "study_id" in data else pd.Series(range(len(data)))
    if "citation" in data:
        cit = data["citation"].fillna("").astype(str).str.strip()
        labels = [c if c else i for c, i in zip(cit, ids, strict=True)]
    else:
        labels = list(ids)
    if "domain" in data and ids.duplicated(keep=False).any():
        labels = [
            f"{lab} ({dom})" if dup else lab
            for lab, dom, dup in zip(
                labels, data["domain"], ids.duplicated(keep=False), strict=True
            )
        ]
    return [lab if len(lab) <= 60 else lab[:57] + "..." for lab in labels]


def is_multilevel(pooled: Mapping[str, Any]) -> bool:
    """Whether ``pooled.json`` is of a multilevel stratum (several effects per trial)."""
    return pooled.get("model") == "multilevel"


def multilevel_text(pooled: Mapping[str, Any]) -> str:
    """How a multilevel stratum was pooled, in one line (forest footer, report captions).

    >>> multilevel_text({"model": "multilevel", "k": 23, "n_trials": 8, "rho": 0.6,
    ...                  "inference": "CR2", "method": "REML"})
    'Multilevel model (REML): 23 effects nested in 8 trials, \u03c1 = 0.6; CR2 robust CI'
    """
    k, trials = _num(pooled.get("n_effects", pooled.get("k"))), _num(pooled.get("n_trials"))
    inference = pooled.get("inference") or "CR2"
    how = "CR2 robust CI" if inference == "CR2" else "model-based CI"
    return (
        f"Multilevel model ({pooled.get('method') or 'REML'}): {fmt_int(k)} effects nested in "
        f"{fmt_int(trials)} trials, \u03c1 = {fmt_num(pooled.get('rho'), 2).rstrip('0').rstrip('.')}; "
        f"{how}"
    )


def fmt_int(value: Any) -> str:
    x = _num(value)
    return str(int(x)) if math.isfinite(x) else "?"


def effect_weights(data: pd.DataFrame, pooled: Mapping[str, Any], reported: bool) -> np.ndarray:
    """Percentage weight of each effect in the pooled estimate, as metafor's ``weights()``.

    Univariate: ``w_i = 1 / (v_i + tau^2)`` (``weights.rma.uni``). Multilevel:
    the diagonal of W = M^-1, M the marginal covariance of a trial's effects,
    V_i (sampling covariances rho sqrt(v_a v_b)) + sigma2_trial J + sigma2_effect I
    (``weights.rma.mv``, type "diagonal"); computed block by block.
    """
    vi = data["vi"].to_numpy(dtype=float)
    if not len(vi):
        return vi
    if is_multilevel(pooled) and reported and "study_id" in data:
        s_t, s_e, rho = (_num(pooled.get(x)) for x in ("sigma2_trial", "sigma2_effect", "rho"))
        s_t, s_e = (x if math.isfinite(x) else 0.0 for x in (s_t, s_e))
        rho = rho if math.isfinite(rho) else 0.0
        w = np.empty_like(vi)
        trials = data["study_id"].astype(str).to_numpy()
        for t in pd.unique(trials):
            rows = np.flatnonzero(trials == t)
            sd = np.sqrt(vi[rows])
            m = rho * np.outer(sd, sd) + s_t
            m[np.diag_indices_from(m)] = vi[rows] + s_t + s_e
            w[rows] = np.diag(np.linalg.inv(m))
    else:
        tau2 = _num(pooled.get("tau2"))
        tau2 = tau2 if math.isfinite(tau2) and reported else 0.0
        w = 1.0 / (vi + tau2)
    return 100 * w / w.sum()


def _heterogeneity_text(pooled: Mapping[str, Any]) -> str:
    if is_multilevel(pooled):
        return _multilevel_heterogeneity_text(pooled)
    k = int(_num(pooled.get("k")) if math.isfinite(_num(pooled.get("k"))) else 0)
    method = pooled.get("method") or "REML"
    test = str(pooled.get("test") or "z").lower()
    stat = "t" if test == "knha" else "z"
    parts = [
        f"RE model ({method}): \u03c4\u00b2 = {fmt_num(pooled.get('tau2'), 3)}",
        f"I\u00b2 = {fmt_num(pooled.get('i2'), 1)}%",
        f"Q({max(k - 1, 0)}) = {fmt_num(pooled.get('q'), 2)}, p {fmt_p(pooled.get('q_pval'))}",
    ]
    overall = f"Test for overall effect: {stat} = {fmt_num(pooled.get('zval'), 2)}, p {fmt_p(pooled.get('pval'))}"
    return "; ".join(parts) + "\n" + overall


def _multilevel_heterogeneity_text(pooled: Mapping[str, Any]) -> str:
    k = int(_num(pooled.get("k")) if math.isfinite(_num(pooled.get("k"))) else 0)
    parts = [
        f"{multilevel_text(pooled)}",
        f"\u03c3\u00b2 trial = {fmt_num(pooled.get('sigma2_trial'), 3)}, "
        f"\u03c3\u00b2 effect = {fmt_num(pooled.get('sigma2_effect'), 3)}; "
        f"I\u00b2 = {fmt_num(pooled.get('i2'), 1)}%; "
        f"Q({max(k - 1, 0)}) = {fmt_num(pooled.get('q'), 2)}, p {fmt_p(pooled.get('q_pval'))}",
    ]
    if pooled.get("inference") == "CR2" and pooled.get("robust_df") is not None:
        overall = (
            f"Test for overall effect (CR2, Satterthwaite df = {fmt_num(pooled.get('robust_df'), 1)}): "
            f"t = {fmt_num(pooled.get('zval'), 2)}, p {fmt_p(pooled.get('pval'))}"
        )
    else:
        overall = (
            f"Test for overall effect: z = {fmt_num(pooled.get('zval'), 2)}, "
            f"p {fmt_p(pooled.get('pval'))}"
        )
    return "\n".join([*parts, overall])


class RowLabels(Artist):
    """One line of text per table row, drawn by one artist.

    A forest plot of a large stratum has thousands of row labels, and a
    matplotlib ``Text`` per label spends most of its time on general layout
    (wrapping, rotation, per-string extents, multi-line) that rows of one font
    never need: that was most of the SVG time of the largest strata. Rows share
    one baseline offset (centred on ``ys`` like ``va="center"``), so mixed
    ascenders do not make rows wobble; ``ha="right"`` is meant for the
    monospaced number column, whose rows all have one width. Text is never
    parsed as mathtext, so a ``$`` in a citation is printed as it is.
    """

    def __init__(
        self,
        ax: Axes,
        x: float,
        ys: Sequence[float],
        texts: Sequence[str],
        *,
        ha: str = "left",
        fontsize: float = 9.0,
        family: str | None = None,
        color: str = "black",
    ) -> None:
        super().__init__()
        if ha not in ("left", "right"):
            raise ValueError(f"ha must be 'left' or 'right', not {ha!r}")
        self._ax, self._x, self._ha, self._color = ax, x, ha, color
        self._ys, self._texts = np.asarray(ys, dtype=float), list(texts)
        self._prop = FontProperties(family=family or RC["font.family"], size=fontsize)
        self.set_figure(ax.figure)
        self.set_clip_on(False)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self._texts:
            return
        _, height, descent = renderer.get_text_width_height_descent("lp", self._prop, False)
        points = self._ax.transData.transform(
            np.column_stack([np.full(len(self._ys), self._x), self._ys])
        )
        _, canvas_h = renderer.get_canvas_width_height()
        gc = renderer.new_gc()
        gc.set_foreground(self._color)
        renderer.open_group("row_labels", self.get_gid())
        shift = 0.0
        if self._ha == "right":
            shift = renderer.get_text_width_height_descent(self._texts[0], self._prop, False)[0]
        for (x, y), text in zip(points, self._texts, strict=True):
            baseline = y - height / 2 + descent
            renderer.draw_text(gc, x - shift, canvas_h - baseline, text, self._prop, 0.0, False)
        renderer.close_group("row_labels")
        gc.restore()
        self.stale = False


# --------------------------------------------------------------------------- forest


def forest_plot(
    data: pd.DataFrame,
    pooled: Mapping[str, Any],
    path: str | Path,
    *,
    measure: str | None = None,
    favourable_sign: Any = None,
    label: str | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Forest plot of one stratum: study CIs, random-effects weights, pooled diamond, PI.

    Weights are the random-effects weights ``w_i = 1 / (v_i + tau^2)`` as a
    percentage (metafor ``weights.rma.uni``), or for a multilevel stratum
    (``model: multilevel`` in ``pooled``) those of :func:`effect_weights`;
    the pooled row and the footer then name the multilevel model (effects,
    trials, rho, CR2 inference). CIs of single studies are
    ``y_i +/- z_{1-alpha/2} sqrt(v_i)`` at the stratum's ``level``. When the
    stratum is not reported (k < min_k) the studies are drawn without a pooled
    estimate and the plot says so.
    """
    measure = measure or pooled.get("measure") or "SMD"
    sign = _sign(favourable_sign if favourable_sign is not None else pooled.get("favourable_sign"))
    label = label or pooled.get("label") or pooled.get("stratum") or ""
    level = _num(pooled.get("level"))
    level = level if math.isfinite(level) and 0 < level < 1 else 0.95
    zcrit = dist.norm_ppf(0.5 + level / 2)

    yi = data["yi"].to_numpy(dtype=float)
    vi = data["vi"].to_numpy(dtype=float)
    se = np.sqrt(vi)
    lo, hi = yi - zcrit * se, yi + zcrit * se
    reported = bool(pooled.get("reported", True)) and math.isfinite(_num(pooled.get("estimate")))
    wpct = effect_weights(data, pooled, reported)
    names = _labels(data)
    k = len(yi)
    multi = is_multilevel(pooled)

    rows = k + 3  # studies, gap, pooled, heterogeneity line
    extra = 0.16 if multi else 0.0  # a third footer line: the multilevel model
    height = 1.6 + 0.24 * rows + extra
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9.0, height))
        grid = fig.add_gridspec(1, 3, width_ratios=[3.0, 4.0, 2.6], wspace=0.02)
        ax_l, ax, ax_r = (fig.add_subplot(grid[0, i]) for i in range(3))
        y = np.arange(k, 0, -1, dtype=float) + 1.5  # first study at the top
        ypool = 0.8
        ylim = (-0.2, k + 2.9)
        for a in (ax_l, ax, ax_r):
            a.set_ylim(*ylim)
            a.set_yticks([])
        for a in (ax_l, ax_r):
            a.axis("off")
            a.set_xlim(0, 1)

        extremes = list(lo) + list(hi)
        est = _num(pooled.get("estimate"))
        if reported:
            extremes += [_num(pooled.get(x)) for x in ("ci_low", "ci_high", "pi_low", "pi_high")]
        ax.set_xlim(*_xlim(extremes))
        ax.axvline(0.0, color="black", lw=0.8)
        size = 20 + 180 * (wpct / wpct.max() if k else wpct)
        ax.hlines(y, lo, hi, color="black", lw=0.9)
        ax.scatter(yi, y, s=size, marker="s", color="#34495e", zorder=3, linewidths=0)

        # Estimate, CI and weight of a row form one monospaced string: decimals line up,
        # and one text per row instead of two is a third less text to lay out.
        cells = [
            (*(fmt_num(display(x, measure)) for x in (e, a, b)), f"{wp:.1f}%")
            for e, a, b, wp in zip(yi, lo, hi, wpct, strict=True)
        ]
        cl, ch = _num(pooled.get("ci_low")), _num(pooled.get("ci_high"))
        if reported:
            cells.append((*(fmt_num(display(x, measure)) for x in (est, cl, ch)), "100.0%"))
        width = max((len(c) for row in cells for c in row[:3]), default=4)
        wwidth = max([len(row[3]) for row in cells] + [len("Weight")])

        def numbers(row: tuple[str, ...]) -> str:
            e, a, b, w = row
            text = f"{e:>{width}} [{a:>{width}}, {b:>{width}}]  {w:>{wwidth}}"
            return text.replace(" ", NBSP)

        header_y = k + 2.45
        ax_l.text(0.0, header_y, "Study", fontweight="bold", va="center")
        shown = _ratio_name(measure) if is_ratio(measure) else str(measure)
        head = f"{shown} [{level:.0%} CI]".rjust(3 * width + 5) + "  " + "Weight".rjust(wwidth)
        ax_r.text(0.98, header_y, head.replace(" ", NBSP), fontweight="bold", **MONO)
        rows = [
            ax_l.add_artist(RowLabels(ax_l, 0.0, y, names)),
            ax_r.add_artist(
                RowLabels(
                    ax_r, 0.98, y, [numbers(r) for r in cells[:k]], ha="right",
                    fontsize=MONO["fontsize"], family=MONO["family"],
                )
            ),
        ]  # fmt: skip

        if reported:
            pl, ph = _num(pooled.get("pi_low")), _num(pooled.get("pi_high"))
            if math.isfinite(pl) and math.isfinite(ph):
                ax.hlines(ypool, pl, ph, color="#7f8c8d", lw=1.2, zorder=2)
                ax.vlines([pl, ph], ypool - 0.15, ypool + 0.15, color="#7f8c8d", lw=1.2)
            diamond = Polygon(
                [(cl, ypool), (est, ypool + 0.32), (ch, ypool), (est, ypool - 0.32)],
                closed=True,
                facecolor="#c0392b",
                edgecolor="black",
                lw=0.6,
                zorder=4,
            )
            ax.add_patch(diamond)
            ax.axvline(est, color="#c0392b", lw=0.6, ls=":", zorder=1)
            model = (
                f"Multilevel model (k = {k}, {fmt_int(pooled.get('n_trials'))} trials)"
                if multi
                else f"Random-effects model (k = {k})"
            )
            ax_l.text(0.0, ypool, model, va="center", fontweight="bold")
            ax_r.text(0.98, ypool, numbers(cells[-1]), fontweight="bold", **MONO)
            if math.isfinite(pl) and math.isfinite(ph):
                ax_r.text(
                    0.02,
                    ypool - 0.55,
                    f"PI [{fmt_num(display(pl, measure))}, {fmt_num(display(ph, measure))}]",
                    va="center",
                    color="#555555",
                    fontsize=8,
                )
            footer = _heterogeneity_text(pooled)
        else:
            few = f"{fmt_int(pooled.get('n_trials'))} trials" if multi else f"k = {k}"
            ax_l.text(0.0, ypool, f"Not estimated ({few} < min k)", va="center", style="italic")
            footer = "Pooled estimate not reported: too few " + ("trials." if multi else "studies.")

        if is_ratio(measure):
            _ratio_ticks(ax)
        ax.set_xlabel(_axis_label(measure))
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        _favours_labels(ax, sign, y=-0.5 / (height - 0.45 - 1.25 - extra))
        fig.suptitle(label, x=0.02, ha="left", fontweight="bold", y=1 - 0.12 / height)
        fig.text(0.02, 0.02, footer, fontsize=8, va="bottom")
        fig.subplots_adjust(
            left=0.02, right=0.98, top=1 - 0.45 / height, bottom=(1.25 + extra) / height
        )
        return save_figure(fig, path, formats, row_labels=rows)


# --------------------------------------------------------------------------- funnel


def _egger_text(egger: Mapping[str, Any] | None) -> str:
    if not egger:
        return ""
    stat = next(
        (egger[k] for k in ("zval", "statistic", "tval", "z", "t") if egger.get(k) is not None),
        None,
    )
    p = next((egger[k] for k in ("pval", "p", "p_value") if egger.get(k) is not None), None)
    text = f"Egger's test: statistic = {fmt_num(stat)}, p {fmt_p(p)}"
    if egger.get("model") == "multilevel":  # multilevel_stratum.egger_multilevel
        text = (
            f"Egger's test (multilevel, CR2, df = {fmt_num(egger.get('df'), 1)}): "
            f"t = {fmt_num(stat)}, p {fmt_p(p)}"
        )
    limit = next(
        (egger[k] for k in ("limit", "limit_estimate", "b") if egger.get(k) is not None), None
    )
    if limit is not None and not isinstance(limit, dict | list):
        text += f"; limit estimate = {fmt_num(limit)}"
    return text


def funnel_plot(
    data: pd.DataFrame,
    pooled: Mapping[str, Any],
    egger: Mapping[str, Any] | None,
    path: str | Path,
    *,
    measure: str | None = None,
    favourable_sign: Any = None,
    label: str | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Funnel plot (effect vs standard error, inverted) with the pseudo-95% region.

    The region is ``estimate +/- 1.96 SE`` around the pooled estimate, as
    metafor's ``funnel.rma`` draws it; Egger's regression test (metafor
    ``regtest``) is printed when given.
    """
    measure = measure or pooled.get("measure") or "SMD"
    sign = _sign(favourable_sign if favourable_sign is not None else pooled.get("favourable_sign"))
    label = label or pooled.get("label") or pooled.get("stratum") or ""
    yi = data["yi"].to_numpy(dtype=float)
    se = np.sqrt(data["vi"].to_numpy(dtype=float))
    est = _num(pooled.get("estimate"))
    centre = est if math.isfinite(est) else float(np.average(yi, weights=1 / se**2))
    semax = float(se.max()) * 1.05 if len(se) else 1.0
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.0, 4.8))
        ax = fig.subplots()
        grid = np.array([0.0, semax])
        ax.fill_betweenx(
            grid, centre - 1.96 * grid, centre + 1.96 * grid, color="#ecf0f1", zorder=0
        )
        ax.plot(centre - 1.96 * grid, grid, color="#7f8c8d", lw=0.8, ls="--")
        ax.plot(centre + 1.96 * grid, grid, color="#7f8c8d", lw=0.8, ls="--")
        ax.axvline(centre, color="#c0392b", lw=0.9)
        ax.axvline(0.0, color="black", lw=0.6, ls=":")
        ax.scatter(yi, se, s=22, color="#34495e", zorder=3)
        ax.set_ylim(semax, 0)
        ax.set_xlim(*_xlim(list(yi) + [centre - 1.96 * semax, centre + 1.96 * semax]))
        if is_ratio(measure):
            _ratio_ticks(ax)
        ax.set_xlabel(_axis_label(measure))
        ax.set_ylabel("Standard error")
        ax.set_title(f"{label} (k = {len(yi)})", loc="left", fontweight="bold")
        text = _egger_text(egger)
        _favours_labels(ax, sign, y=-0.13)
        fig.text(0.02, 0.02, text or "Egger's test: not computed", fontsize=8)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.22)
        return save_figure(fig, path, formats)


# --------------------------------------------------------------------------- summaries


def summary_plot(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str,
    row_label: str = "label",
    row_header: str = "Stratum",
    footnote: str | None = None,
    formats: Sequence[str] = FORMATS,
    level: float | None = None,
    min_k: int | None = None,
) -> list[Path]:
    """Pooled estimate, CI and prediction interval per stratum, with k and I2.

    ``level`` and ``min_k``: the configured ones (the report passes them); else
    as the rows were pooled (their ``level``/``min_k``), 95% and 3 when they differ.

    One row per ``pooled.json``. Rows that are not reported (k < min_k) show
    "NE (k = n)". Each row carries its own sign convention, because domains
    differ (glycemic: lower is better; knowledge: higher is better), so the
    favoured side is printed per row rather than once under the axis.
    """
    rows = list(rows)
    n = len(rows)
    height = 1.7 + 0.42 * max(n, 1)
    measures = {str(r.get("measure") or "SMD") for r in rows}
    measure = measures.pop() if len(measures) == 1 else "SMD"
    levels = {v for v in (_num(r.get("level")) for r in rows) if math.isfinite(v)}
    if level is None:
        level = levels.pop() if len(levels) == 1 else 0.95  # as the rows were pooled
    pct = f"{level * 100:g}%"
    if min_k is None:
        min_ks = {r.get("min_k") for r in rows} - {None}
        min_k = min_ks.pop() if len(min_ks) == 1 else 3
    multi = [r for r in rows if is_multilevel(r)]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9.0, height))
        grid = fig.add_gridspec(1, 3, width_ratios=[2.6, 4.0, 3.2], wspace=0.02)
        ax_l, ax, ax_r = (fig.add_subplot(grid[0, i]) for i in range(3))
        ys = np.arange(n, 0, -1, dtype=float)
        for a in (ax_l, ax, ax_r):
            a.set_ylim(0.3, n + 1.0)
            a.set_yticks([])
        for a in (ax_l, ax_r):
            a.axis("off")
            a.set_xlim(0, 1)
        extremes: list[float] = []
        for r in rows:
            if r.get("reported"):
                extremes += [_num(r.get(x)) for x in ("ci_low", "ci_high", "pi_low", "pi_high")]
        ax.set_xlim(*_xlim(extremes or [-1.0, 1.0]))
        ax.axvline(0.0, color="black", lw=0.8)
        ax_l.text(0.0, n + 0.6, row_header, fontweight="bold", va="center")
        ax_r.text(0.02, n + 0.6, f"Estimate [{pct} CI]", fontweight="bold", va="center")
        k_head = "k (trials)    I\u00b2" if multi else "k    I\u00b2"
        ax_r.text(0.98, n + 0.6, k_head, fontweight="bold", va="center", ha="right")
        for yy, r in zip(ys, rows, strict=True):
            k = int(_num(r.get("k"))) if math.isfinite(_num(r.get("k"))) else 0
            kk = f"{k} ({fmt_int(r.get('n_trials'))})" if is_multilevel(r) else str(k)
            s = _sign(r.get("favourable_sign"))
            arrow = {
                1: "favours intervention: higher \u2192",
                -1: "\u2190 favours intervention: lower",
                0: "",
            }[s]
            ax_l.text(0.0, yy + 0.1, str(r.get(row_label) or r.get("stratum") or ""), va="center")
            if arrow:
                ax_l.text(0.0, yy - 0.22, arrow, va="center", fontsize=7, color="#555555")
            m = str(r.get("measure") or measure)
            if r.get("reported") and math.isfinite(_num(r.get("estimate"))):
                est, cl, ch = (_num(r.get(x)) for x in ("estimate", "ci_low", "ci_high"))
                pl, ph = _num(r.get("pi_low")), _num(r.get("pi_high"))
                if math.isfinite(pl) and math.isfinite(ph):
                    ax.hlines(yy, pl, ph, color="#95a5a6", lw=4, alpha=0.6, zorder=1)
                ax.hlines(yy, cl, ch, color="black", lw=1.4, zorder=2)
                ax.scatter([est], [yy], marker="D", s=40, color="#c0392b", zorder=3)
                ax_r.text(0.02, yy, _est_ci_text(est, cl, ch, m), va="center")
                ax_r.text(0.98, yy, f"{kk}  {fmt_num(r.get('i2'), 0)}%", va="center", ha="right")
            else:
                ax_r.text(0.02, yy, "NE", va="center", style="italic")
                ax_r.text(0.98, yy, f"{kk}    -", va="center", ha="right")
        if is_ratio(measure):
            _ratio_ticks(ax)
        ax.set_xlabel(_axis_label(measure))
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        fig.suptitle(title, x=0.02, ha="left", fontweight="bold", y=1 - 0.1 / height)
        fewer = f"k < {min_k}; fewer than {min_k} trials in a multilevel row" if multi else ""
        note = (
            f"Black line: {pct} CI; grey band: {pct} prediction interval; "
            f"NE: not estimated ({fewer or f'k < {min_k}'})."
        )
        if multi:
            note = f"{note}\n{multilevel_note(multi)}"
        note = footnote or note
        fig.text(0.02, 0.02, note, fontsize=8)
        fig.subplots_adjust(
            left=0.02, right=0.98, top=1 - 0.5 / height, bottom=(1.0 + 0.15 * bool(multi)) / height
        )
        return save_figure(fig, path, formats)


def multilevel_note(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line saying how multilevel rows were pooled (their rho and inference, if shared).

    >>> multilevel_note([{"rho": 0.6, "inference": "CR2", "method": "REML"}])
    'Multilevel model (REML): effects nested in trials, \u03c1 = 0.6; CR2 cluster-robust CI (Satterthwaite df); k = effects (trials).'
    """
    rhos = {_num(r.get("rho")) for r in rows}
    inference = {r.get("inference") for r in rows}
    methods = {r.get("method") for r in rows}
    rho = (
        f"\u03c1 = {fmt_num(rhos.pop(), 2).rstrip('0').rstrip('.')}"
        if len(rhos) == 1
        else "\u03c1 varies"
    )
    how = {
        frozenset({"CR2"}): "CR2 cluster-robust CI (Satterthwaite df)",
        frozenset({"model"}): "model-based CI",
    }.get(frozenset(inference), "CI by row")
    method = methods.pop() if len(methods) == 1 else "REML/ML"
    return (
        f"Multilevel model ({method}): effects nested in trials, {rho}; {how}; "
        "k = effects (trials)."
    )


def cumulative_plot(
    rows: pd.DataFrame, path: str | Path, *, label: str, level: float, k: int = 0, **kw: Any
) -> list[Path]:
    """Cumulative meta-analysis of one domain: the pooled estimate as each study was added.

    A domain not pooled yet (no rows) gets a figure that says so, with its k.
    """
    measure = str(rows["measure"].iloc[0]) if "measure" in rows and len(rows) else "SMD"

    def name(added: Any, year: Any) -> str:
        shown = "" if pd.isna(year) or f"({int(year)})" in str(added) else f" ({int(year)})"
        return f"+ {added}{shown}"

    items = [
        {
            "label": name(r.added, r.year),
            "reported": True,
            "estimate": r.estimate,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "k": r.k,
            "i2": r.i2,
            "measure": measure,
            "level": level,
        }  # fmt: skip
        for r in rows.itertuples(index=False)
    ] or [{"label": "not pooled yet", "reported": False, "k": k, "level": level}]
    note = f"Each row: the model refitted on the studies up to it; black line: {level * 100:g}% CI."
    return summary_plot(
        items, path, title=f"Cumulative meta-analysis by publication year: {label}",
        row_header="Study added (year)", footnote=note, **kw,
    )  # fmt: skip


def history_plot(history: pd.DataFrame, path: str | Path, **kw: Any) -> list[Path]:
    """Each domain's pooled estimate and CI in every published version (one panel per domain)."""
    domains = list(dict.fromkeys(history["domain"]))
    versions = list(dict.fromkeys(history["version"]))
    n = max(len(domains), 1)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9.0, 0.6 + 2.4 * nrows))
        for i, domain in enumerate(domains):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            rows = history[(history["domain"] == domain) & history["reported"].astype(bool)]
            measure = str(history.loc[history["domain"] == domain, "measure"].iloc[0])
            x = [versions.index(v) for v in rows["version"]]
            est, lo, hi = (
                np.exp(rows[c].to_numpy(float)) if is_ratio(measure) else rows[c].to_numpy(float)
                for c in ("estimate", "ci_low", "ci_high")
            )
            ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="D", color="#c0392b",
                        ecolor="black", elinewidth=1.2, capsize=2, markersize=4)  # fmt: skip
            ax.axhline(1.0 if is_ratio(measure) else 0.0, color="black", lw=0.8)
            if is_ratio(measure):
                ax.set_yscale("log")
            label = str(history.loc[history["domain"] == domain, "label"].iloc[0])
            ax.set_title(label, fontsize=9, loc="left")
            ax.set_xlim(-0.5, len(versions) - 0.5)
            ax.set_xticks(range(len(versions)))
            ax.set_xticklabels(versions if len(versions) <= 8 else
                               [v if j % max(1, len(versions) // 8) == 0 else "" for j, v in enumerate(versions)],
                               rotation=45, ha="right", fontsize=7)  # fmt: skip
            ax.set_ylabel(_ratio_name(measure) if is_ratio(measure) else measure, fontsize=8)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        fig.suptitle("Pooled estimate and CI in each published version", x=0.02, ha="left",
                     fontweight="bold")  # fmt: skip
        fig.tight_layout()
        return save_figure(fig, path, kw.get("formats", FORMATS))


def domain_summary_plot(
    pooled: Sequence[Mapping[str, Any]], path: str | Path, **kw: Any
) -> list[Path]:
    """The review's Figure 2: one row per domain stratum."""
    return summary_plot(
        pooled, path, title=kw.pop("title", "Pooled effect by outcome domain"), **kw
    )


def platform_overview_plot(
    pooled: Sequence[Mapping[str, Any]], path: str | Path, **kw: Any
) -> list[Path]:
    """The review's Figure 3: one row per platform across continuous outcomes.

    A platform's trials contribute one effect per domain, so its row is pooled
    with the multilevel model (``pooled.json`` ``model: multilevel``); the title
    and the note under the plot say so.
    """
    heading = kw.pop("heading", "Platform overview")  # the stratifier's label + " overview"
    default = f"{heading} (continuous outcomes)"
    if any(is_multilevel(r) for r in pooled):
        default = f"{heading} (continuous outcomes, multilevel model)"
    return summary_plot(pooled, path, title=kw.pop("title", default), **kw)


# --------------------------------------------------------------------------- RoB 2


def _rob_level(value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else ""
    return text if text in ROB_COLOURS else "no information"


def rob_summary_plot(
    studies: pd.DataFrame, path: str | Path, *, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """robvis-style summary: share of studies at each judgement, per RoB 2 domain."""
    cols = [c for c in ROB_DOMAINS if c in studies.columns]
    n = len(studies)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9.0, 0.45 * len(cols) + 1.6))
        ax = fig.subplots()
        ys = np.arange(len(cols), 0, -1)
        for yy, col in zip(ys, cols, strict=True):
            levels = studies[col].map(_rob_level)
            left = 0.0
            for lev in ROB_LEVELS:
                share = 100.0 * float((levels == lev).sum()) / n if n else 0.0
                if share <= 0:
                    continue
                ax.barh(
                    yy,
                    share,
                    left=left,
                    color=ROB_COLOURS[lev],
                    edgecolor="black",
                    lw=0.5,
                    height=0.7,
                )
                left += share
        ax.set_yticks(ys, [ROB_DOMAINS[c] for c in cols])
        ax.set_xlim(0, 100)
        ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        ax.set_xlabel(f"Share of studies (n = {n})")
        present = (
            [lev for lev in ROB_LEVELS if (studies[cols].map(_rob_level) == lev).any().any()]
            if cols
            else []
        )
        handles = [Rectangle((0, 0), 1, 1, color=ROB_COLOURS[lev]) for lev in present]
        ax.legend(
            handles,
            [lev.capitalize() for lev in present],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.28),
            ncol=max(len(present), 1),
            frameon=False,
            fontsize=8,
        )
        ax.set_title("Risk of bias (RoB 2): summary", loc="left", fontweight="bold")
        fig.subplots_adjust(left=0.45, right=0.97, top=0.85, bottom=0.35)
        return save_figure(fig, path, formats)


ROB_MARKERS = {"low": "P", "some concerns": "_", "high": "X", "no information": "$?$"}


def _rob_marker(level: str) -> MarkerStyle:
    """The symbol of a judgement; "?" is our own mathtext marker (constant, not data)."""
    with matplotlib.rc_context({"text.parse_math": True}):
        return MarkerStyle(ROB_MARKERS[level])


TRAFFIC_LIGHT_PAGE = 60  # studies per traffic-light figure; more would not print legibly


def rob_traffic_light_plot(
    studies: pd.DataFrame, path: str | Path, *, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """robvis-style traffic lights: one row per study, one coloured dot per domain.

    Large reviews are split into pages of ``TRAFFIC_LIGHT_PAGE`` studies
    (``<name>.svg``, ``<name>_p2.svg``, ...): a single figure of thousands of
    rows can neither be printed nor rendered (PNG height limits).
    """
    data = studies.sort_values("study_id") if "study_id" in studies else studies
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".svg", ".png") else path
    pages = max(1, math.ceil(len(data) / TRAFFIC_LIGHT_PAGE))
    written: list[Path] = []
    for page in range(pages):
        chunk = data.iloc[page * TRAFFIC_LIGHT_PAGE : (page + 1) * TRAFFIC_LIGHT_PAGE]
        target = stem if page == 0 else stem.with_name(f"{stem.name}_p{page + 1}")
        suffix = f" ({page + 1} of {pages})" if pages > 1 else ""
        written += _traffic_light_page(chunk, target, formats, suffix)
    return written


def _traffic_light_page(
    data: pd.DataFrame, path: Path, formats: Sequence[str], title_suffix: str
) -> list[Path]:
    cols = [c for c in ROB_DOMAINS if c in data.columns]
    names = _labels(data)
    n = len(data)
    with matplotlib.rc_context(RC):
        label_in = 0.3 + 0.075 * max((len(x) for x in names), default=5)
        width = max(label_in + 0.65 * len(cols) + 0.5, 6.5)
        fig = Figure(figsize=(width, 0.32 * n + 2.0))
        ax = fig.subplots()
        cells = [
            (j, n - i, _rob_level(val))
            for j, col in enumerate(cols)
            for i, val in enumerate(data[col])
        ]
        for lev in ROB_LEVELS:  # one scatter per judgement: fast at any size
            xy = [(x, y) for x, y, level in cells if level == lev]
            if not xy:
                continue
            xs, ys = zip(*xy, strict=True)
            ax.scatter(xs, ys, s=260, color=ROB_COLOURS[lev], edgecolors="black", linewidths=0.5)
            ax.scatter(xs, ys, s=60, marker=_rob_marker(lev), color="black", linewidths=1.2)
        short = [("Overall" if c == "rob_overall" else c.replace("rob_d", "D")) for c in cols]
        ax.set_xticks(range(len(cols)), short)
        ax.xaxis.tick_top()
        ax.set_yticks(range(n, 0, -1), names)
        ax.set_xlim(-0.6, len(cols) - 0.4)
        ax.set_ylim(0.4, n + 0.6)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.tick_params(length=0)
        legend = "; ".join(f"{ROB_SYMBOLS[lev]} {lev}" for lev in ROB_LEVELS)
        domains = "  ".join(
            f"{s}: {ROB_DOMAINS[c].split(': ', 1)[-1]}"
            for s, c in zip(short, cols, strict=True)
            if c != "rob_overall"
        )
        fig.text(
            0.02,
            0.01,
            f"Judgement: {legend}\n" + _wrap(domains, int(width * 13)),
            fontsize=7,
            va="bottom",
        )
        ax.set_title(
            "Risk of bias (RoB 2) per study" + title_suffix,
            loc="left",
            fontweight="bold",
            pad=22,
        )
        fig.subplots_adjust(
            left=label_in / width,
            right=1 - 0.3 / width,
            top=1 - 0.9 / (0.32 * n + 2.0),
            bottom=1.0 / (0.32 * n + 2.0),
        )
        return save_figure(fig, path, formats)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
