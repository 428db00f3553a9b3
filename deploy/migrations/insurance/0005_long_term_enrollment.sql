-- Issue 18: the long-term enrollment mechanism (R36-R40, 国办发〔2024〕38号).

-- A region-year's waiting, repair and incentive terms (services/registration/domain/long_term_rules.py
-- reads and writes this object; a key left out reads as the national default for the year).
ALTER TABLE region_policies ADD COLUMN long_term jsonb NOT NULL DEFAULT '{}'::jsonb;

-- R37: the day up to which a payment needs no wait (the window, or the newborn's 90 days, or the
-- review grace: R7a, R13); NULL for a year sold on the rules before 2025, where payable_until is it.
-- payable_until is what tax accepts: to the end of off-window sale (R36).
ALTER TABLE enrollment_years ADD COLUMN wait_free_until date;
-- The grant's payment day and the day coverage starts after its wait (NULL: from coverage_start).
ALTER TABLE enrollment_years ADD COLUMN paid_on date;
ALTER TABLE enrollment_years ADD COLUMN covered_from date;
ALTER TABLE enrollment_years ADD COLUMN wait_months int NOT NULL DEFAULT 0 CHECK (wait_months >= 0);

-- R37: a reason the region lists for no wait (returning graduate, discharged soldier...), stated with
-- its evidence at registration.
ALTER TABLE enrollments ADD COLUMN wait_exemption_reason text;
ALTER TABLE enrollments ADD COLUMN wait_exemption_document text;

-- Each grant keeps its wait and why (fixed, variable, repaired months, exemption); a later change
-- (a repair, an earlier year granted afterwards) appends a row of kind RESTART with the new start.
ALTER TABLE coverage_grants ADD COLUMN wait jsonb;
ALTER TABLE coverage_grants DROP CONSTRAINT coverage_grants_kind_check;
ALTER TABLE coverage_grants ADD CONSTRAINT coverage_grants_kind_check
    CHECK (kind IN ('GRANT', 'WITHDRAWAL', 'RESTART'));

-- R39: a hospital's report that the fund paid for a person in a benefit year (RecordFundUse): that year
-- gives the next no zero-claim step. Keyed by the reporting hospital and its settlement, so a resent
-- report is one row.
CREATE TABLE fund_uses (
    reported_by        text        NOT NULL,
    settlement_id      text        NOT NULL,
    resident_id_number text        NOT NULL,
    insurance_year     int         NOT NULL CHECK (insurance_year BETWEEN 2000 AND 2100),
    fund_paid_fen      bigint      NOT NULL CHECK (fund_paid_fen > 0),
    recorded_at        timestamptz NOT NULL,
    PRIMARY KEY (reported_by, settlement_id)
);
CREATE INDEX fund_uses_person ON fund_uses (resident_id_number, insurance_year);

-- R38: a missed year repaired (缴费修复), by the payment of its repair item; a refund withdraws it.
CREATE TABLE repairs (
    resident_id_number text        NOT NULL,
    insurance_year     int         NOT NULL,
    payment_id         text        NOT NULL,
    enrollment_id      uuid        NOT NULL REFERENCES enrollments,
    withdrawn          boolean     NOT NULL DEFAULT false,
    recorded_at        timestamptz NOT NULL,
    PRIMARY KEY (resident_id_number, insurance_year, payment_id)
);

-- R45 (issue 19): the documents each category needs in the region (evidence_rules.py reads and writes
-- this object; NULL: the defaults), and the age from which a resident enrols as elderly.
ALTER TABLE region_policies ADD COLUMN evidence jsonb;
ALTER TABLE region_policies ADD COLUMN elderly_age int NOT NULL DEFAULT 60 CHECK (elderly_age BETWEEN 40 AND 100);

-- R49 (issue 19): channels that take a year's payments only from a later day, as {"WECHAT": "2026-11-01"}.
ALTER TABLE region_policies ADD COLUMN channel_openings jsonb;
