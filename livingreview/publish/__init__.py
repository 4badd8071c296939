"""Publishing (``workflow/rules/report.smk``, ``bundle.smk``): what a version holds.

``plots`` and ``prisma`` (figures), ``report`` and ``report_settings`` (the report),
``provenance``, ``history`` and ``whats_new`` (what changed and why), ``bundle``
(versioned, checksummed, read-only bundles), ``rocrate`` (RO-Crate metadata),
``interop``, ``metafor_export`` and ``revman`` (files for the tools that come
after us), ``alerts`` (e-mail and webhook notices).
"""
