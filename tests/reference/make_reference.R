# Reference values for tests/test_effects.py and tests/test_meta.py, produced by R's metafor.
#
# Run from the repository root (needs R >= 4 with metafor and metadat; Debian:
# r-cran-metafor):
#     Rscript tests/reference/make_reference.R
# It rewrites tests/reference/metafor_reference.json. The tests themselves do
# not need R.
#
# metafor's default convergence settings are loose (Fisher scoring threshold
# 1e-5, uniroot tolerance ~1.2e-4), which would make the references differ from
# the exact estimates by up to ~1e-5. Every model here is therefore fitted with
#     control = list(threshold = thr, tol = thr, maxiter = 1000, tau2.max = 1e8)
# where thr = 1e-13 * mean(vi) scales with the data (so that the
# tiny-variance edge case is resolved too). leave1out(), influence(),
# regtest() and trimfill() reuse the model's control; confint() is given the
# same tolerance.

suppressPackageStartupMessages({
  library(metafor)
})

out_file <- file.path("tests", "reference", "metafor_reference.json")

source(file.path("tests", "reference", "json_writer.R"))

ctrl_for <- function(vi) {
  thr <- 1e-13 * mean(vi)
  list(threshold = thr, tol = thr, maxiter = 1000, tau2.max = 1e8)
}

# ---------------------------------------------------------------- effect sizes
effects <- list()
smd <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
effects$smd <- list(
  m1 = vec(dat.normand1999$m1i), sd1 = vec(dat.normand1999$sd1i), n1 = vec(dat.normand1999$n1i),
  m2 = vec(dat.normand1999$m2i), sd2 = vec(dat.normand1999$sd2i), n2 = vec(dat.normand1999$n2i),
  yi = vec(smd$yi), vi = vec(smd$vi))
# small groups: where the exact correction differs most from its approximation
sm <- list(m1 = c(1.2, 0, -3), sd1 = c(1, 2, 0.5), n1 = c(2, 3, 4),
           m2 = c(0.2, 1, -2.5), sd2 = c(1.5, 2, 0.7), n2 = c(2, 2, 30))
e <- escalc("SMD", m1i = sm$m1, sd1i = sm$sd1, n1i = sm$n1, m2i = sm$m2, sd2i = sm$sd2, n2i = sm$n2)
effects$smd_small <- c(lapply(sm, vec), list(yi = vec(e$yi), vi = vec(e$vi)))
# mean difference with SE -> SMD: escalc's t-statistic route, t = md / se
md <- list(md = c(2.5, -1, 0.3), se = c(0.8, 0.4, 0.25), n1 = c(20, 35, 120), n2 = c(22, 30, 118))
e <- escalc("SMD", ti = md$md / md$se, n1i = md$n1, n2i = md$n2)
effects$smd_from_md_se <- c(lapply(md, vec), list(yi = vec(e$yi), vi = vec(e$vi)))
nw <- dat.nielweise2007  # has zero cells, including a double-zero study
for (measure in c("RR", "OR")) {
  e <- escalc(measure, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = nw)
  effects[[tolower(measure)]] <- list(ai = vec(nw$ai), n1i = vec(nw$n1i), ci = vec(nw$ci),
                                      n2i = vec(nw$n2i), yi = vec(e$yi), vi = vec(e$vi))
}
# all events in one arm (bi = 0) and tiny trials
bz <- list(ai = c(10, 0, 3, 5), n1i = c(10, 5, 3, 9), ci = c(4, 2, 0, 5), n2i = c(12, 4, 6, 5))
for (measure in c("RR", "OR")) {
  e <- escalc(measure, ai = bz$ai, n1i = bz$n1i, ci = bz$ci, n2i = bz$n2i)
  effects[[paste0(tolower(measure), "_edge")]] <- c(lapply(bz, vec), list(yi = vec(e$yi), vi = vec(e$vi)))
}

