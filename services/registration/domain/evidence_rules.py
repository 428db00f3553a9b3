"""Which documents a category needs in a region (R6, R45): region policy data, versioned with the policy.

A category's rule is a list of groups; one document of every group is required, and the documents of a
group stand in for one another (Xuancheng: the household register or the residence permit). A category
the policy does not list takes the national default below (Changzhou's list of 材料, seed 000).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.common.errors import InvalidArgument
from services.registration.domain.model import CATEGORY_ZH, EVIDENCE_ZH, Category, Evidence, EvidenceKind

Groups = tuple[frozenset[EvidenceKind], ...]
MAX_GROUPS = 5

_H = EvidenceKind.HOUSEHOLD_REGISTER
DEFAULT_REQUIRED: dict[Category, Groups] = {
    Category.NON_EMPLOYED: (frozenset({_H}),),
    Category.ELDERLY: (frozenset({_H}),),
    Category.MINOR: (frozenset({_H}),),
    Category.COLLEGE_STUDENT: (),
    Category.HARDSHIP_LOW_INCOME: (frozenset({_H}), frozenset({EvidenceKind.LOW_INCOME_CERTIFICATE})),
    Category.HARDSHIP_SEVERE_DISABILITY: (frozenset({_H}), frozenset({EvidenceKind.DISABILITY_CERTIFICATE})),
    Category.HARDSHIP_EXTREME_POVERTY: (frozenset({_H}), frozenset({EvidenceKind.EXTREME_POVERTY_CERTIFICATE})),
    Category.NEWBORN: (frozenset({_H, EvidenceKind.BIRTH_CERTIFICATE}),),
    Category.RESIDENCE_PERMIT_HOLDER: (frozenset({EvidenceKind.RESIDENCE_PERMIT}),),
}


def required_evidence(rules: Mapping[Category, Groups] | None, category: Category) -> Groups:
    """The groups a category needs under a policy's rules (the default where it lists none)."""
    if rules and category in rules:
        return rules[category]
    return DEFAULT_REQUIRED[category]


def check_evidence(category: Category, evidence: Iterable[Evidence], groups: Groups, region_code: str) -> None:
    """Refuses a registration missing a document, naming what the region accepts for it (R45)."""
    kinds = {e.kind for e in evidence}
    for group in groups:
        if not kinds & group:
            names = "/".join(sorted(str(k) for k in group))
            names_zh = "或".join(EVIDENCE_ZH[k] for k in sorted(group))
            raise InvalidArgument(
                "EVIDENCE_MISSING",
                f"category {category} in region {region_code} requires one of {names}",
                f"{CATEGORY_ZH[category]}参保须提供{names_zh}",
                field="evidence",
                metadata={"category": category, "required": names, "region_code": region_code},
            )


def evidence_to_json(rules: Mapping[Category, Groups] | None) -> dict[str, list[list[str]]] | None:
    """The stored form: category → groups → kinds, sorted so an unchanged rule compares equal."""
    if not rules:
        return None
    return {c.value: [sorted(k.value for k in g) for g in groups] for c, groups in sorted(rules.items())}


def evidence_from_json(stored: Mapping[str, Any] | None) -> dict[Category, Groups] | None:
    if not stored:
        return None
    return {Category(c): tuple(frozenset(map(EvidenceKind, group)) for group in groups) for c, groups in stored.items()}


def validate_evidence(rules: Mapping[Category, Groups] | None) -> None:
    """A rule names at most five groups, none empty."""
    for category, groups in (rules or {}).items():
        if len(groups) > MAX_GROUPS or any(not g for g in groups):
            raise InvalidArgument(
                "INVALID_POLICY",
                f"evidence rule of {category}: 0-{MAX_GROUPS} groups, each naming at least one document",
                "参保材料规则不正确:每组至少一种材料",
                field="policy.evidence_rules",
                metadata={"field": "policy.evidence_rules", "category": category},
            )
