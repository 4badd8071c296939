"""Search stage (``workflow/rules/search.smk``): records in, de-duplicated.

``pubmed`` (E-utilities client, efetch parsing, append-only snapshots), ``exports``
(database exports read by content), ``records`` (the de-duplicated record store),
``watch`` (retractions and corrections of assessed records).
"""