# ---------------------------------------------------------------- datasets
datasets <- list()
bcg_rr <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_or <- escalc("OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg_rr <- list(yi = bcg_rr$yi, vi = bcg_rr$vi, ablat = dat.bcg$ablat, year = dat.bcg$year)
datasets$bcg_or <- list(yi = bcg_or$yi, vi = bcg_or$vi, ablat = dat.bcg$ablat, year = dat.bcg$year)
datasets$normand1999 <- list(yi = smd$yi, vi = smd$vi)
mol <- escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
datasets$molloy2014 <- list(yi = mol$yi, vi = mol$vi, meanage = dat.molloy2014$meanage,
                            quality = dat.molloy2014$quality)
datasets$hackshaw1998 <- list(yi = dat.hackshaw1998$yi, vi = dat.hackshaw1998$vi,
                              year = dat.hackshaw1998$year)
nwrr <- escalc("RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = nw)
datasets$nielweise2007_rr <- list(yi = nwrr$yi, vi = nwrr$vi, year = nw$year)
# edge cases
datasets$tau2_zero <- list(yi = c(0.10, 0.12, 0.09, 0.11, 0.10, 0.13),
                           vi = c(0.010, 0.020, 0.015, 0.010, 0.030, 0.012))
datasets$k2 <- list(yi = c(0.2, 0.9), vi = c(0.04, 0.09))
datasets$k2_homog <- list(yi = c(0.5, 0.52), vi = c(0.04, 0.05))
datasets$k3 <- list(yi = c(-0.3, 0.4, 0.1), vi = c(0.05, 0.02, 0.08))
datasets$huge_var <- list(yi = c(120, -340, 560, 80, -20, 410, 250),
                          vi = c(4e4, 9e4, 2.5e4, 1.6e5, 6e4, 3e4, 1e5))
datasets$tiny_var <- list(yi = c(1.2e-3, 0.9e-3, 1.6e-3, 1.1e-3, 0.4e-3, 1.4e-3, 1.0e-3, 2.0e-3),
                          vi = c(2e-8, 5e-8, 1e-8, 3e-8, 4e-8, 2e-8, 6e-8, 1e-8))
datasets$mixed_var <- list(yi = c(0.5, 0.31, 1.4, -0.2, 0.8, 0.05, 2.5, 0.62),
                           vi = c(1e-4, 2e-3, 0.5, 0.03, 5, 1e-3, 20, 0.01))

methods <- c("REML", "ML", "DL", "PM", "HE", "SJ", "EB", "FE")
tests <- c("z", "knha")

fit_values <- function(res) {
  pr <- predict(res)
  list(k = res$k, estimate = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
       ci_low = res$ci.lb, ci_high = res$ci.ub, pi_low = pr$pi.lb, pi_high = pr$pi.ub,
       tau2 = res$tau2, se_tau2 = res$se.tau2, i2 = res$I2, h2 = res$H2, q = res$QE,
       q_pval = res$QEp, vt = res$vt, s2w = res$s2w, weights = vec(weights(res)),
       hat = vec(hatvalues(res)))
}
safe <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

cases <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  ctrl <- ctrl_for(d$vi)
  for (method in methods) {
    for (test in tests) {
      res <- suppressWarnings(rma(d$yi, d$vi, method = method, test = test, control = ctrl))
      case <- list(dataset = dn, method = method, test = test, fit = fit_values(res))
      case$leave1out <- safe({
        l <- suppressWarnings(leave1out(res))
        list(estimate = vec(l$estimate), se = vec(l$se), pval = vec(l$pval), ci_low = vec(l$ci.lb),
             ci_high = vec(l$ci.ub), q = vec(l$Q), q_pval = vec(l$Qp),
             tau2 = if (is.null(l$tau2)) vec(rep(0, length(l$estimate))) else vec(l$tau2),
             i2 = vec(l$I2), h2 = vec(l$H2))
      })
      case$influence <- safe({
        inf <- suppressWarnings(influence(res))
        list(rstudent = vec(inf$inf$rstudent), dffits = vec(inf$inf$dffits),
             cook_d = vec(inf$inf$cook.d), cov_r = vec(inf$inf$cov.r),
             tau2_del = vec(inf$inf$tau2.del), qe_del = vec(inf$inf$QE.del),
             hat = vec(inf$inf$hat), weight = vec(inf$inf$weight), dfbs = vec(inf$dfbs[[1]]),
             inf = as.list(inf$is.infl))
      })
      if (res$k >= 3) {
        case$regtest_rma <- safe({
          r <- suppressWarnings(regtest(res))
          list(statistic = r$zval, pval = r$pval, limit_estimate = as.numeric(r$est),
               limit_ci_low = r$ci.lb, limit_ci_high = r$ci.ub)
        })
      }
      if (test == "z" && res$k >= 3) {
        case$trimfill <- safe({
          tf <- suppressWarnings(trimfill(res, control = ctrl))
          list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, estimate = as.numeric(tf$beta),
               se = tf$se, ci_low = tf$ci.lb, ci_high = tf$ci.ub, pval = tf$pval, tau2 = tf$tau2,
               filled_yi = vec(tf$yi), filled_vi = vec(tf$vi))
        })
      }
      if (test == "z" && method != "FE" && res$k >= 2) {
        case$confint <- safe({
          ci <- confint(res, control = list(tol = ctrl$tol, tau2.max = 1e8))
          r <- ci$random
          list(tau2_low = r["tau^2", "ci.lb"], tau2_high = r["tau^2", "ci.ub"],
               tau_low = r["tau", "ci.lb"], tau_high = r["tau", "ci.ub"],
               i2_low = r["I^2(%)", "ci.lb"], i2_high = r["I^2(%)", "ci.ub"],
               h2_low = r["H^2", "ci.lb"], h2_high = r["H^2", "ci.ub"])
        })
      }
      cases[[length(cases) + 1]] <- case
    }
  }
  if (length(d$yi) >= 3) {
    r <- suppressWarnings(regtest(d$yi, d$vi, model = "lm"))
    cases[[length(cases) + 1]] <- list(
      dataset = dn, method = "FE", test = "lm",
      regtest_lm = list(statistic = r$zval, pval = r$pval, df = r$ddf,
                        limit_estimate = as.numeric(r$est), limit_ci_low = r$ci.lb,
                        limit_ci_high = r$ci.ub))
  }
}

