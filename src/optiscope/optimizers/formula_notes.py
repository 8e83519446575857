"""Where a library's update rule differs from the seed's or the paper's formula.

Keys are canonical registry names; values are one or two sentences shown in the entry's docs
and in ``optiscope optimizers list``. Each note is backed by a step-by-step NumPy reference
in ``tests/test_update_rules.py``.
"""

from __future__ import annotations

__all__ = ["FORMULA_NOTES"]

FORMULA_NOTES: dict[str, str] = {}
