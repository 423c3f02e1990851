"""The canonical offense taxonomy every source's categories map onto.

Categories follow the FBI UCR/NIBRS groupings that most agencies' exports can be
mapped to without losing meaning; ``docs/data-model.md`` lists them with
examples. A source value that no spec maps becomes ``other`` with
``category_mapped = false``, never a rejected row.
"""

from __future__ import annotations

OFFENSE_CATEGORIES: tuple[str, ...] = (
    "homicide",
    "aggravated_assault",
    "simple_assault",
    "robbery",
    "burglary",
    "theft",
    "motor_vehicle_theft",
    "arson",
    "sexual_offense",
    "weapons_offense",
    "drug_offense",
    "fraud",
    "vandalism",
    "public_order",
    "other",
)
