"""A metafor-ready copy of every pooled stratum, and the R script that reproduces it.

Each bundle carries ``metafor/<stratum>.csv`` (``trial``, ``effect``, ``slab``,
``yi``, ``vi``, ``sei`` and the study-level moderators, as ``escalc`` output
names them), ``metafor/expected.csv`` (the model and numbers this version
published) and ``metafor/reproduce.R``. Run in the bundle folder,
``Rscript <bundle>/metafor/reproduce.R <bundle> check.csv`` refits every
stratum with metafor (and clubSandwich for the CR2 tests of multilevel strata)
and writes the differences to ``check.csv`` (bundles are read-only). The raw inputs
(means, SDs, counts) are not in the bundle's stratum files, so the script
starts from yi and vi.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..formatting import finite

__all__ = ["EXPECTED_COLUMNS", "R_SCRIPT", "metafor_tables"]

MODERATORS = ("followup_weeks", "ln_n", "n", "interactivity", "moderation", "feedback",
              "care_integration", "rob_overall")  # fmt: skip
EXPECTED_COLUMNS = ["stratum", "model", "method", "test", "level", "rho", "inference", "k",
                    "estimate", "se", "ci_low", "ci_high", "tau2", "df"]  # fmt: skip


def metafor_tables(strata_dir: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """``{stratum: metafor-ready rows}`` and the expected numbers, for every pooled stratum."""
    index = json.loads((strata_dir / "strata.json").read_text(encoding="utf-8"))
    tables: dict[str, pd.DataFrame] = {}
    expected = []
    for name in sorted(index):
        pooled_path, data_path = strata_dir / name / "pooled.json", strata_dir / name / "data.csv"
        if not (pooled_path.is_file() and data_path.is_file()):
            continue
        pooled = json.loads(pooled_path.read_text(encoding="utf-8"))
        if not pooled.get("reported"):
            continue
        data = pd.read_csv(data_path, keep_default_na=False, na_values=[""])
        trial = data["study_id"].astype(str)
        table = pd.DataFrame(
            {
                "trial": trial,
                "effect": trial.groupby(trial).cumcount() + 1,
                "slab": data["citation"].fillna(trial).astype(str)
                + (" " + data["outcome"].astype(str) if "outcome" in data else ""),
                "yi": data["yi"],
                "vi": data["vi"],
                "sei": data["vi"].astype(float) ** 0.5,
            }  # fmt: skip
        )
        for m in MODERATORS:
            if m in data:
                table[m] = data[m]
        tables[name] = table
        multilevel = pooled.get("model") == "multilevel"
        expected.append(
            {
                "stratum": name,
                "model": "multilevel" if multilevel else "univariate",
                "method": pooled.get("method"),
                "test": pooled.get("test"),
                "level": finite(pooled.get("level")),
                "rho": finite(pooled.get("rho")),
                "inference": pooled.get("inference") if multilevel else "",
                "k": len(table),
                "estimate": finite(pooled.get("estimate")),
                "se": finite(pooled.get("se")),
                "ci_low": finite(pooled.get("ci_low")),
                "ci_high": finite(pooled.get("ci_high")),
                "tau2": finite(pooled.get("tau2")),
                "df": finite(pooled.get("robust_df")) if multilevel else None,
            }  # fmt: skip
        )
    return tables, pd.DataFrame(expected, columns=EXPECTED_COLUMNS)


R_SCRIPT = r"""# Reproduce this version's pooled estimates with R's metafor (and clubSandwich for
# the CR2 tests of multilevel strata). Published bundles are read-only, so name the
# bundle folder and where to write the comparison:
#     Rscript <bundle>/metafor/reproduce.R <bundle> check.csv
# check.csv: each published number, metafor's, and their difference (relative when
# |published| > 1, else absolute). Univariate strata: rma(yi, vi, method, test);
# multilevel strata: rma.mv(yi, V, random = ~ 1 | trial/effect) with V from
# vcalc(rho) and, for CR2, robust(..., clubSandwich = TRUE).
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
bundle <- if (length(args) >= 1) args[1] else "."
out_file <- if (length(args) >= 2) args[2] else "reproduce-check.csv"
expected <- read.csv(file.path(bundle, "metafor", "expected.csv"), stringsAsFactors = FALSE)
rel <- function(a, b) ifelse(is.na(a) & is.na(b), 0, abs(a - b) / pmax(abs(b), 1))
rows <- list()
for (i in seq_len(nrow(expected))) {
  e <- expected[i, ]
  d <- read.csv(file.path(bundle, "metafor", paste0(e$stratum, ".csv")),
                stringsAsFactors = FALSE)
  if (e$model == "univariate") {
    res <- suppressWarnings(rma(yi, vi, data = d, method = e$method, test = e$test,
                                level = 100 * e$level,
                                control = list(threshold = 1e-12, maxiter = 10000)))
    got <- c(as.numeric(res$beta), res$se, res$ci.lb, res$ci.ub, res$tau2, NA)
  } else {
    V <- vcalc(vi, cluster = trial, obs = effect, rho = e$rho, data = d)
    # The (restricted) likelihood is flat near its maximum, so one optimizer's stopping
    # rule decides the last digits: nlminb may stop early or report "false convergence"
    # at rel.tol 1e-12. Every optimizer below is tried and the fit with the highest
    # log-likelihood kept (the estimate is the maximum, whichever optimizer finds it).
    fit <- function(control) tryCatch(suppressWarnings(rma.mv(
      yi, V, random = ~ 1 | trial / effect, data = d, method = e$method,
      level = 100 * e$level, control = control)), error = function(err) NULL)
    fits <- c(lapply(c(1e-12, 1e-10, 1e-8), function(tol)
                fit(list(rel.tol = tol, iter.max = 10000, eval.max = 10000))),
              list(fit(list(optimizer = "bobyqa")),
                   fit(list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15))))
    fits <- Filter(Negate(is.null), fits)
    if (length(fits) == 0) {
      res <- rma.mv(yi, V, random = ~ 1 | trial / effect, data = d, method = e$method,
                    level = 100 * e$level)
    } else {
      res <- fits[[which.max(vapply(fits, function(f) as.numeric(logLik(f)), 0))]]
    }
    if (e$inference == "CR2") {
      rb <- robust(res, cluster = d$trial, clubSandwich = TRUE)
      got <- c(as.numeric(rb$beta), rb$se, rb$ci.lb, rb$ci.ub, sum(res$sigma2), rb$ddf)
    } else {
      got <- c(as.numeric(res$beta), res$se, res$ci.lb, res$ci.ub, sum(res$sigma2), NA)
    }
  }
  want <- c(e$estimate, e$se, e$ci_low, e$ci_high, e$tau2, e$df)
  rows[[i]] <- data.frame(stratum = e$stratum, model = e$model,
                          quantity = c("estimate", "se", "ci_low", "ci_high", "tau2", "df"),
                          published = want, metafor = got, difference = rel(got, want))
}
check <- do.call(rbind, rows)
write.csv(check, out_file, row.names = FALSE)
for (m in unique(check$model)) {
  cat(sprintf("%s strata: %d; largest difference: %.3g\n", m,
              length(unique(check$stratum[check$model == m])),
              max(check$difference[check$model == m], na.rm = TRUE)))
}
"""


def write_metafor(strata_dir: Path, stage: Path) -> None:
    """``metafor/`` into a bundle being assembled (nothing when no stratum is pooled)."""
    if not (strata_dir / "strata.json").is_file():
        return
    tables, expected = metafor_tables(strata_dir)
    if not tables:
        return
    out = stage / "metafor"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False, lineterminator="\n", float_format="%.17g")
    expected.to_csv(out / "expected.csv", index=False, lineterminator="\n", float_format="%.17g")
    (out / "reproduce.R").write_text(R_SCRIPT, encoding="utf-8")
