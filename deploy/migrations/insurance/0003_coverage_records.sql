-- Issue 10: coverage as records (R14, R14a). Each grant and each withdrawal of coverage is an
-- append-only row keyed by the payment, so a double grant is impossible (the key) and visible (the
-- refused insert is logged); each refusal to grant is kept with its reason and answered by an event.
CREATE TABLE coverage_grants (
    payment_id     text        NOT NULL,
    enrollment_id  uuid        NOT NULL REFERENCES enrollments,
    insurance_year int         NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('GRANT', 'WITHDRAWAL')),
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (payment_id, enrollment_id, insurance_year, kind)
);
CREATE INDEX coverage_grants_year ON coverage_grants (enrollment_id, insurance_year);

CREATE TABLE coverage_refusals (
    payment_id     text        NOT NULL,
    enrollment_id  uuid        NOT NULL,
    insurance_year int         NOT NULL,
    reason         text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (payment_id, enrollment_id, insurance_year)
);
