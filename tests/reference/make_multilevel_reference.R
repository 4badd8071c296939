# Reference values for tests/test_multilevel.py, produced by metafor 3.8-1 (rma.mv, robust)
# and clubSandwich 0.5.8 (vcovCR type "CR2", coef_test / conf_int with Satterthwaite df).
#
# Run from the repository root (needs R >= 4 with metafor, metadat, clubSandwich):
#     Rscript tests/reference/make_multilevel_reference.R
# It rewrites tests/reference/multilevel_reference.json. The tests do not need R.
#
# Every model is fitted twice: with tight convergence (nlminb rel.tol = 1e-12,
# iter.max = eval.max = 10000: "tight", compared to 1e-6 relative) and with
# metafor's defaults ("default", compared with a looser tolerance).
# Datasets: dat.konstantopoulos2011 (schools in districts), dat.assink2016
# (effects in studies, also with vcalc's imputed V, rho = 0.6),
# dat.bornmann2007 (log odds ratios, 9 studies with a single effect),
# dat.berkey1998 (multivariate, known V, random = ~ outcome | trial, struct = "UN"),
# plus two constructed edge cases (a variance component at zero; a trial with
# a single effect) and a synthetic multi-arm data set for the shared-control
# (Gleser-Olkin) covariance.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
})

out_file <- file.path("tests", "reference", "multilevel_reference.json")

source(file.path("tests", "reference", "json_writer.R"))  # to_json, num, vec
mat <- function(m) lapply(seq_len(nrow(m)), function(i) vec(m[i, ]))

tight <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
# nlminb sometimes stops with "false convergence" at rel.tol = 1e-12 once it is at the
# optimum to machine precision (typically with a component at 0); looser tolerances are
# then tried in turn and the one used is recorded per case as rel_tol
fit_tight <- function(fit_fun) {
  for (tol in c(1e-12, 1e-10, 1e-8)) {
    res <- tryCatch(fit_fun(list(rel.tol = tol, iter.max = 10000, eval.max = 10000)),
                    error = function(e) NULL)
    if (!is.null(res)) {
      attr(res, "rel.tol") <- tol
      return(res)
    }
  }
  res <- fit_fun(list())
  attr(res, "rel.tol") <- NA
  res
}