# ---------------------------------------------------------------- meta-regression
metareg <- list()
mr_specs <- list(
  list(dataset = "bcg_rr", mods = c("ablat", "year")),
  list(dataset = "bcg_rr", mods = c("ablat")),
  list(dataset = "bcg_or", mods = c("ablat", "year")),
  list(dataset = "molloy2014", mods = c("meanage", "quality")),
  list(dataset = "hackshaw1998", mods = c("year")),
  list(dataset = "nielweise2007_rr", mods = c("year"))
)
for (spec in mr_specs) {
  d <- datasets[[spec$dataset]]
  Z <- do.call(cbind, d[spec$mods])
  colnames(Z) <- spec$mods
  ctrl <- ctrl_for(d$vi)
  for (method in methods) {
    for (test in tests) {
      res <- suppressWarnings(rma(d$yi, d$vi, mods = Z, method = method, test = test, control = ctrl))
      metareg[[length(metareg) + 1]] <- list(
        dataset = spec$dataset, mods = as.list(spec$mods), method = method, test = test,
        estimate = vec(res$beta), se = vec(res$se), statistic = vec(res$zval), pval = vec(res$pval),
        ci_low = vec(res$ci.lb), ci_high = vec(res$ci.ub), tau2 = res$tau2, se_tau2 = res$se.tau2,
        i2 = res$I2, h2 = res$H2, r2 = if (is.null(res$R2)) NA else res$R2, qm = res$QM,
        qm_pval = res$QMp, qe = res$QE, qe_pval = res$QEp)
    }
  }
}

# ---------------------------------------------------------------- other estimators and levels
extra <- list()
for (dn in c("bcg_rr", "hackshaw1998", "molloy2014")) {
  d <- datasets[[dn]]
  ctrl <- ctrl_for(d$vi)
  res <- rma(d$yi, d$vi, method = "REML", control = ctrl)
  for (est in c("L0", "R0", "Q0")) {
    for (side in c("auto", "left", "right")) {
      tf <- if (side == "auto") trimfill(res, estimator = est, control = ctrl)
            else trimfill(res, estimator = est, side = side, control = ctrl)
      extra[[length(extra) + 1]] <- list(
        kind = "trimfill", dataset = dn, estimator = est, side_arg = side, k0 = tf$k0,
        se_k0 = tf$se.k0, side = tf$side, estimate = as.numeric(tf$beta), se = tf$se,
        ci_low = tf$ci.lb, ci_high = tf$ci.ub, tau2 = tf$tau2)
    }
  }
  for (test in tests) {
    res90 <- rma(d$yi, d$vi, method = "REML", test = test, level = 90, control = ctrl)
    pr <- predict(res90)
    ci <- confint(res90, control = list(tol = ctrl$tol, tau2.max = 1e8))$random
    extra[[length(extra) + 1]] <- list(
      kind = "level90", dataset = dn, test = test, estimate = as.numeric(res90$beta),
      ci_low = res90$ci.lb, ci_high = res90$ci.ub, pi_low = pr$pi.lb, pi_high = pr$pi.ub,
      tau2_low = ci["tau^2", "ci.lb"], tau2_high = ci["tau^2", "ci.ub"])
  }
}

ds_json <- lapply(datasets, function(d) lapply(d, vec))
ref <- list(
  generated_by = "tests/reference/make_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  effects = effects, datasets = ds_json, cases = cases, metareg = metareg, extra = extra)
writeLines(to_json(ref), out_file)
cat("wrote", out_file, "with", length(cases), "cases and", length(metareg), "meta-regressions\n")
