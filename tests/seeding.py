"""Rows seeded straight into an agency's database for tests that start from a state the use cases would
have left (issue 20: no `INSERT … VALUES` without a column list, and no copies). Each factory names the
columns it writes, takes states as the domain's enums, and returns the keys it made."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.collection.domain.model import EnrollmentState, FeeType, ItemStatus
from services.common.db import Connection

REGION = "340800"
CATEGORY = "NON_EMPLOYED"


@dataclass(frozen=True)
class SeededItem:
    number: str
    enrollment_id: uuid.UUID
    payable_item_id: uuid.UUID


async def assessed_item(
    conn: Connection,
    number: str,
    at: dt.datetime,
    *,
    name: str = "李四",
    status: ItemStatus = ItemStatus.UNPAID,
    paid_by: uuid.UUID | None = None,
    region: str = REGION,
    enrollment_id: uuid.UUID | None = None,
    payable_item_id: uuid.UUID | None = None,
) -> SeededItem:
    """The tax side's copy of a person and their enrollment, and one 380-yuan item for benefit year 2024
    (sold 1 Sep - 31 Dec 2023), as assessment would have left it. A PAID item names its payment
    (`paid_by`, made up when not given)."""
    enrollment_id = enrollment_id or uuid.uuid4()
    payable_item_id = payable_item_id or uuid.uuid4()
    if status in (ItemStatus.PAID, ItemStatus.SETTLED_BY_SUBSIDY) and paid_by is None:
        paid_by = uuid.uuid4()
    await conn.execute(
        """INSERT INTO insured_persons (resident_id_number, name, birth_date, updated_at)
           VALUES ($1, $2, '1980-01-01', $3)""",
        number,
        name,
        at,
    )
    await conn.execute(
        """INSERT INTO enrollment_refs (enrollment_id, resident_id_number, region_code, category, state,
               last_sequence, updated_at)
           VALUES ($1, $2, $3, $4, $5, 1, $6)""",
        enrollment_id,
        number,
        region,
        CATEGORY,
        EnrollmentState.ACTIVE,
        at,
    )
    await conn.execute(
        """INSERT INTO payable_items (payable_item_id, enrollment_id, resident_id_number, region_code, category,
               insurance_year, fee_type, standard_fen, subsidy_fen, amount_fen, status, policy_version,
               window_start, window_end, payable_until, coverage_start, coverage_end, newborn_current_year,
               paid_by_payment_id, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, 2024, $6, 38000, 0, 38000, $7, 1,
               '2023-09-01', '2023-12-31', '2023-12-31', '2024-01-01', '2024-12-31', false, $8, $9, $9)""",
        payable_item_id,
        enrollment_id,
        number,
        region,
        CATEGORY,
        FeeType.RESIDENT_MEDICAL,
        status,
        paid_by,
        at,
    )
    return SeededItem(number, enrollment_id, payable_item_id)
