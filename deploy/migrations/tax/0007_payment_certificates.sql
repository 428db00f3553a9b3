-- R48: payment certificates (缴费证明), kept as issued so that verifying one answers what it certified.
-- The number is unguessable (a random token): it is what lets anyone holding it see the certificate.
CREATE TABLE payment_certificates (
    certificate_number text PRIMARY KEY,
    resident_id_number text        NOT NULL,
    resident_name      text        NOT NULL,
    requested_years    int[]       NOT NULL,
    issued_at          timestamptz NOT NULL,
    issued_by          text        NOT NULL
);
CREATE INDEX payment_certificates_resident ON payment_certificates (resident_id_number, issued_at);

-- Each paid item certified: the year, the fee type, the amount and the receipt (none when the subsidy
-- settled it in full, R17).
CREATE TABLE payment_certificate_lines (
    certificate_number text        NOT NULL REFERENCES payment_certificates,
    insurance_year     int         NOT NULL,
    fee_type           text        NOT NULL,
    amount_fen         bigint      NOT NULL CHECK (amount_fen >= 0),
    receipt_number     text,
    paid_at            timestamptz NOT NULL,
    PRIMARY KEY (certificate_number, insurance_year, fee_type)
);
