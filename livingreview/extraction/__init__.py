"""Extraction stage (``workflow/rules/extraction.smk``): double extraction to effects.

``stage`` (merging the extractors' sheets, discrepancies, effect sizes, selection
rules), ``queue`` (the included trials each extractor has not entered yet).
"""