# total I^2 of a multilevel model (metafor FAQ: W = V^-1, P the GLS residual maker)
i2_total <- function(res) {
  W <- solve(res$V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  100 * sum(res$sigma2) / (sum(res$sigma2) + (res$k - res$p) / sum(diag(P)))
}

summ <- function(res, cluster, cs = TRUE) {
  fs <- fitstats(res)
  out <- list(
    beta = vec(res$beta), se = vec(res$se), zval = vec(res$zval), pval = vec(res$pval),
    ci_low = vec(res$ci.lb), ci_high = vec(res$ci.ub),
    QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, QMdf = vec(res$QMdf),
    logLik = as.numeric(fs[1]), AIC = as.numeric(fs[3]), BIC = as.numeric(fs[4])
  )
  if (!is.null(res$tau2) && res$withG) {
    out$tau2 <- vec(res$tau2)
    out$rho <- vec(res$rho)
  } else {
    out$sigma2 <- vec(res$sigma2)
    out$I2 <- i2_total(res)
  }
  rb <- robust(res, cluster = cluster, adjust = TRUE)
  out$robust <- list(
    se = vec(rb$se), zval = vec(rb$zval), pval = vec(rb$pval), ci_low = vec(rb$ci.lb),
    ci_high = vec(rb$ci.ub), df = rb$dfs, QM = rb$QM, QMp = rb$QMp, QMdf = vec(rb$QMdf)
  )
  if (cs) {
    vc <- vcovCR(res, cluster = cluster, type = "CR2")
    ct <- coef_test(res, vcov = vc, test = "Satterthwaite")
    ci <- conf_int(res, vcov = vc, test = "Satterthwaite", level = 0.95)
    out$cr2 <- list(
      vcov = mat(as.matrix(vc)), se = vec(ct$SE), tstat = vec(ct$tstat), df = vec(ct$df_Satt),
      pval = vec(ct$p_Satt), ci_low = vec(ci$CI_L), ci_high = vec(ci$CI_U)
    )
  }
  out
}

case <- function(name, data, fit_fun, cluster, mods = NULL, V = NULL, extra = list()) {
  message(name)
  res_t <- fit_tight(fit_fun)
  res_d <- fit_fun(list())
  entry <- list(
    yi = vec(data$yi), trial = as.character(cluster), rel_tol = attr(res_t, "rel.tol"),
    tight = summ(res_t, cluster), default = summ(res_d, cluster, cs = FALSE)
  )
  if (is.null(V)) entry$vi <- vec(data$vi)
  if (!is.null(mods)) entry$mods <- mat(as.matrix(mods))
  if (!is.null(V)) entry$V <- mat(as.matrix(V))
  c(entry, extra)
}

ref <- list()

# ---------------------------------------------------------------- konstantopoulos2011
dk <- dat.konstantopoulos2011
for (m in c("REML", "ML")) {
  ref[[paste0("konstantopoulos_", m)]] <- c(case(
    paste("konstantopoulos", m), dk,
    function(ctrl) rma.mv(yi, vi, random = ~ 1 | district / school, data = dk, method = m, control = ctrl),
    dk$district
  ), list(method = m, test = "z"))
}
# test = "t"
ref$konstantopoulos_t <- c(case(
  "konstantopoulos t", dk,
  function(ctrl) rma.mv(yi, vi, random = ~ 1 | district / school, data = dk, test = "t", control = ctrl),
  dk$district
), list(method = "REML", test = "t"))
# moderator (centred year)
yc <- dk$year - mean(dk$year)
ref$konstantopoulos_year <- c(case(
  "konstantopoulos year", dk,
  function(ctrl) rma.mv(yi, vi, mods = ~ yc, random = ~ 1 | district / school, data = dk, control = ctrl),
  dk$district, mods = cbind(yc)
), list(method = "REML", test = "z"))
# profile-likelihood CIs of both variance components: with confint's root-finding
# tolerance tightened (control = list(tol = 1e-12): "profile") and with its defaults
# ("profile_defaults", ~3e-4 relative off). metafor cannot find the upper bound of the
# school component (null).
res_k <- rma.mv(yi, vi, random = ~ 1 | district / school, data = dk, control = tight)
pci <- function(j, ...) vec(confint(res_k, sigma2 = j, ...)$random[1, ])
ref$konstantopoulos_REML$profile <- list(
  sigma2_trial = pci(1, control = list(tol = 1e-12)),
  sigma2_effect = pci(2, control = list(tol = 1e-12))
)
ref$konstantopoulos_REML$profile_defaults <- list(sigma2_trial = pci(1), sigma2_effect = pci(2))

# Egger-type test for dependent effects: the standard error as moderator, CR2 test of the
# slope (livingreview.analysis.multilevel_stratum.egger_multilevel)
sei <- sqrt(dk$vi)
ref$konstantopoulos_sei <- c(case(
  "konstantopoulos sei", dk,
  function(ctrl) rma.mv(yi, vi, mods = ~ sei, random = ~ 1 | district / school, data = dk, control = ctrl),
  dk$district, mods = cbind(sei = sei)
), list(method = "REML", test = "z"))

# ---------------------------------------------------------------- assink2016
da <- dat.assink2016
Xa <- cbind(overt = as.numeric(da$deltype == "overt"), covert = as.numeric(da$deltype == "covert"))
ref$assink <- c(case(
  "assink", da,
  function(ctrl) rma.mv(yi, vi, random = ~ 1 | study / esid, data = da, control = ctrl),
  da$study
), list(method = "REML", test = "z"))
ref$assink_deltype <- c(case(
  "assink deltype", da,
  function(ctrl) rma.mv(yi, vi, mods = Xa, random = ~ 1 | study / esid, data = da, control = ctrl),
  da$study, mods = Xa
), list(method = "REML", test = "z"))
Va <- vcalc(vi, cluster = study, obs = esid, data = da, rho = 0.6)
ref$assink_rho <- c(case(
  "assink rho 0.6", da,
  function(ctrl) rma.mv(yi, Va, random = ~ 1 | study / esid, data = da, control = ctrl),
  da$study
), list(method = "REML", test = "z", rho = 0.6, vi = vec(da$vi),
        V_check = mat(as.matrix(Va)[1:6, 1:6])))

# ---------------------------------------------------------------- bornmann2007 (log OR)
db <- escalc(measure = "OR", ai = waward, n1i = wtotal, ci = maward, n2i = mtotal, data = dat.bornmann2007)
db$grant <- as.numeric(db$type == "Grant")
ref$bornmann <- c(case(
  "bornmann", db,
  function(ctrl) rma.mv(yi, vi, mods = ~ grant, random = ~ 1 | study / obs, data = db, control = ctrl),
  db$study, mods = cbind(grant = db$grant)
), list(method = "REML", test = "z"))

# ---------------------------------------------------------------- berkey1998 (multivariate, UN)
dbk <- dat.berkey1998
Vb <- bldiag(lapply(split(dbk[, c("v1i", "v2i")], dbk$trial), as.matrix))
dbk$pd <- as.numeric(dbk$outcome == "PD")
ref$berkey <- c(case(
  "berkey", dbk,
  function(ctrl) rma.mv(yi, Vb, mods = ~ pd, random = ~ outcome | trial, struct = "UN",
                        data = dbk, control = ctrl),
  dbk$trial, mods = cbind(pd = dbk$pd), V = Vb
), list(method = "REML", test = "z", outcome = dbk$outcome,
        tau2_levels = levels(factor(dbk$outcome))))

# ---------------------------------------------------------------- edge: a component at zero
# district means removed (the overall mean kept): no between-district variance left
dz <- dk
dz$yi <- dz$yi - ave(dz$yi, dz$district) + mean(dz$yi)
ref$zero_trial <- c(case(
  "zero trial component", dz,
  function(ctrl) rma.mv(yi, vi, random = ~ 1 | district / school, data = dz, control = ctrl),
  dz$district
), list(method = "REML", test = "z"))

# ---------------------------------------------------------------- edge: a trial with a single effect
ds <- dk[!(dk$district == 11 & dk$school > 1), ]
ref$single_effect_trial <- c(case(
  "single-effect trial", ds,
  function(ctrl) rma.mv(yi, vi, random = ~ 1 | district / school, data = ds, control = ctrl),
  ds$district
), list(method = "REML", test = "z"))

# ---------------------------------------------------------------- multi-arm trials, shared control
# Synthetic arm-level data (not from a publication): 6 trials, trials 1, 3 and 5 with
# two treatment arms against one control arm.
arms <- data.frame(
  trial = c(1, 1, 2, 3, 3, 4, 5, 5, 6),
  n1 = c(40, 42, 55, 30, 31, 80, 25, 27, 60),
  m1 = c(12.1, 13.0, 11.4, 20.2, 19.1, 15.5, 9.8, 10.9, 14.0),
  sd1 = c(4.0, 4.4, 3.9, 6.1, 5.7, 5.0, 3.1, 3.5, 4.8),
  n2 = c(41, 41, 54, 33, 33, 78, 26, 26, 61),
  m2 = c(10.2, 10.2, 10.9, 17.5, 17.5, 14.1, 8.1, 8.1, 13.2),
  sd2 = c(4.2, 4.2, 4.1, 6.0, 6.0, 5.2, 3.3, 3.3, 4.6),
  x1 = c(12, 15, 20, 9, 11, 30, 6, 8, 22),
  x2 = c(20, 20, 26, 15, 15, 37, 12, 12, 28)
)
arms$N <- ave(arms$n1, arms$trial, FUN = sum) + ave(arms$n2, arms$trial, FUN = function(x) x[1])
smd <- escalc(measure = "SMD", m1i = m1, sd1i = sd1, n1i = n1, m2i = m2, sd2i = sd2, n2i = n2, data = arms)
rr <- escalc(measure = "RR", ai = x1, n1i = n1, ci = x2, n2i = n2, data = arms)
or <- escalc(measure = "OR", ai = x1, n1i = n1, ci = x2, n2i = n2, data = arms)
go_V <- function(d, cov_fun) {
  bldiag(lapply(split(d, d$trial), function(x) {
    v <- matrix(cov_fun(x), nrow(x), nrow(x))
    diag(v) <- x$vi
    v
  }))
}
V_smd <- go_V(smd, function(x) 1 / x$n2[1] + outer(x$yi, x$yi) / (2 * x$N[1]))
V_rr <- go_V(rr, function(x) 1 / x$x2[1] - 1 / x$n2[1])
V_or <- go_V(or, function(x) 1 / x$x2[1] + 1 / (x$n2[1] - x$x2[1]))
arm_case <- function(name, d, V) {
  message(name)
  fitf <- function(ctrl) rma.mv(yi, V, random = ~ 1 | trial / arm, data = cbind(d, arm = seq_len(nrow(d))),
                                control = ctrl)
  res_t <- fit_tight(fitf)
  list(rel_tol = attr(res_t, "rel.tol"), yi = vec(d$yi), vi = vec(d$vi), V = mat(V), trial = as.character(d$trial),
       tight = summ(res_t, d$trial), method = "REML", test = "z")
}
ref$arms_arms <- list(trial = arms$trial, n1 = arms$n1, n2 = arms$n2, x2 = arms$x2, N = arms$N)
ref$arms_smd <- arm_case("multi-arm SMD", smd, V_smd)
ref$arms_rr <- arm_case("multi-arm RR", rr, V_rr)
ref$arms_or <- arm_case("multi-arm OR", or, V_or)

ref$meta <- list(
  metafor = as.character(packageVersion("metafor")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  R = R.version.string
)
writeLines(to_json(ref), out_file)
message("wrote ", out_file)
