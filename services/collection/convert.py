"""Domain → proto for the collection API."""

from __future__ import annotations

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection.domain.model import PayableItem
from services.common.proto_values import date_to_proto, range_to_proto


def item_to_proto(item: PayableItem) -> pb.PayableItem:
    return pb.PayableItem(
        payable_item_id=item.payable_item_id,
        insured_id_number=item.resident_id_number,
        insured_name=item.insured_name,
        region_code=item.region_code,
        insurance_year=item.insurance_year,
        fee_type=common_pb2.FeeType.Value(f"FEE_TYPE_{item.fee_type}"),
        standard_fen=item.standard_fen,
        subsidy_fen=item.subsidy_fen,
        amount_fen=item.amount_fen,
        status=pb.PayableItemStatus.Value(f"PAYABLE_ITEM_STATUS_{item.status}"),
        collection_window=range_to_proto(item.collection_window.start, item.collection_window.end),
        payable_until=date_to_proto(item.payable_until),
        coverage_period=range_to_proto(item.coverage.start, item.coverage.end),
        newborn_current_year=item.newborn_current_year,
        pending_order_id=item.pending_order_id or "",
    )
