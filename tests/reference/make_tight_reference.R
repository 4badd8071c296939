# Reference values for the convergence and edge-case tests of tests/test_meta.py
# (issue 13, defect 5), produced by R's metafor 3.8-1.
#
# Run from the repository root:
#     Rscript tests/reference/make_tight_reference.R
# It rewrites tests/reference/metafor_tight_reference.json.
#
# Data with one study of huge sampling variance (1e8 among ~0.01): a stopping
# rule scaled by mean(vi) stops far too early there. Every model is fitted at
# several absolute thresholds (1e-8, 1e-10, 1e-12; tol the same, maxiter 10000)
# so that the tests can show agreement with each, and leave1out() and
# influence() reuse the model's control. Also: trimfill() on data with one
# extreme outlier and with all yi equal (k0 = 0, se(k0) NaN), the error
# metafor raises when the side cannot be chosen (all yi and all vi equal), and
# I^2 of a fixed-effect fit with Q = 0.

suppressPackageStartupMessages({
  library(metafor)
})
source(file.path("tests", "reference", "json_writer.R"))
out_file <- file.path("tests", "reference", "metafor_tight_reference.json")
vec <- function(x) as.list(as.numeric(x))

set.seed(13)
vi30 <- round(runif(30, 0.005, 0.05), 4)
yi30 <- round(rnorm(30, 0.2, sqrt(vi30 + 0.02)), 4)
vi30[7] <- 1e8
yi30[7] <- 2.5
datasets <- list(
  outlier_var = list(yi = c(0.10, 0.35, -0.05, 0.42, 0.20, 3.0, 0.15, 0.28),
                     vi = c(0.010, 0.012, 0.008, 0.015, 0.011, 1e8, 0.009, 0.013)),
  outlier_var_30 = list(yi = yi30, vi = vi30))

cases <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  for (method in c("REML", "ML", "PM", "EB")) {
    for (test in c("z", "knha")) {
      for (thr in c(1e-8, 1e-10, 1e-12)) {
        ctrl <- list(threshold = thr, tol = thr, maxiter = 10000)
        res <- suppressWarnings(rma(d$yi, d$vi, method = method, test = test, control = ctrl))
        l <- suppressWarnings(leave1out(res))
        inf <- suppressWarnings(influence(res))
        cases[[length(cases) + 1]] <- list(
          dataset = dn, method = method, test = test, threshold = thr,
          fit = list(tau2 = res$tau2, estimate = as.numeric(res$beta), se = res$se,
                     i2 = res$I2, h2 = res$H2, se_tau2 = res$se.tau2),
          leave1out = list(tau2 = vec(l$tau2), estimate = vec(l$estimate), se = vec(l$se),
                           i2 = vec(l$I2)),
          influence = list(tau2_del = vec(inf$inf$tau2.del), cook_d = vec(inf$inf$cook.d),
                           rstudent = vec(inf$inf$rstudent)))
      }
    }
  }
}

# trimfill edge cases
tf_values <- function(tf) {
  list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, estimate = as.numeric(tf$beta),
       se = tf$se, tau2 = tf$tau2)
}
outlier <- list(yi = c(0.20413259793472438, -0.03250307746388342, 0.17812083360674544,
                       0.07540890527469349, 0.12677326452965484, 0.14557410171426902,
                       -102.77162986056999, 0.2411630536374133, 0.30425133694426776,
                       0.18714653370559658),
                vi = c(0.017140402119374166, 0.006843808577128761, 0.00574374359878381,
                       0.04159716076401226, 0.04607400097749748, 0.032298609909523095,
                       0.03782734524427993, 0.029463124615944032, 0.047078259070449574,
                       0.04171340993546895))
equal_yi <- list(yi = rep(0.3, 6), vi = c(0.01, 0.02, 0.03, 0.01, 0.02, 0.05))
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
trimfill_cases <- list()
for (dn in c("outlier", "equal_yi")) {
  d <- get(dn)
  for (method in c("REML", "FE")) {
    res <- suppressWarnings(rma(d$yi, d$vi, method = method, control = ctrl))
    for (est in c("L0", "R0", "Q0")) {
      tf <- suppressWarnings(trimfill(res, estimator = est, control = ctrl))
      trimfill_cases[[length(trimfill_cases) + 1]] <- c(
        list(dataset = dn, method = method, estimator = est, yi = vec(d$yi), vi = vec(d$vi)),
        tf_values(tf))
    }
  }
}
equal_all <- rma(rep(0.3, 6), rep(0.02, 6))
equal_all_error <- tryCatch({trimfill(equal_all); "no error"},
                            error = function(e) conditionMessage(e))

fe <- rma(equal_yi$yi, equal_yi$vi, method = "FE")

ref <- list(
  generated_by = "tests/reference/make_tight_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  datasets = lapply(datasets, function(d) lapply(d, vec)),
  cases = cases,
  trimfill = trimfill_cases,
  trimfill_equal_yi_and_vi_error = equal_all_error,
  fe_q_zero = list(yi = vec(equal_yi$yi), vi = vec(equal_yi$vi), q = fe$QE, i2 = fe$I2,
                   h2 = fe$H2))
writeLines(to_json(ref), out_file)
cat("wrote", out_file, "with", length(cases), "cases\n")
