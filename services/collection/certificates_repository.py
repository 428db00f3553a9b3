"""SQL for payment certificates (R48): payment_certificates and payment_certificate_lines
(deploy/migrations/tax/0007_payment_certificates.sql), and the paid items a certificate is made from."""

from __future__ import annotations

from collections.abc import Sequence

from services.collection.domain.certificates import CertifiedFee, PaymentCertificate
from services.collection.domain.model import FeeType, ItemStatus
from services.common.db import Connection
from services.common.money import Fen

# A person's items paid (by a payment still applied: a refund frees the item) or settled by the subsidy.
_PAID_ITEMS = """SELECT i.insurance_year, i.fee_type, COALESCE(pi.amount_fen, i.amount_fen) AS amount_fen,
       r.receipt_number, p.paid_at
FROM payable_items i
JOIN payments p ON p.payment_id = i.paid_by_payment_id
LEFT JOIN payment_items pi ON pi.payment_id = p.payment_id AND pi.payable_item_id = i.payable_item_id
LEFT JOIN receipts r ON r.payment_id = p.payment_id AND r.reversed_at IS NULL
WHERE i.resident_id_number = $1 AND i.insurance_year = ANY($2::int[])
  AND i.status IN ($3, $4) AND p.reversed_at IS NULL
  AND (i.status = $4 OR r.receipt_number IS NOT NULL)
ORDER BY i.insurance_year, i.fee_type"""


class CertificatesRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def paid_fees(self, resident: str, years: Sequence[int]) -> list[CertifiedFee]:
        rows = await self._conn.fetch(
            _PAID_ITEMS, resident, list(years), ItemStatus.PAID.value, ItemStatus.SETTLED_BY_SUBSIDY.value
        )
        return [
            CertifiedFee(
                insurance_year=r["insurance_year"],
                fee_type=FeeType(r["fee_type"]),
                amount_fen=Fen(r["amount_fen"]),
                receipt_number=r["receipt_number"],
                paid_at=r["paid_at"],
            )
            for r in rows
        ]

    async def save(self, certificate: PaymentCertificate) -> None:
        await self._conn.execute(
            """INSERT INTO payment_certificates (certificate_number, resident_id_number, resident_name,
                                                 requested_years, issued_at, issued_by)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            certificate.certificate_number,
            certificate.resident_id_number,
            certificate.resident_name,
            list(certificate.requested_years),
            certificate.issued_at,
            certificate.issued_by,
        )
        await self._conn.executemany(
            """INSERT INTO payment_certificate_lines (certificate_number, insurance_year, fee_type, amount_fen,
                                                      receipt_number, paid_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (
                    certificate.certificate_number,
                    f.insurance_year,
                    f.fee_type.value,
                    f.amount_fen,
                    f.receipt_number,
                    f.paid_at,
                )
                for f in certificate.fees
            ],
        )

    async def load(self, number: str) -> PaymentCertificate | None:
        """The certificate as issued; each fee marks whether its receipt has been reversed since."""
        head = await self._conn.fetchrow(
            """SELECT certificate_number, resident_id_number, resident_name, requested_years, issued_at, issued_by
               FROM payment_certificates WHERE certificate_number = $1""",
            number,
        )
        if head is None:
            return None
        lines = await self._conn.fetch(
            """SELECT l.insurance_year, l.fee_type, l.amount_fen, l.receipt_number, l.paid_at,
                      r.reversed_at IS NOT NULL AS reversed
               FROM payment_certificate_lines l LEFT JOIN receipts r ON r.receipt_number = l.receipt_number
               WHERE l.certificate_number = $1 ORDER BY l.insurance_year, l.fee_type""",
            number,
        )
        return PaymentCertificate(
            certificate_number=head["certificate_number"],
            resident_id_number=head["resident_id_number"],
            resident_name=head["resident_name"],
            requested_years=tuple(head["requested_years"]),
            fees=tuple(
                CertifiedFee(
                    insurance_year=r["insurance_year"],
                    fee_type=FeeType(r["fee_type"]),
                    amount_fen=Fen(r["amount_fen"]),
                    receipt_number=r["receipt_number"],
                    paid_at=r["paid_at"],
                    reversed_since_issue=bool(r["reversed"]),
                )
                for r in lines
            ),
            issued_at=head["issued_at"],
            issued_by=head["issued_by"],
        )
