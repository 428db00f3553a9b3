-- Issue 10: no money kept without coverage, no year left unassessed (R14a, R17a, R20a, R23).

-- R14a: why an item ended as it did when its payment was returned (e.g. coverage refused by insurance).
ALTER TABLE payable_items ADD COLUMN note text;

-- R14a: insurance refused coverage for the payment, so tax returns it.
ALTER TABLE refunds DROP CONSTRAINT refunds_reason_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_reason_check
    CHECK (reason IN ('DOUBLE_PAYMENT', 'OUTSIDE_WINDOW', 'ITEMS_CANCELLED', 'REQUESTED', 'COVERAGE_REFUSED'));

-- The refund gateway is called outside any transaction: SUBMITTING records the intent (with a lease in
-- next_attempt_at) before the call, SUBMITTED or FAILED the result after it. A refund left SUBMITTING by
-- a crash is due again when its lease runs out; the channel deduplicates by refund id.
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check
    CHECK (status IN ('PENDING', 'SUBMITTING', 'SUBMITTED', 'SUCCEEDED', 'FAILED', 'MANUAL_HANDLING'));
DROP INDEX refunds_due;
CREATE INDEX refunds_due ON refunds (next_attempt_at) WHERE status IN ('PENDING', 'SUBMITTING', 'FAILED');
-- Which compensation a refused grant raised: one refund per payment, whatever the number of events.
ALTER TABLE refunds ADD COLUMN detail text;

-- R20a: the family mutual-aid account's ledger. Every debit (a payment) and credit (its refund) is a
-- row; the balance is the running sum. A payment is debited once and a refund credited once.
CREATE TABLE family_account_entries (
    entry_id          bigserial PRIMARY KEY,
    holder_id_number  text        NOT NULL REFERENCES family_accounts,
    kind              text        NOT NULL CHECK (kind IN ('SET', 'DEBIT', 'CREDIT')),
    amount_fen        bigint      NOT NULL CHECK (amount_fen >= 0),
    balance_after_fen bigint      NOT NULL CHECK (balance_after_fen >= 0),
    payment_id        uuid,
    refund_id         uuid,
    recorded_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX family_account_entries_one_debit ON family_account_entries (payment_id) WHERE kind = 'DEBIT';
CREATE UNIQUE INDEX family_account_entries_one_credit ON family_account_entries (refund_id) WHERE kind = 'CREDIT';
CREATE INDEX family_account_entries_holder ON family_account_entries (holder_id_number, entry_id);
