"""What stops a PubMed search or parse: one base class, three causes."""

from __future__ import annotations

from ..errors import LivingReviewError


class PubMedError(LivingReviewError):
    """Anything that stops a PubMed search or parse."""


class EutilsError(PubMedError):
    """E-utilities answered with an ``<ERROR>`` element or a non-retryable HTTP status."""


class PubMedXMLError(PubMedError):
    """The response is not a well-formed PubmedArticleSet (truncated, HTML, entities...)."""


class FetchFailedError(PubMedError):
    """A request still failed after the last retry."""
