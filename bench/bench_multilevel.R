# R side of bench/bench_multilevel.py (run by it).
#   Rscript bench/bench_multilevel.R <data.csv> <sparse: 0|1> <out.txt>
# Times rma.mv(yi, vi, random = ~ 1 | trial/effect) (REML, metafor's default
# convergence, sparse = TRUE or FALSE) and clubSandwich::coef_test(vcov = "CR2",
# test = "Satterthwaite") on the same data as the Python side; writes
# "name value" lines (wall and CPU seconds, estimates).
suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
sparse <- args[2] == "1"
tm <- function(expr) system.time(expr)
t_fit <- tm(res <- rma.mv(yi, vi, random = ~ 1 | trial / effect, data = d, sparse = sparse))
t_cr2 <- tm(ct <- coef_test(res, vcov = "CR2", cluster = d$trial, test = "Satterthwaite"))
cpu <- function(t) sum(t[c("user.self", "sys.self")])
out <- c(
  sprintf("fit_seconds %.6f", t_fit[["elapsed"]]),
  sprintf("cr2_seconds %.6f", t_cr2[["elapsed"]]),
  sprintf("fit_cpu %.6f", cpu(t_fit)),
  sprintf("cr2_cpu %.6f", cpu(t_cr2)),
  sprintf("estimate %.17g", res$beta[1]),
  sprintf("se %.17g", res$se),
  sprintf("sigma2_trial %.17g", res$sigma2[1]),
  sprintf("sigma2_effect %.17g", res$sigma2[2]),
  sprintf("cr2_se %.17g", ct$SE[1]),
  sprintf("cr2_df %.17g", ct$df_Satt[1]),
  sprintf("cr2_pval %.17g", ct$p_Satt[1])
)
writeLines(out, args[3])
