# Reference values for tests/test_cumulative.py: cumulative meta-analysis as
# metafor 3.8-1's cumul.rma.uni (issue 17), at tight convergence.
#
# Run from the repository root:
#     Rscript tests/reference/make_cumul_reference.R
# It rewrites tests/reference/cumul_reference.json.
#
# Datasets from metadat: dat.bcg (log risk ratios, ordered by year, with a tie
# in 1973), dat.normand1999 (mean differences, ordered by study) and
# dat.bangertdrowns2004 (SMDs, ordered by year with many ties).

suppressPackageStartupMessages({
  library(metafor)
})
source(file.path("tests", "reference", "json_writer.R"))
out_file <- file.path("tests", "reference", "cumul_reference.json")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
norm <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
               m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
bd <- dat.bangertdrowns2004
datasets <- list(
  bcg = list(yi = bcg$yi, vi = bcg$vi, order = bcg$year),
  normand1999 = list(yi = norm$yi, vi = norm$vi, order = rev(seq_len(nrow(norm)))),
  bangertdrowns2004 = list(yi = bd$yi, vi = bd$vi, order = bd$year))

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
cases <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  for (method in c("REML", "DL", "FE")) {
    for (test in c("z", "knha")) {
      res <- suppressWarnings(rma(d$yi, d$vi, method = method, test = test, control = ctrl))
      cu <- suppressWarnings(cumul(res, order = d$order))
      cases[[length(cases) + 1]] <- list(
        dataset = dn, method = method, test = test,
        yi = vec(d$yi), vi = vec(d$vi), order = vec(d$order),
        added = vec(order(d$order) - 1),
        estimate = vec(cu$estimate), se = vec(cu$se),
        zval = vec(if (is.null(cu$zval)) cu$tval else cu$zval),  # tval under knha
        pval = vec(cu$pval), ci_low = vec(cu$ci.lb), ci_high = vec(cu$ci.ub),
        q = vec(cu$Q), q_pval = vec(cu$Qp),
        tau2 = vec(if (is.null(cu$tau2)) rep(0, length(d$yi)) else cu$tau2),  # FE: none
        i2 = vec(cu$I2), h2 = vec(cu$H2))
    }
  }
}
writeLines(to_json(list(metafor = as.character(packageVersion("metafor")), cases = cases)),
           out_file)
