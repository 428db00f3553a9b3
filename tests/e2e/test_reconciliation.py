"""R30 end to end: a channel's settlement file against our payments, over gRPC and through the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from pathlib import Path

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.proto_values import date_to_proto
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.requests import new_request_id
from tests.e2e.system import ROOT, System
from tests.e2e.test_payments import order_for, registered_person
from tests.support import refused

D = dt.date


async def paid_through(
    system: System,
    registration: RegistrationClient,
    collection: CollectionClient,
    channel: Channel,
    name: str,
    paid_at: dt.datetime,
) -> tuple[str, str]:
    """(channel transaction id, order id) of a 380-yuan payment the channel notified."""
    number, items = await registered_person(registration, collection, name=name)
    order = await order_for(collection, number, items)
    transaction = f"T{uuid.uuid4().hex[:16].upper()}"
    reply = await collection.NotifyPayment(
        channels.notification(channel, channels.bank(order.order_id, order.total_fen, paid_at, transaction))
    )
    assert reply.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    return transaction, order.order_id


def settlement_file(path: Path, lines: list[tuple[str, str]]) -> Path:
    path.write_text(
        "channel_transaction_id,amount,time\n"
        + "".join(f"{txn},{amount},2023-11-18 10:00:00\n" for txn, amount in lines)
    )
    return path


async def cli(system: System, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.reconciliation",
        *args,
        "--address",
        system.address("collection"),
        cwd=ROOT,
        env=system.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def report(
    collection: CollectionClient, channel: common_pb2.PaymentChannel.ValueType, day: dt.date, version: int = 0
) -> col.GetReconciliationReportResponse:
    return await collection.GetReconciliationReport(
        col.GetReconciliationReportRequest(channel=channel, settlement_date=date_to_proto(day), version=version)
    )


def findings(reply: col.GetReconciliationReportResponse) -> list[tuple[str, str, int, int]]:
    return sorted(
        (col.MismatchKind.Name(m.kind), m.channel_transaction_id, m.tax_amount_fen, m.channel_amount_fen)
        for m in reply.mismatches
    )


async def test_one_missing_one_extra_and_one_differing_amount_are_exactly_the_findings_and_a_reimport_changes_nothing(
    system: System, registration: RegistrationClient, collection: CollectionClient, tmp_path: Path
) -> None:
    day = D(2023, 11, 18)
    paid_at = dt.datetime(2023, 11, 18, 10, 0, tzinfo=CST)
    system.set_clock(paid_at)
    matched, _ = await paid_through(system, registration, collection, Channel.ATM, "对账甲", paid_at)
    differs, _ = await paid_through(system, registration, collection, Channel.ATM, "对账乙", paid_at)
    missing, _ = await paid_through(system, registration, collection, Channel.ATM, "对账丙", paid_at)
    system.set_clock(dt.datetime(2023, 11, 19, 9, 0, tzinfo=CST))
    extra = "TEXTRA0000000001"
    original = settlement_file(tmp_path / "atm-1118.csv", [(matched, "380.00"), (differs, "300.00"), (extra, "1.00")])

    code, out, err = await cli(
        system, "import", str(original), "--channel", "ATM", "--date", "2023-11-18", "--chunk-size", "2"
    )
    assert code == 0, err
    assert "chunk 2/2" in err and "report version 1 (new)" in err
    first = await report(collection, common_pb2.PAYMENT_CHANNEL_ATM, day)
    assert findings(first) == [
        ("MISMATCH_KIND_AMOUNT_DIFFERS", differs, 38000, 30000),
        ("MISMATCH_KIND_MISSING_IN_CHANNEL", missing, 38000, 0),
        ("MISMATCH_KIND_MISSING_IN_TAX", extra, 0, 100),
    ]
    assert (first.matched_count, first.matched_amount_fen, first.file_record_count) == (1, 38000, 3)
    assert (first.version, first.version_count) == (1, 1)
    assert "MISSING_IN_TAX" in out and extra in out

    code, _, err = await cli(system, "import", str(original), "--channel", "ATM", "--date", "2023-11-18")
    assert code == 0 and "report version 1 (unchanged)" in err
    assert await report(collection, common_pb2.PAYMENT_CHANNEL_ATM, day) == first

    corrected = settlement_file(
        tmp_path / "atm-1118-v2.csv", [(matched, "380.00"), (differs, "380.00"), (missing, "380.00")]
    )
    code, _, err = await cli(system, "import", str(corrected), "--channel", "ATM", "--date", "2023-11-18")
    assert code == 0 and "report version 2 (new)" in err
    second = await report(collection, common_pb2.PAYMENT_CHANNEL_ATM, day)
    assert (second.version, second.version_count, second.matched_count, list(second.mismatches)) == (2, 2, 3, [])
    kept = await report(collection, common_pb2.PAYMENT_CHANNEL_ATM, day, version=1)
    assert (kept.version, kept.version_count, findings(kept)) == (1, 2, findings(first)), "version 1 stays on record"


async def test_a_duplicate_line_and_a_notification_refused_for_its_amount_show_up(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    paid_at = dt.datetime(2023, 11, 17, 11, 0, tzinfo=CST)
    system.set_clock(paid_at)
    twice, _ = await paid_through(system, registration, collection, Channel.POS, "对账丁", paid_at)
    number, items = await registered_person(registration, collection, name="对账戊")
    order = await order_for(collection, number, items)
    short = "TSHORT0000000001"
    mismatch = await refused(
        collection.NotifyPayment(
            channels.notification(Channel.POS, channels.bank(order.order_id, 30000, paid_at, short))
        )
    )
    assert mismatch.reason == "AMOUNT_MISMATCH"
    system.set_clock(dt.datetime(2023, 11, 18, 9, 0, tzinfo=CST))

    def record(txn: str, fen: int, line: int) -> col.SettlementRecord:
        return col.SettlementRecord(channel_transaction_id=txn, amount_fen=fen, line_number=line)

    imported = await collection.ImportChannelSettlement(
        col.ImportChannelSettlementRequest(
            request_id=new_request_id(),
            channel=common_pb2.PAYMENT_CHANNEL_POS,
            settlement_date=date_to_proto(D(2023, 11, 17)),
            records=[record(twice, 38000, 1), record(twice, 38000, 2), record(short, 30000, 3)],
        )
    )
    assert (imported.complete, imported.report_version, imported.record_count) == (True, 1, 3)
    reply = await report(collection, common_pb2.PAYMENT_CHANNEL_POS, D(2023, 11, 17))
    assert [(col.MismatchKind.Name(m.kind), m.line_number, m.refused_notification) for m in reply.mismatches] == [
        ("MISMATCH_KIND_DUPLICATE_IN_FILE", 2, False),
        ("MISMATCH_KIND_AMOUNT_DIFFERS", 3, True),
    ]
    assert (reply.mismatches[1].tax_amount_fen, reply.mismatches[1].order_id) == (38000, order.order_id)
    assert reply.matched_count == 1


async def test_bad_settlement_input_is_refused_with_the_field_and_stores_nothing(
    system: System, collection: CollectionClient, tmp_path: Path
) -> None:
    day = date_to_proto(D(2023, 11, 16))
    too_many = await refused(
        collection.ImportChannelSettlement(
            col.ImportChannelSettlementRequest(
                request_id=new_request_id(),
                channel=common_pb2.PAYMENT_CHANNEL_BANK_APP,
                settlement_date=day,
                records=[col.SettlementRecord(channel_transaction_id=f"T{i}", amount_fen=1) for i in range(5001)],
            )
        )
    )
    assert too_many.fields == ["records"]
    zero = await refused(
        collection.ImportChannelSettlement(
            col.ImportChannelSettlementRequest(
                request_id=new_request_id(),
                channel=common_pb2.PAYMENT_CHANNEL_BANK_APP,
                settlement_date=day,
                records=[col.SettlementRecord(channel_transaction_id="T1", amount_fen=0)],
            )
        )
    )
    assert zero.fields == ["records[0].amount_fen"]
    none = await refused(report(collection, common_pb2.PAYMENT_CHANNEL_BANK_APP, D(2023, 11, 16)))
    assert none.reason == "REPORT_NOT_FOUND"

    bad = tmp_path / "bad.csv"
    bad.write_text("channel_transaction_id,amount,time\nT1,3.801,2023-11-16 10:00:00\n")
    code, _, err = await cli(system, "import", str(bad), "--channel", "BANK_APP", "--date", "2023-11-16")
    assert code == 1 and "line 2" in err and "Traceback" not in err
