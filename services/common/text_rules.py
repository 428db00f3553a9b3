"""The character classes of string fields (R34, protos/medins/common/v1/field_rules.proto): what each
accepts, the first problem a value has, and the canonical form of an ID number (spaces around it
dropped, x upper-cased). Shared by the request validator (services/common/validation.py) and the
channel notification parsers, so a channel's transaction id obeys the same rules as a request's id."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from medins.common.v1 import field_rules_pb2

from services.common import resident_id

CharClass = int
TEXT = field_rules_pb2.CHAR_CLASS_TEXT
NAME = field_rules_pb2.CHAR_CLASS_NAME
ID = field_rules_pb2.CHAR_CLASS_ID
CODE = field_rules_pb2.CHAR_CLASS_CODE
DIGITS = field_rules_pb2.CHAR_CLASS_DIGITS
DOCUMENT_NUMBER = field_rules_pb2.CHAR_CLASS_DOCUMENT_NUMBER
RESIDENT_ID = field_rules_pb2.CHAR_CLASS_RESIDENT_ID

_ASCII_CLASSES: dict[CharClass, tuple[re.Pattern[str], str, str]] = {
    ID: (
        re.compile(r"[A-Za-z0-9._:/+=@-]*"),
        "ASCII letters, digits and - _ . : / + = @",
        "字母、数字及 - _ . : / + = @",
    ),
    CODE: (re.compile(r"[A-Za-z0-9_-]*"), "ASCII letters, digits, - and _", "字母、数字、- 和 _"),
    DIGITS: (re.compile(r"[0-9]*"), "ASCII digits", "半角数字"),
    DOCUMENT_NUMBER: (re.compile(r"[A-Za-z0-9 ]*"), "ASCII letters and digits", "半角字母和数字"),
}
_RESIDENT_ID_CHARACTERS = re.compile(r"[A-Za-z0-9]*")
_NAME_PUNCTUATION = frozenset(" ·・.'-()（）")
# Control (Cc), surrogate (Cs), private-use (Co) characters and line/paragraph separators.
_NEVER = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})


@dataclass(frozen=True)
class Problem:
    """What is wrong with one value: a stable reason and the description in English and Chinese."""

    reason: str
    description: str
    description_zh: str
    metadata: dict[str, str]


def text_problem(value: str, chars: CharClass, max_len: int) -> Problem | None:
    """The first rule `value` breaks, or None."""
    if chars == RESIDENT_ID:
        return _resident_id_problem(value, max_len)
    if len(value) > max_len:
        return Problem(
            "FIELD_TOO_LONG",
            f"is {len(value)} characters long, at most {max_len} are allowed",
            f"长度为{len(value)},最多允许{max_len}个字符",
            {"max_length": str(max_len), "length": str(len(value))},
        )
    if not (value.isascii() and value.isprintable()):
        problem = _control_character(value)
        if problem is not None:
            return problem
    if chars in _ASCII_CLASSES:
        return None if _ASCII_CLASSES[chars][0].fullmatch(value) else _not_allowed(value, chars)
    if chars == NAME:
        return _name_problem(value)
    return None


def _resident_id_problem(value: str, max_len: int) -> Problem | None:
    """An ID number's length and characters, named INVALID_RESIDENT_ID whatever the fault (a space, a
    letter, a control character): the reason the domain gives a wrong checksum or birth date (R1)."""
    why, why_zh = resident_id.SHAPE_RULE
    if len(value) > max_len:
        return Problem(
            resident_id.INVALID_RESIDENT_ID,
            f"{why}; it is {len(value)} characters long",
            f"身份证号码{why_zh},长度为{len(value)}",
            {"why": why, "length": str(len(value))},
        )
    if _RESIDENT_ID_CHARACTERS.fullmatch(value):
        return None
    position = next(i for i, c in enumerate(value) if not _RESIDENT_ID_CHARACTERS.fullmatch(c))
    if _is_full_width(value[position]):
        return Problem(
            resident_id.INVALID_RESIDENT_ID,
            f"{why}; position {position} is a full-width character: type the number in half-width (半角)",
            f"身份证号码{why_zh},第{position + 1}个字符是全角字符,请切换为半角输入",
            {"why": why, "position": str(position), "full_width": "true"},
        )
    return Problem(
        resident_id.INVALID_RESIDENT_ID,
        f"{why}; position {position} is not a digit or letter",
        f"身份证号码{why_zh},第{position + 1}个字符不符合",
        {"why": why, "position": str(position)},
    )


def _is_full_width(char: str) -> bool:
    """A full-width form of an ASCII character (U+FF01-FF5E, and the ideographic space), what a Chinese
    input method types in full-width mode."""
    return 0xFF01 <= ord(char) <= 0xFF5E or char == "\u3000"


def _control_character(value: str) -> Problem | None:
    for position, char in enumerate(value):
        if unicodedata.category(char) in _NEVER:
            return Problem(
                "CONTROL_CHARACTER",
                f"contains a control character or unpaired surrogate (U+{ord(char):04X}) at position {position}",
                f"第{position + 1}个字符是控制字符或无效字符",
                {"position": str(position), "code_point": f"U+{ord(char):04X}"},
            )
    return None


def _name_problem(value: str) -> Problem | None:
    for position, char in enumerate(value):
        if not (unicodedata.category(char)[0] in "LMN" or char in _NAME_PUNCTUATION):
            return Problem(
                "INVALID_CHARACTERS",
                f"may contain letters, digits, spaces and · . ' - ( ) only; position {position} is not one",
                f"只能包含文字、数字、空格及 · . ' - ( ),第{position + 1}个字符不符合",
                {"position": str(position)},
            )
    return None


def _not_allowed(value: str, chars: CharClass) -> Problem:
    pattern, allowed, allowed_zh = _ASCII_CLASSES[chars]
    position = next(i for i, c in enumerate(value) if not pattern.fullmatch(c))
    if _is_full_width(value[position]):
        return Problem(
            "INVALID_CHARACTERS",
            f"may contain {allowed} only; position {position} is a full-width character: type it in half-width (半角)",
            f"只能包含{allowed_zh},第{position + 1}个字符是全角字符,请切换为半角输入",
            {"position": str(position), "full_width": "true"},
        )
    return Problem(
        "INVALID_CHARACTERS",
        f"may contain {allowed} only; position {position} is not one",
        f"只能包含{allowed_zh},第{position + 1}个字符不符合",
        {"position": str(position)},
    )


Canonical = Callable[[str], str]


# The fields whose values are put in canonical form before they are checked, by character class.
CANONICAL: dict[CharClass, Canonical] = {RESIDENT_ID: resident_id.canonical}
