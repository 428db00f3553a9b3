"""No process log of an end-to-end run holds a valid full resident ID number, a card number or an
unmasked mobile phone number (issue 13, PII). The scan here runs after this module's own flows, which
pass personal numbers through every kind of call (accepted, refused at the edge, refused by a rule,
a payment, a deduction agreement, an ID number in a caller's correlation id, which only the logging
pipeline masks: with that masking switched off this test fails); tests/e2e/conftest.py runs the scan
again over the logs of the whole session when the system stops."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from services.collection.domain.model import Channel
from services.common.errors import InvalidArgument
from services.common.resident_id import parse_resident_id
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import register
from tests.e2e.system import System
from tests.e2e.test_deductions import new_card, sign
from tests.e2e.test_payments import covered, items_of, order_for, registered_person
from tests.factories import unique_resident_id
from tests.support import eventually, refused

# Eighteen characters not glued to other digits; letters around them do not hide them.
_CANDIDATE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
# Any birth date up to here is plausible: the system's clock may be set years ahead in a test.
_LATEST_DAY = dt.date(2200, 1, 1)
PHONE = "13912345678"


def full_id_numbers(text: str) -> set[str]:
    """The valid resident ID numbers (check character and birth date, services/common/resident_id.py)
    written out in full in `text`."""
    found = set()
    for match in _CANDIDATE.finditer(text):
        try:
            found.add(parse_resident_id(match.group(), today=_LATEST_DAY).number)
        except InvalidArgument:
            continue  # 18 digits that are not an ID number (a transaction id, an amount...)
    return found


def mobile_numbers(text: str) -> set[str]:
    return set(_MOBILE.findall(text))


def personal_numbers_in(logs: Path, cards: Sequence[str] = ()) -> dict[str, list[str]]:
    """Per log file, the personal numbers it shows in clear: full ID numbers, mobiles, given cards."""
    leaks: dict[str, list[str]] = {}
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        found = sorted(full_id_numbers(text) | mobile_numbers(text) | {c for c in cards if c in text})
        if found:
            leaks[path.name] = found
    return leaks


def test_the_scan_finds_a_full_id_number_and_passes_masked_or_invalid_ones() -> None:
    number = unique_resident_id()
    masked = number[:6] + "********" + number[-4:]
    invalid = number[:17] + ("0" if number[17] != "0" else "1")
    assert full_id_numbers(f'{{"event": "x", "id": "{number}"}}') == {number}
    assert full_id_numbers(f"id{number}abc") == {number}
    assert full_id_numbers(f"{masked} {invalid} 4200000000202311200001") == set()
    assert mobile_numbers("phone 13800138000, masked 138****8000") == {"13800138000"}


async def test_logs_of_calls_carrying_personal_numbers_show_none_of_them_in_clear(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    # Accepted: a registration with a phone, an enrollment check, an order and its payment.
    number, items = await registered_person(registration, collection, name="隐私", phone=PHONE)
    payer = unique_resident_id()
    order = await order_for(collection, payer, items)
    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    await covered(enrollment, number, 2024)

    # A caller that puts the ID number in its correlation id: every line the call logs, here and on the
    # tax side, carries it, and only the logging pipeline's masking stands between it and the log.
    tagged = unique_resident_id()
    await registration.RegisterResident(
        register(tagged, name="标记", phone=PHONE), metadata=(("x-correlation-id", f"req-{tagged}"),)
    )
    await items_of(collection, tagged, "标记")

    # Refused by a rule (the same person again) and at the edge (a bad phone; an unsigned payload
    # that carries an ID number in clear, stored as a sample).
    again = await refused(registration.RegisterResident(register(number, name="隐私", phone=PHONE)))
    assert again.reason
    bad_phone = await refused(registration.RegisterResident(register(unique_resident_id(), phone="1391234567x")))
    assert bad_phone.fields
    forged = channels.notification(
        Channel.WECHAT, channels.body(Channel.FAMILY_MUTUAL_AID, channels.family(order.order_id, 100, START, number))
    )
    await refused(collection.NotifyPayment(forged))
    await refused(
        enrollment.CheckEnrollment(
            chk.CheckEnrollmentRequest(
                caller_id="hospital-1", target=chk.CheckTarget(resident_id_number=number, insurance_year=2024)
            )
        )
    )

    # A deduction agreement: a card number and the card's phone.
    card = new_card()
    agreement = await sign(collection, payer, number, "隐私", card)
    assert agreement.agreement_id

    async def logged() -> None:
        # The calls above reached the logs (the refusals are logged by the call policy).
        text = system.log_text("collection")
        assert agreement.agreement_id in text or "CreateDeductionAgreement" in text
        assert f"req-{tagged[:6]}********{tagged[-4:]}" in system.log_text("assessment")

    await eventually(logged)
    assert personal_numbers_in(system.logs, [card]) == {}
    assert any(path.stat().st_size for path in system.logs.glob("*.log"))
