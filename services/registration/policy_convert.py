"""Region policies between the protos and the domain (R2, R36-R39, R45, R49): the policy and its long-term,
evidence and channel terms, both ways."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from services.common.errors import InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange
from services.common.proto_values import (
    channel_openings_from_proto,
    channel_openings_to_proto,
    enum_from_proto,
    enum_to_proto,
    range_from_proto,
    range_to_proto,
    timestamp,
)
from services.registration.convert import category
from services.registration.domain.long_term_rules import LongTermRules, default_rules
from services.registration.domain.model import (
    DEFAULT_ELDERLY_AGE,
    DEFAULT_REVIEW_GRACE_DAYS,
    Category,
    EvidenceKind,
    RegionPolicy,
    ReviewMode,
)


def policy_from_proto(value: pb.RegionPolicy) -> RegionPolicy:
    subsidies: dict[Category, Fen] = {}
    for i, item in enumerate(value.category_subsidies):
        key = category(item.category, f"policy.category_subsidies[{i}].category")
        if key in subsidies:
            raise InvalidArgument(
                "DUPLICATE_CATEGORY",
                f"category {key} is listed twice",
                "同一参保身份的资助标准重复",
                field=f"policy.category_subsidies[{i}]",
            )
        subsidies[key] = Fen(item.subsidy_fen)
    window = range_from_proto(value.collection_window, field="policy.collection_window")
    benefit = range_from_proto(value.benefit_period, field="policy.benefit_period")
    mode = enum_from_proto(
        ReviewMode, common_pb2.ReviewMode, value.review_mode, prefix="REVIEW_MODE_", field="policy.review_mode"
    )
    assert mode is not None
    return RegionPolicy(
        region_code=value.region_code.strip(),
        insurance_year=value.insurance_year,
        individual_standard_fen=Fen(value.individual_standard_fen),
        fiscal_subsidy_fen=Fen(value.fiscal_subsidy_fen),
        newborn_standard_fen=Fen(value.newborn_standard_fen),
        category_subsidies=subsidies,
        collection_window=DateRange(*window),
        benefit_period=DateRange(*benefit),
        review_mode=mode,
        demo_data=value.demo_data,
        review_grace_days=value.review_grace_days if value.HasField("review_grace_days") else DEFAULT_REVIEW_GRACE_DAYS,
        long_term=rules_from_proto(value.long_term, value.insurance_year),
        evidence=evidence_rules_from_proto(value.evidence_rules),
        elderly_age=value.elderly_age if value.HasField("elderly_age") else DEFAULT_ELDERLY_AGE,
        channel_openings=dict(channel_openings_from_proto(value.channel_openings, field="policy.channel_openings"))
        or None,
    )


def policy_to_proto(policy: RegionPolicy) -> pb.RegionPolicy:
    return pb.RegionPolicy(
        region_code=policy.region_code,
        insurance_year=policy.insurance_year,
        version=policy.version,
        individual_standard_fen=policy.individual_standard_fen,
        fiscal_subsidy_fen=policy.fiscal_subsidy_fen,
        newborn_standard_fen=policy.newborn_standard_fen,
        category_subsidies=[
            pb.CategorySubsidy(category=enum_to_proto(common_pb2.Category, c, prefix="CATEGORY_"), subsidy_fen=fen)
            for c, fen in sorted(policy.category_subsidies.items())
        ],
        collection_window=range_to_proto(policy.collection_window.start, policy.collection_window.end),
        benefit_period=range_to_proto(policy.benefit_period.start, policy.benefit_period.end),
        review_mode=enum_to_proto(common_pb2.ReviewMode, policy.review_mode, prefix="REVIEW_MODE_"),
        demo_data=policy.demo_data,
        create_time=timestamp(policy.created_at),
        review_grace_days=policy.review_grace_days,
        long_term=rules_to_proto(policy.rules),
        evidence_rules=[
            pb.EvidenceRule(
                category=enum_to_proto(common_pb2.Category, category, prefix="CATEGORY_"),
                groups=[
                    pb.EvidenceGroup(
                        any_of=[enum_to_proto(pb.EvidenceKind, k, prefix="EVIDENCE_KIND_") for k in sorted(group)]
                    )
                    for group in groups
                ],
            )
            for category, groups in sorted((policy.evidence or {}).items())
        ],
        elderly_age=policy.elderly_age,
        channel_openings=channel_openings_to_proto((policy.channel_openings or {}).items()),
    )


_RULE_FIELDS = tuple(f.name for f in fields(LongTermRules))


def rules_from_proto(value: pb.LongTermRules, insurance_year: int) -> LongTermRules:
    """The long-term terms a request sets; a field left unset takes the year's national default."""
    base = default_rules(insurance_year)
    given: dict[str, Any] = {
        name: getattr(value, name)
        for name in _RULE_FIELDS
        if name != "exempt_reasons" and value.HasField(name)  # type: ignore[arg-type]
    }
    given["exempt_reasons"] = tuple(r.strip() for r in value.exempt_reasons) or base.exempt_reasons
    return replace(base, **given)


def rules_to_proto(rules: LongTermRules) -> pb.LongTermRules:
    return pb.LongTermRules(**{name: getattr(rules, name) for name in _RULE_FIELDS})


def evidence_rules_from_proto(
    rules: Iterable[pb.EvidenceRule],
) -> dict[Category, tuple[frozenset[EvidenceKind], ...]] | None:
    """R45: the documents per category a policy sets; none given: the defaults."""
    found: dict[Category, tuple[frozenset[EvidenceKind], ...]] = {}
    for i, rule in enumerate(rules):
        key = category(rule.category, f"policy.evidence_rules[{i}].category")
        if key in found:
            raise InvalidArgument(
                "DUPLICATE_CATEGORY",
                f"category {key} has two evidence rules",
                "同一参保身份的材料规则重复",
                field=f"policy.evidence_rules[{i}]",
            )
        found[key] = tuple(
            frozenset(
                _evidence_kind(k, f"policy.evidence_rules[{i}].groups[{g}].any_of[{n}]")
                for n, k in enumerate(group.any_of)
            )
            for g, group in enumerate(rule.groups)
        )
    return found or None


def _evidence_kind(value: int, field: str) -> EvidenceKind:
    kind = enum_from_proto(EvidenceKind, pb.EvidenceKind, value, prefix="EVIDENCE_KIND_", field=field)
    assert kind is not None
    return kind
