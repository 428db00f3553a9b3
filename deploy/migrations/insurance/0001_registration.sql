-- Insurance bureau (医保局): regions, policies, enrollments, external enrollments, batches.

CREATE TABLE regions (
    region_code text PRIMARY KEY CHECK (region_code ~ '^[0-9]{6}$'),
    name        text        NOT NULL CHECK (name <> ''),
    created_at  timestamptz NOT NULL
);

CREATE TABLE schools (
    school_code text PRIMARY KEY CHECK (school_code <> ''),
    name        text        NOT NULL CHECK (name <> ''),
    region_code text        NOT NULL REFERENCES regions,
    created_at  timestamptz NOT NULL
);
CREATE INDEX schools_region ON schools (region_code, school_code);

-- R2: one row per region x insurance (benefit) year x version; a change is a new version, so what
-- an assessment was made under can always be read back.
CREATE TABLE region_policies (
    region_code             text        NOT NULL REFERENCES regions,
    insurance_year          int         NOT NULL CHECK (insurance_year BETWEEN 2000 AND 2100),
    version                 int         NOT NULL CHECK (version > 0),
    individual_standard_fen bigint      NOT NULL CHECK (individual_standard_fen > 0),
    fiscal_subsidy_fen      bigint      NOT NULL CHECK (fiscal_subsidy_fen >= 0),
    newborn_standard_fen    bigint      NOT NULL CHECK (newborn_standard_fen > 0),
    window_start            date        NOT NULL,
    window_end              date        NOT NULL CHECK (window_end >= window_start),
    benefit_start           date        NOT NULL,
    benefit_end             date        NOT NULL CHECK (benefit_end >= benefit_start),
    review_mode             text        NOT NULL CHECK (review_mode IN ('AUTOMATIC', 'MANUAL')),
    demo_data               boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL,
    PRIMARY KEY (region_code, insurance_year, version)
);

CREATE TABLE region_policy_subsidies (
    region_code    text   NOT NULL,
    insurance_year int    NOT NULL,
    version        int    NOT NULL,
    category       text   NOT NULL,
    subsidy_fen    bigint NOT NULL CHECK (subsidy_fen >= 0),
    PRIMARY KEY (region_code, insurance_year, version, category),
    FOREIGN KEY (region_code, insurance_year, version) REFERENCES region_policies
);

CREATE TABLE enrollments (
    enrollment_id      uuid PRIMARY KEY,
    resident_id_number text        NOT NULL CHECK (resident_id_number ~ '^[0-9]{17}[0-9X]$'),
    name               text        NOT NULL,
    phone              text        NOT NULL,
    birth_date         date        NOT NULL,
    region_code        text        NOT NULL REFERENCES regions,
    school_code        text REFERENCES schools,
    category           text        NOT NULL,
    state              text        NOT NULL
        CHECK (state IN ('PENDING_REVIEW', 'REJECTED', 'ACTIVE', 'STOPPED', 'AGED_OUT')),
    -- Bumped by every change that emits an event; the tax side ignores events older than one applied.
    sequence           bigint      NOT NULL DEFAULT 1,
    rejection_reason   text,
    reviewed_by        text,
    reviewed_at        timestamptz,
    stop_reason        text,
    stop_note          text,
    stopped_at         timestamptz,
    stop_year          int,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
-- R8 as a constraint: one open (pending or active) enrollment per person across all regions, so
-- concurrent registrations of the same person cannot both succeed.
CREATE UNIQUE INDEX enrollments_one_open_per_person
    ON enrollments (resident_id_number) WHERE state IN ('PENDING_REVIEW', 'ACTIVE');
CREATE INDEX enrollments_person ON enrollments (resident_id_number, created_at);
CREATE INDEX enrollments_region_state ON enrollments (region_code, state, created_at, enrollment_id);
CREATE INDEX enrollments_aged_out ON enrollments (region_code, stop_year, enrollment_id) WHERE state = 'AGED_OUT';
CREATE INDEX enrollments_active_minors ON enrollments (birth_date)
    WHERE state = 'ACTIVE' AND category IN ('MINOR', 'NEWBORN');

CREATE TABLE enrollment_evidence (
    enrollment_id uuid NOT NULL REFERENCES enrollments,
    position      int  NOT NULL,
    kind          text NOT NULL,
    document_ref  text NOT NULL,
    PRIMARY KEY (enrollment_id, position)
);

-- One row per enrollment x insurance year it was carried into (registration, renewal).
CREATE TABLE enrollment_years (
    enrollment_id        uuid    NOT NULL REFERENCES enrollments,
    insurance_year       int     NOT NULL,
    status               text    NOT NULL CHECK (status IN ('AWAITING_PAYMENT', 'COVERED', 'CANCELLED')),
    coverage_start       date    NOT NULL,
    coverage_end         date    NOT NULL,
    payable_from         date    NOT NULL,
    payable_until        date    NOT NULL,
    window_start         date    NOT NULL,
    window_end           date    NOT NULL,
    newborn_current_year boolean NOT NULL DEFAULT false,
    policy_version       int     NOT NULL,
    standard_fen         bigint  NOT NULL CHECK (standard_fen > 0),
    subsidy_fen          bigint  NOT NULL CHECK (subsidy_fen BETWEEN 0 AND standard_fen),
    paid_by_payment_id   text,
    covered_at           timestamptz,
    PRIMARY KEY (enrollment_id, insurance_year)
);

CREATE TABLE external_enrollments (
    external_enrollment_id uuid PRIMARY KEY,
    resident_id_number     text        NOT NULL,
    name                   text        NOT NULL,
    region_code            text        NOT NULL,
    region_name            text        NOT NULL,
    scheme                 text        NOT NULL CHECK (scheme IN ('RESIDENT', 'EMPLOYEE')),
    reporting_agency       text        NOT NULL,
    active                 boolean     NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL,
    ended_at               timestamptz,
    end_reason             text
);
CREATE INDEX external_enrollments_person ON external_enrollments (resident_id_number) WHERE active;

-- R9: each row's result is kept, so a resubmitted batch returns it and creates nothing new.
CREATE TABLE registration_batches (
    batch_id       text PRIMARY KEY,
    submitter_code text        NOT NULL,
    created_at     timestamptz NOT NULL
);

CREATE TABLE registration_batch_rows (
    batch_id       text  NOT NULL REFERENCES registration_batches,
    row_number     int   NOT NULL,
    fingerprint    bytea NOT NULL,
    outcome        text  NOT NULL CHECK (outcome IN ('REGISTERED', 'PENDING_REVIEW', 'REFUSED')),
    enrollment_id  uuid,
    error_reason   text,
    error_field    text,
    error_message  text,
    error_metadata jsonb,
    PRIMARY KEY (batch_id, row_number)
);

-- R15/R16: the read model of the enrollment check, one document per person, rewritten in the same
-- transaction as any change to that person's enrollments. Readers never wait for writers (MVCC).
CREATE TABLE enrollment_check_index (
    resident_id_number text PRIMARY KEY,
    doc                jsonb       NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- Every check, for audit: who asked about whom and why.
CREATE TABLE enrollment_check_audit (
    id                  bigserial PRIMARY KEY,
    checked_at          timestamptz NOT NULL,
    caller_id           text        NOT NULL,
    purpose             text        NOT NULL,
    resident_id_numbers text[]      NOT NULL,
    correlation_id      text        NOT NULL
);
CREATE INDEX enrollment_check_audit_time ON enrollment_check_audit (checked_at);
