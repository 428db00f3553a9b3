"""Bad input at the edge (R34): every field of every request is checked against the rules declared next
to it in the protos (`[(medins.common.v1.rules) = {...}]`, see protos/medins/common/v1/field_rules.proto)
before any handler runs. A field without rules gets the defaults of its type.

The plan of each message type is compiled once from its descriptor; checking a request then walks only
the fields that are set. Errors name the field and the rule and never echo the value: a hostile value
stays out of trailers and logs.

The one change the edge makes to a request: ID numbers are put in their canonical form first (spaces
around them dropped, x upper-cased: resident_id.canonical), so every handler, request id and trail sees
the number as stored. A full-width digit is refused, saying to type it in half-width (R41).

A batch whose elements are answered alone (each_answered_alone) is checked here for its size only; the
handler asks `element_refusal` for each element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from medins.common.v1 import field_rules_pb2

from services.common.errors import FieldViolation, InvalidArgument
from services.common.text_rules import CANONICAL, ID, TEXT, Canonical, Problem, text_problem

DEFAULT_STRING_LEN = 256
DEFAULT_BYTES_LEN = 64 * 1024
DEFAULT_MAX_ITEMS = 100
# A request with more wrong fields than this is reported with the first ones only: trailers stay small.
MAX_VIOLATIONS = 10

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
    canonical: Canonical | None = None


_PLANS: dict[str, list[_FieldPlan]] = {}


def _rules(field: FieldDescriptor) -> field_rules_pb2.FieldRules:
    options = field.GetOptions()
    if options.HasExtension(field_rules_pb2.rules):
        return options.Extensions[field_rules_pb2.rules]
    return field_rules_pb2.FieldRules()


def max_items(field: FieldDescriptor) -> int:
    """The most elements a repeated field accepts (its rule, or the default)."""
    return _rules(field).max_items or DEFAULT_MAX_ITEMS


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
        max_items=max_items(field),
        check=_nothing if rules.each_answered_alone else _value_check(field, rules),
        has_presence=field.has_presence and not repeated,
        canonical=CANONICAL.get(rules.chars) if field.type == FieldDescriptor.TYPE_STRING else None,
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
        if plan.canonical is not None:
            value = _put_canonical(message, plan, value)
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


def _put_canonical(message: Message, plan: _FieldPlan, value: Any) -> Any:
    """The field's value in canonical form, written back into the request when it changed."""
    assert plan.canonical is not None
    if not plan.repeated:
        fixed = plan.canonical(value)
        if fixed != value:
            setattr(message, plan.name, fixed)
        return fixed
    for index, element in enumerate(value):
        fixed = plan.canonical(element)
        if fixed != element:
            value[index] = fixed
    return value


def _map_key(key: object, path: str) -> Violations:
    if isinstance(key, str):
        problem = text_problem(key, ID, DEFAULT_STRING_LEN)
        if problem is not None:
            yield path, problem


def validate(request: Message) -> None:
    """Raises INVALID_ARGUMENT naming every field (up to MAX_VIOLATIONS) that breaks its rules."""
    refusal = _refusal(_walk(request, ""))
    if refusal is not None:
        raise refusal


def element_refusal(element: Message, prefix: str = "") -> InvalidArgument | None:
    """What one element of a batch answered alone (each_answered_alone) is refused for, its fields put
    in canonical form first; None when it keeps every rule. Its fields are named `prefix` + the path
    inside the element (R9 over R34, R41: the element's result names the element and the field)."""
    return _refusal(_walk(element, prefix))


def _refusal(violations: Violations) -> InvalidArgument | None:
    found: list[tuple[str, Problem]] = []
    for violation in violations:
        found.append(violation)
        if len(found) == MAX_VIOLATIONS:
            break
    if not found:
        return None
    path, first = found[0]
    error = InvalidArgument(
        first.reason,
        f"{path} {first.description}",
        f"字段{path}{first.description_zh}",
        field=path,
        metadata={"field": path, **first.metadata},
    )
    error.violations = tuple(FieldViolation(p, f"{p} {problem.description}") for p, problem in found)
    return error


def malformed_request(type_name: str) -> InvalidArgument:
    """The answer to bytes that do not parse as the request type (or carry invalid UTF-8 in a string)."""
    return InvalidArgument(
        "MALFORMED_REQUEST",
        f"the request is not a valid {type_name} message",
        "请求报文格式错误,无法解析",
        field="request",
        metadata={"type": type_name},
    )
