-- Tax bureau: entrusted deduction agreements and runs (R27), unpaid reminders (R29),
-- settlement files and reconciliation reports (R30).

-- R27: 个人委托扣款协议. The card number is stored only encrypted (AES-GCM, the key named by
-- card_key_id so keys can rotate) and as its last four digits; never in clear.
CREATE TABLE deduction_agreements (
    agreement_id          uuid PRIMARY KEY,
    payer_id_number       text        NOT NULL,
    insured_id_type       text        NOT NULL CHECK (insured_id_type IN ('RESIDENT_ID_CARD')),
    insured_id_number     text        NOT NULL,
    insured_name          text        NOT NULL,
    bank_name             text        NOT NULL,
    card_key_id           text        NOT NULL,
    card_ciphertext       bytea       NOT NULL,
    card_last_four        text        NOT NULL CHECK (card_last_four ~ '^[0-9]{4}$'),
    card_holder_name      text        NOT NULL,
    card_phone            text        NOT NULL,
    relationship          text        NOT NULL
        CHECK (relationship IN ('SELF', 'PARENT', 'SPOUSE', 'CHILD', 'OTHER_RELATIVE')),
    status                text        NOT NULL
        CHECK (status IN ('PENDING_VERIFICATION', 'ACTIVE', 'SUSPENDED', 'LOCKED', 'REVOKED')),
    -- Only a digest of the verification code is kept.
    code_digest           bytea       NOT NULL,
    code_expires_at       timestamptz NOT NULL,
    wrong_code_attempts   int         NOT NULL DEFAULT 0 CHECK (wrong_code_attempts >= 0),
    failed_deduction_runs int         NOT NULL DEFAULT 0 CHECK (failed_deduction_runs >= 0),
    created_at            timestamptz NOT NULL,
    activated_at          timestamptz,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX deduction_agreements_payer ON deduction_agreements (payer_id_number, created_at DESC);
-- One active agreement per insured person: two would race to deduct the same items.
CREATE UNIQUE INDEX deduction_agreements_one_active ON deduction_agreements (insured_id_number)
    WHERE status = 'ACTIVE';

CREATE TABLE deduction_runs (
    run_id      uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    attempted   int NOT NULL DEFAULT 0,
    succeeded   int NOT NULL DEFAULT 0,
    failed      int NOT NULL DEFAULT 0,
    unknown     int NOT NULL DEFAULT 0
);

-- One row per deduction sent to the bank, keyed by the attempt id the bank deduplicates on. It is
-- committed before the bank is called, so an attempt whose answer was lost (timeout, crash) is asked
-- about again by its id and never sent as a new deduction.
CREATE TABLE deduction_attempts (
    attempt_id          uuid PRIMARY KEY,
    agreement_id        uuid        NOT NULL REFERENCES deduction_agreements,
    run_id              uuid        NOT NULL REFERENCES deduction_runs,
    order_id            uuid        NOT NULL REFERENCES orders,
    amount_fen          bigint      NOT NULL CHECK (amount_fen > 0),
    status              text        NOT NULL CHECK (status IN ('SENT', 'UNKNOWN', 'SUCCEEDED', 'FAILED')),
    bank_transaction_id text,
    failure_reason      text,
    payment_id          uuid REFERENCES payments,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX deduction_attempts_open ON deduction_attempts (created_at) WHERE status IN ('SENT', 'UNKNOWN');
-- An agreement has at most one deduction whose outcome is not known yet.
CREATE UNIQUE INDEX deduction_attempts_one_open_per_agreement ON deduction_attempts (agreement_id)
    WHERE status IN ('SENT', 'UNKNOWN');

-- R29: a reminder round per region, insurance year and days-before-close; one reminder per person
-- per round (the primary key), sent with its own id as the notifier's message id.
CREATE TABLE reminder_rounds (
    round_id       uuid PRIMARY KEY,
    region_code    text        NOT NULL,
    insurance_year int         NOT NULL,
    window_end     date        NOT NULL,
    days_before    int         NOT NULL,
    created_at     timestamptz NOT NULL,
    UNIQUE (region_code, insurance_year, window_end, days_before)
);

CREATE TABLE reminders (
    reminder_id        uuid PRIMARY KEY,
    round_id           uuid        NOT NULL REFERENCES reminder_rounds,
    resident_id_number text        NOT NULL,
    unpaid_fen         bigint      NOT NULL,
    -- SKIPPED: paid between the round's start and its turn; nothing to remind of.
    status             text        NOT NULL CHECK (status IN ('PENDING', 'SENT', 'SKIPPED')),
    sent_at            timestamptz,
    UNIQUE (round_id, resident_id_number)
);
CREATE INDEX reminders_pending ON reminders (round_id) WHERE status = 'PENDING';

-- R30: a settlement file arrives in chunks; its lines wait here until the last chunk is in.
CREATE TABLE settlement_uploads (
    channel         text NOT NULL,
    settlement_date date NOT NULL,
    upload_id       text NOT NULL,
    chunk_count     int  NOT NULL CHECK (chunk_count > 0),
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (channel, settlement_date, upload_id)
);

CREATE TABLE settlement_upload_chunks (
    channel         text NOT NULL,
    settlement_date date NOT NULL,
    upload_id       text NOT NULL,
    chunk_index     int  NOT NULL,
    record_count    int  NOT NULL,
    PRIMARY KEY (channel, settlement_date, upload_id, chunk_index),
    FOREIGN KEY (channel, settlement_date, upload_id) REFERENCES settlement_uploads ON DELETE CASCADE
);

CREATE TABLE settlement_upload_lines (
    channel                text        NOT NULL,
    settlement_date        date        NOT NULL,
    upload_id              text        NOT NULL,
    line_number            int         NOT NULL,
    channel_transaction_id text        NOT NULL,
    order_id               text        NOT NULL,
    amount_fen             bigint      NOT NULL,
    settled_at             timestamptz,
    PRIMARY KEY (channel, settlement_date, upload_id, line_number),
    FOREIGN KEY (channel, settlement_date, upload_id) REFERENCES settlement_uploads ON DELETE CASCADE
);

-- A report version per distinct file content for a channel and day; a re-import of the same file
-- makes none, a corrected one the next.
CREATE TABLE reconciliation_reports (
    channel            text        NOT NULL,
    settlement_date    date        NOT NULL,
    version            int         NOT NULL CHECK (version > 0),
    file_sha256        bytea       NOT NULL,
    file_record_count  int         NOT NULL,
    matched_count      int         NOT NULL,
    matched_amount_fen bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (channel, settlement_date, version)
);

-- One outcome per file line, plus our payments the file lacks.
CREATE TABLE reconciliation_lines (
    channel                text    NOT NULL,
    settlement_date        date    NOT NULL,
    version                int     NOT NULL,
    position               int     NOT NULL,
    outcome                text    NOT NULL CHECK (outcome IN (
        'MATCHED', 'MISSING_IN_CHANNEL', 'MISSING_IN_TAX', 'AMOUNT_DIFFERS', 'DUPLICATE_IN_FILE')),
    line_number            int,
    channel_transaction_id text    NOT NULL,
    order_id               text,
    payment_id             uuid,
    tax_amount_fen         bigint,
    channel_amount_fen     bigint,
    refused_notification   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (channel, settlement_date, version, position),
    FOREIGN KEY (channel, settlement_date, version) REFERENCES reconciliation_reports
);
