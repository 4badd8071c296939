# metafor side of bench/bench_meta.py (run by it; not standalone-useful).
#   Rscript bench/bench_meta.R <data.csv> <do_loo: 0|1> <out.csv>
# Times rma(REML), leave1out, influence and regtest on the same data as the
# Python side, with a tight convergence threshold so the numbers are comparable,
# prints "name seconds" lines and writes the leave1out estimates and tau^2.
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
do_loo <- args[2] == "1"
ctrl <- list(threshold = 1e-10, maxiter = 1000)
tm <- function(expr) unname(system.time(expr)["elapsed"])
t_fit <- tm(res <- rma(d$yi, d$vi, method = "REML", control = ctrl))
cat("fit", t_fit, "\n")
t_reg <- tm(reg <- regtest(res))
cat("egger", t_reg, "\n")
if (do_loo) {
  t_loo <- tm(l1o <- leave1out(res))
  cat("leave_one_out", t_loo, "\n")
  t_inf <- tm(inf <- influence(res))
  cat("influence", t_inf, "\n")
  write.csv(data.frame(estimate = l1o$estimate, tau2 = l1o$tau2, se = l1o$se,
                       cook_d = inf$inf$cook.d, rstudent = inf$inf$rstudent),
            args[3], row.names = FALSE)
}
cat("estimate", sprintf("%.17g", res$beta[1]), "\n")
cat("tau2", sprintf("%.17g", res$tau2), "\n")
