"""Masking personal numbers in free text (ID numbers, mobile numbers, card-like numbers): what logs and
stored samples of what callers sent may show. Pure, so the domain may use it."""

from __future__ import annotations

import re

# Only digits delimit a number: an ID glued to letters ("id340102...", "...123Xabc") is still one.
_RESIDENT_ID = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_CARD = re.compile(r"(?<![0-9])[0-9]{12,19}(?![0-9])")
# Mainland mobile numbers (11 digits, 13x-19x): the first three and last four stay, as mask_phone does.
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def mask_text(text: str) -> str:
    """Masks resident ID numbers (keeps region prefix and last four) and mobile phone numbers (keeps the
    first three and last four), and removes card-like numbers."""
    text = _RESIDENT_ID.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _CARD.sub("[redacted-number]", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
