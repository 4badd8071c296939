"""The columns of the extraction stage's output tables (docs/contracts.md), one copy.

``effects.csv`` takes the stratifier's column in place of ``platform`` and the
configured study columns (:attr:`~livingreview.extraction.settings.Settings.effect_columns`).
"""

from __future__ import annotations

from ..contract import DEMO_MODERATORS

MODERATORS = DEMO_MODERATORS


STUDIES_OUT_EXTRA = ("extractors", "screening_status", "unresolved")
DISCREPANCY_COLUMNS = ("sheet", "key", "field", "values", "status", "resolution", "note")
EFFECT_COLUMNS = (
    "study_id",
    "record_id",
    "citation",
    "domain",
    "platform",
    "measure",
    "yi",
    "vi",
    "n",
    "followup_weeks",
    "ln_n",
    "outcome",
    "timepoint_weeks",
    "form",
    "design_effect",
    "rob_overall",
    *MODERATORS,
    "source",
    "rule",
    "beat",
)
# The merged numbers behind each selected effect (results/effects/arm_data.csv), so the
# bundle can hand them to RevMan's calculator (livingreview.publish.revman). Arm 1 is the
# intervention, arm 2 the control, as in the outcome sheets.
ARM_NUMBERS = ("m1", "sd1", "se1", "n1", "m2", "sd2", "se2", "n2", "md", "ci_low", "ci_high",
               "se", "p", "events1", "events2")  # fmt: skip
ARM_DATA_COLUMNS = (
    "study_id", "domain", "outcome", "timepoint_weeks", "form", "favourable", "measure",
    *ARM_NUMBERS,
)  # fmt: skip
NOT_SELECTED_COLUMNS = (
    "study_id",
    "domain",
    "outcome",
    "timepoint_weeks",
    "yi",
    "vi",
    "status",
    "why",
)
