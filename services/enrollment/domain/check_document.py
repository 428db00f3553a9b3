"""The check document (R15, R16): one per person, the read model the enrollment check answers from.

Registration writes it (services/registration/check_projection.py) in the same transaction as every
change to the person; the enrollment check reads it on the hot path. This module is the contract
between the two: `write_document` is the only writer of the stored shape and `read_document` the only
reader, so a renamed key fails a test instead of silently breaking the read path.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Version 1 (before 2026-11-28) had no "v", "ended_on" or "end_reason"; version 2 no "wait" per year
# and no "incentive" (issue 18, R37, R39). The reader still accepts both.
DOCUMENT_VERSION = 3


class EntryState(enum.StrEnum):
    """An enrollment's state, as the insurance side names it."""

    PENDING_REVIEW = "PENDING_REVIEW"
    REJECTED = "REJECTED"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    AGED_OUT = "AGED_OUT"


class EntryYearStatus(enum.StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    COVERED = "COVERED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class YearEntry:
    year: int
    status: EntryYearStatus
    start: dt.date  # a covered year: the first covered day, after its wait (R37)
    end: dt.date
    wait_months: int = 0


@dataclass(frozen=True)
class EnrollmentEntry:
    region_code: str
    region_name: str
    category: str
    state: EntryState
    since: int  # the year it was registered in (CST)
    years: tuple[YearEntry, ...] = ()
    stop_year: int | None = None
    ended_on: dt.date | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class ExternalEntry:
    """An active enrollment another system reported (employee insurance, another region)."""

    region_code: str
    region_name: str
    scheme: str


@dataclass(frozen=True)
class IncentiveEntry:
    """R39 for one benefit year: the continuous years before it and the serious-illness cap it raises."""

    year: int
    continuous_years: int
    cap_fen: int
    raise_fen: int


@dataclass(frozen=True)
class CheckDocument:
    enrollments: tuple[EnrollmentEntry, ...]  # newest first
    external: tuple[ExternalEntry, ...] = ()
    incentive: tuple[IncentiveEntry, ...] = ()


def write_document(doc: CheckDocument) -> dict[str, Any]:
    """The stored (JSON) form of a document."""
    return {
        "v": DOCUMENT_VERSION,
        "enrollments": [
            {
                "region": e.region_code,
                "region_name": e.region_name,
                "category": e.category,
                "state": e.state.value,
                "since": e.since,
                "stop_year": e.stop_year,
                "ended_on": e.ended_on.isoformat() if e.ended_on else None,
                "end_reason": e.end_reason,
                "years": [
                    {
                        "year": y.year,
                        "status": y.status.value,
                        "from": y.start.isoformat(),
                        "to": y.end.isoformat(),
                        "wait": y.wait_months,
                    }
                    for y in e.years
                ],
            }
            for e in doc.enrollments
        ],
        "external": [{"region": x.region_code, "region_name": x.region_name, "scheme": x.scheme} for x in doc.external],
        "incentive": [
            {"year": i.year, "continuous": i.continuous_years, "cap": i.cap_fen, "raise": i.raise_fen}
            for i in doc.incentive
        ],
    }


def read_document(stored: Mapping[str, Any]) -> CheckDocument:
    """A stored document back as values; raises ValueError for a version this code does not know."""
    version = stored.get("v", 1)
    if version not in (1, 2, DOCUMENT_VERSION):
        raise ValueError(f"check document version {version} is not known")
    return CheckDocument(
        enrollments=tuple(
            EnrollmentEntry(
                region_code=e["region"],
                region_name=e["region_name"],
                category=e["category"],
                state=EntryState(e["state"]),
                since=int(e["since"]),
                stop_year=e.get("stop_year"),
                ended_on=dt.date.fromisoformat(e["ended_on"]) if e.get("ended_on") else None,
                end_reason=e.get("end_reason"),
                years=tuple(
                    YearEntry(
                        y["year"],
                        EntryYearStatus(y["status"]),
                        dt.date.fromisoformat(y["from"]),
                        dt.date.fromisoformat(y["to"]),
                        int(y.get("wait", 0)),
                    )
                    for y in e["years"]
                ),
            )
            for e in stored["enrollments"]
        ),
        external=tuple(ExternalEntry(x["region"], x["region_name"], x["scheme"]) for x in stored["external"]),
        incentive=tuple(
            IncentiveEntry(int(i["year"]), int(i["continuous"]), int(i["cap"]), int(i["raise"]))
            for i in stored.get("incentive", ())
        ),
    )
