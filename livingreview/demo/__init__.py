"""Generate the shipped, SIMULATED demo review (and large synthetic reviews for benchmarks).

The demo is the instant-messaging-for-diabetes review of the protocol
(``../shared/protocol/PROTOCOL.md``) with invented data: fictional PubMed
records (PMIDs from 90000001, DOIs under Crossref's test prefix 10.5555) in two
search snapshots, an Embase RIS export with duplicates, two reviewers'
screening files with conflicts and an adjudication, and two extractors' sheets
with discrepancies and resolutions for about 25 fictional randomised trials.

Why a generator and not hand-made files: the demo must be reproducible (same
seed -> byte-identical files, gzip ``mtime=0``), and the same code produces a
large review (``--trials 2000``) with the same structure for benchmarks.

Effects are simulated from a random-effects model: each trial has a true
benefit ``theta_i ~ N(mu_d, tau_d^2)`` in SD units per domain (log RR for
complications); arm means and SDs are then drawn from their sampling
distributions (mean ~ N(mu, sigma^2/n), SD ~ sigma * sqrt(chi2_{n-1}/(n-1))),
so the data behave like real summary statistics.

Modules: ``design`` (dates, platforms, domains, the Trial and Record types),
``trials``, ``records``, ``snapshot`` (PubMed snapshots), ``exports``,
``screening``, ``extraction`` (the simulated inputs, in that order) and
``generator`` (:func:`generate`, :func:`main`).

Usage::

    python -m livingreview.demo --out resources/demo [--seed 2026]
    python -m livingreview.demo --out bench/out/large --trials 2000
"""

from __future__ import annotations

from .design import DOI_PREFIX, DOMAINS, FIRST_UNTIL, PLATFORMS, PMID_BASE, SEED, UPDATE_UNTIL
from .generator import generate, main

__all__ = [
    "DOI_PREFIX",
    "DOMAINS",
    "FIRST_UNTIL",
    "PLATFORMS",
    "PMID_BASE",
    "SEED",
    "UPDATE_UNTIL",
    "generate",
    "main",
]
