# Reference values of tests/test_analysis.py::test_a_text_moderator_is_dummy_coded_against_its_reference:
# a categorical moderator (dat.bcg's alloc) dummy coded as metafor's factor(), first level
# (alphabetical) as reference, and re-levelled to "random". Run with metafor 3.8-1
# (R 4.2.2, Debian r-cran-metafor), 2026-12-07: Rscript tests/reference/make_moderator_reference.R
# Printed (4 decimals), as typed into the test:
#   factor(alloc): intrcpt -0.5180, random -0.4478, systematic 0.0890; QM 1.7675; tau2 0.3615
#   ref = "random": intrcpt -0.9658, alternate 0.4478, systematic 0.5369
suppressMessages(library(metafor))
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res <- rma(yi, vi, mods = ~ factor(alloc), data = dat)
print(round(coef(res), 4))
cat("QM", round(res$QM, 4), "tau2", round(res$tau2, 4), "\n")
res2 <- rma(yi, vi, mods = ~ relevel(factor(alloc), ref = "random"), data = dat)
print(round(coef(res2), 4))
