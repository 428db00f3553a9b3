"""Bad input at the edge (R34): every field of every request is checked against the rules declared next
to it in the protos (`[(medins.common.v1.rules) = {...}]`, see protos/medins/common/v1/field_rules.proto)
before any handler runs. A field without rules gets the defaults of its type.

The plan of each message type is compiled once from its descriptor; checking a request then walks only
the fields that are set. Errors name the field and the rule and never echo the value: a hostile value
stays out of trailers and logs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from medins.common.v1 import field_rules_pb2

from services.common.errors import FieldViolation, InvalidArgument

DEFAULT_STRING_LEN = 256
DEFAULT_BYTES_LEN = 64 * 1024
DEFAULT_MAX_ITEMS = 100
# A request with more wrong fields than this is reported with the first ones only: trailers stay small.
MAX_VIOLATIONS = 10

CharClass = int
TEXT = field_rules_pb2.CHAR_CLASS_TEXT
NAME = field_rules_pb2.CHAR_CLASS_NAME
ID = field_rules_pb2.CHAR_CLASS_ID
CODE = field_rules_pb2.CHAR_CLASS_CODE
DIGITS = field_rules_pb2.CHAR_CLASS_DIGITS
DOCUMENT_NUMBER = field_rules_pb2.CHAR_CLASS_DOCUMENT_NUMBER

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
    """The first rule `value` breaks, or None. Shared by the request validator and the channel
    notification parsers, so a channel's transaction id obeys the same rules as a request's id."""
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
    return Problem(
        "INVALID_CHARACTERS",
        f"may contain {allowed} only; position {position} is not one",
        f"只能包含{allowed_zh},第{position + 1}个字符不符合",
        {"position": str(position)},
    )


# -- compiled plans ---------------------------------------------------------------------------------

Violations = Iterator[tuple[str, Problem]]
ValueCheck = Callable[[Any, str], Violations]


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    repeated: bool
    is_map: bool
    max_items: int
    check: ValueCheck
    has_presence: bool


_PLANS: dict[str, list[_FieldPlan]] = {}


def _rules(field: FieldDescriptor) -> field_rules_pb2.FieldRules:
    options = field.GetOptions()
    if options.HasExtension(field_rules_pb2.rules):
        return options.Extensions[field_rules_pb2.rules]
    return field_rules_pb2.FieldRules()


def _plan(descriptor: Descriptor | Any) -> list[_FieldPlan]:
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        plan = [_field_plan(f) for f in descriptor.fields]
        _PLANS[descriptor.full_name] = plan
    return plan


def _field_plan(field: FieldDescriptor) -> _FieldPlan:
    rules = _rules(field)
    repeated = field.is_repeated
    is_map = repeated and field.message_type is not None and field.message_type.GetOptions().map_entry
    return _FieldPlan(
        name=field.name,
        repeated=repeated,
        is_map=is_map,
        max_items=rules.max_items or DEFAULT_MAX_ITEMS,
        check=_nothing if rules.each_answered_alone else _value_check(field, rules),
        has_presence=field.has_presence and not repeated,
    )


def _value_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    builder = _CHECK_BUILDERS.get(field.type, _integer_check)
    return builder(field, rules)


def _string_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    max_len = rules.max_len or DEFAULT_STRING_LEN
    chars = rules.chars or TEXT

    def check_string(value: str, path: str) -> Violations:
        problem = text_problem(value, chars, max_len)
        if problem is not None:
            yield path, problem

    return check_string


def _bytes_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    max_bytes = rules.max_len or DEFAULT_BYTES_LEN

    def check_bytes(value: bytes, path: str) -> Violations:
        if len(value) > max_bytes:
            yield (
                path,
                Problem(
                    "FIELD_TOO_LONG",
                    f"is {len(value)} bytes long, at most {max_bytes} are allowed",
                    f"长度为{len(value)}字节,最多允许{max_bytes}字节",
                    {"max_length": str(max_bytes), "length": str(len(value))},
                ),
            )

    return check_bytes


def _enum_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    assert field.enum_type is not None
    defined = frozenset(field.enum_type.values_by_number)
    required = rules.required

    def check_enum(value: int, path: str) -> Violations:
        if value not in defined:
            yield path, Problem("UNKNOWN_ENUM_VALUE", f"has unknown value {value}", f"取值{value}无法识别", {})
        elif required and value == 0:
            yield path, Problem("FIELD_REQUIRED", "must be specified", "不能为空", {})

    return check_enum


def _message_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    def check_message(value: Message, path: str) -> Violations:
        yield from _walk(value, path + ".")

    return check_message


def _no_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    return _nothing


def _integer_check(field: FieldDescriptor, rules: field_rules_pb2.FieldRules) -> ValueCheck:
    low = rules.min if rules.HasField("min") else None
    high = rules.max if rules.HasField("max") else None
    if low is None and high is None:
        return _nothing

    def check_integer(value: int, path: str) -> Violations:
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{'' if low is None else low}..{'' if high is None else high}"
            yield path, Problem("OUT_OF_RANGE", f"must be within {bounds}", f"超出允许范围{bounds}", {"range": bounds})

    return check_integer


_CHECK_BUILDERS: dict[int, Callable[[FieldDescriptor, field_rules_pb2.FieldRules], ValueCheck]] = {
    FieldDescriptor.TYPE_STRING: _string_check,
    FieldDescriptor.TYPE_BYTES: _bytes_check,
    FieldDescriptor.TYPE_ENUM: _enum_check,
    FieldDescriptor.TYPE_MESSAGE: _message_check,
    FieldDescriptor.TYPE_BOOL: _no_check,
}


def _nothing(value: Any, path: str) -> Violations:
    return iter(())


def _walk(message: Message, prefix: str) -> Violations:
    for plan in _plan(message.DESCRIPTOR):
        if plan.has_presence and not message.HasField(plan.name):
            continue
        value = getattr(message, plan.name)
        path = prefix + plan.name
        if not plan.repeated:
            yield from plan.check(value, path)
            continue
        if len(value) > plan.max_items:
            yield (
                path,
                Problem(
                    "TOO_MANY_ITEMS",
                    f"has {len(value)} elements, at most {plan.max_items} are allowed",
                    f"共{len(value)}项,最多允许{plan.max_items}项",
                    {"max_items": str(plan.max_items), "given": str(len(value))},
                ),
            )
            continue
        if plan.is_map:
            for key in value:
                yield from _map_key(key, f"{path}[]")
                entry = value[key]
                if isinstance(entry, str):
                    problem = text_problem(entry, TEXT, DEFAULT_STRING_LEN)
                    if problem is not None:
                        yield f"{path}[]", problem
            continue
        for index, element in enumerate(value):
            yield from plan.check(element, f"{path}[{index}]")


def _map_key(key: object, path: str) -> Violations:
    if isinstance(key, str):
        problem = text_problem(key, ID, DEFAULT_STRING_LEN)
        if problem is not None:
            yield path, problem


def validate(request: Message) -> None:
    """Raises INVALID_ARGUMENT naming every field (up to MAX_VIOLATIONS) that breaks its rules."""
    found: list[tuple[str, Problem]] = []
    for violation in _walk(request, ""):
        found.append(violation)
        if len(found) == MAX_VIOLATIONS:
            break
    if not found:
        return
    path, first = found[0]
    error = InvalidArgument(
        first.reason,
        f"{path} {first.description}",
        f"字段{path}{first.description_zh}",
        field=path,
        metadata={"field": path, **first.metadata},
    )
    error.violations = tuple(FieldViolation(p, f"{p} {problem.description}") for p, problem in found)
    raise error


def malformed_request(type_name: str) -> InvalidArgument:
    """The answer to bytes that do not parse as the request type (or carry invalid UTF-8 in a string)."""
    return InvalidArgument(
        "MALFORMED_REQUEST",
        f"the request is not a valid {type_name} message",
        "请求报文格式错误,无法解析",
        field="request",
        metadata={"type": type_name},
    )
