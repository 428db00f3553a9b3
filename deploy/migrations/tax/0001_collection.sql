-- Tax bureau (税务局): payable items, orders, payments, receipts, refunds, channel notifications.

-- Whom items are assessed for, as reported by insurance (R18 checks ID and name against this).
CREATE TABLE insured_persons (
    resident_id_number text PRIMARY KEY,
    name               text        NOT NULL,
    birth_date         date        NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- The tax side's view of each insurance enrollment, to apply its events in order.
-- A stop may arrive before the registration it stops (events are not ordered), hence no person FK.
CREATE TABLE enrollment_refs (
    enrollment_id      uuid PRIMARY KEY,
    resident_id_number text        NOT NULL,
    region_code        text        NOT NULL,
    category           text        NOT NULL,
    state              text        NOT NULL CHECK (state IN ('ACTIVE', 'STOPPED')),
    last_sequence      bigint      NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- R17: one payable item per person x insurance year x fee type.
CREATE TABLE payable_items (
    payable_item_id      uuid PRIMARY KEY,
    enrollment_id        uuid        NOT NULL REFERENCES enrollment_refs,
    resident_id_number   text        NOT NULL REFERENCES insured_persons,
    region_code          text        NOT NULL,
    category             text        NOT NULL,
    insurance_year       int         NOT NULL,
    fee_type             text        NOT NULL,
    standard_fen         bigint      NOT NULL CHECK (standard_fen > 0),
    subsidy_fen          bigint      NOT NULL CHECK (subsidy_fen >= 0 AND subsidy_fen <= standard_fen),
    amount_fen           bigint      NOT NULL CHECK (amount_fen = standard_fen - subsidy_fen),
    status               text        NOT NULL CHECK (status IN ('UNPAID', 'PAID', 'SETTLED_BY_SUBSIDY', 'CANCELLED')),
    policy_version       int         NOT NULL,
    window_start         date        NOT NULL,
    window_end           date        NOT NULL,
    payable_until        date        NOT NULL,
    coverage_start       date        NOT NULL,
    coverage_end         date        NOT NULL,
    newborn_current_year boolean     NOT NULL,
    paid_by_payment_id   uuid,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    UNIQUE (enrollment_id, insurance_year, fee_type),
    CHECK ((status IN ('PAID', 'SETTLED_BY_SUBSIDY')) = (paid_by_payment_id IS NOT NULL))
);
-- Nobody owes (or pays) the same year and fee type twice, even across regions.
CREATE UNIQUE INDEX payable_items_one_live_per_person
    ON payable_items (resident_id_number, insurance_year, fee_type) WHERE status <> 'CANCELLED';
CREATE INDEX payable_items_region_year ON payable_items (region_code, insurance_year, status);

CREATE TABLE orders (
    order_id         uuid PRIMARY KEY,
    payer_id_number  text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('PERSONAL', 'SCHOOL_COLLECTIVE', 'AGREEMENT_DEDUCTION')),
    status           text        NOT NULL CHECK (status IN ('PENDING', 'PAID', 'EXPIRED')),
    total_fen        bigint      NOT NULL CHECK (total_fen > 0),
    school_code      text,
    reinitiated_from uuid REFERENCES orders,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    paid_at          timestamptz,
    payment_id       uuid,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX orders_payer ON orders (payer_id_number, created_at DESC, order_id DESC);
CREATE INDEX orders_pending_expiry ON orders (expires_at) WHERE status = 'PENDING';

CREATE TABLE order_lines (
    order_id        uuid    NOT NULL REFERENCES orders,
    payable_item_id uuid    NOT NULL REFERENCES payable_items,
    amount_fen      bigint  NOT NULL CHECK (amount_fen > 0),
    -- True while the order is pending: an item is held by at most one pending order (R19).
    holds_item      boolean NOT NULL,
    PRIMARY KEY (order_id, payable_item_id)
);
CREATE UNIQUE INDEX order_lines_one_hold_per_item ON order_lines (payable_item_id) WHERE holds_item;
CREATE INDEX order_lines_item ON order_lines (payable_item_id);

-- Money received (or a subsidy settlement). R21: one row per channel transaction, ever.
CREATE TABLE payments (
    payment_id             uuid PRIMARY KEY,
    order_id               uuid REFERENCES orders,
    payer_id_number        text,
    channel                text        NOT NULL,
    channel_transaction_id text        NOT NULL,
    amount_fen             bigint      NOT NULL CHECK (amount_fen >= 0),
    paid_at                timestamptz NOT NULL,
    -- APPLIED: paid its items. REFUND_RAISED: recorded, paid nothing, refunded (R23). SUBSIDY: settled by subsidy.
    outcome                text        NOT NULL CHECK (outcome IN ('APPLIED', 'REFUND_RAISED', 'SUBSIDY')),
    payload_sha256         bytea,
    reversed_at            timestamptz,
    created_at             timestamptz NOT NULL,
    UNIQUE (channel, channel_transaction_id),
    CHECK (outcome = 'SUBSIDY' OR amount_fen > 0)
);
CREATE INDEX payments_payer ON payments (payer_id_number, paid_at);
CREATE INDEX payments_channel_day ON payments (channel, paid_at);

-- Which items an applied payment paid, and for how much.
CREATE TABLE payment_items (
    payment_id      uuid   NOT NULL REFERENCES payments,
    payable_item_id uuid   NOT NULL REFERENCES payable_items,
    amount_fen      bigint NOT NULL CHECK (amount_fen >= 0),
    PRIMARY KEY (payment_id, payable_item_id)
);
CREATE INDEX payment_items_item ON payment_items (payable_item_id);

CREATE SEQUENCE receipt_number_seq;

-- R24: one receipt per applied payment, printable only once the payment is complete.
CREATE TABLE receipts (
    receipt_number text PRIMARY KEY,
    payment_id     uuid        NOT NULL UNIQUE REFERENCES payments,
    issued_at      timestamptz NOT NULL,
    reversed_at    timestamptz
);

-- R23 and refunds on request: pending → submitted → succeeded / failed → manual handling.
CREATE TABLE refunds (
    refund_id         uuid PRIMARY KEY,
    payment_id        uuid        NOT NULL REFERENCES payments,
    channel           text        NOT NULL,
    amount_fen        bigint      NOT NULL CHECK (amount_fen > 0),
    reason            text        NOT NULL
        CHECK (reason IN ('DOUBLE_PAYMENT', 'OUTSIDE_WINDOW', 'ITEMS_CANCELLED', 'REQUESTED')),
    status            text        NOT NULL
        CHECK (status IN ('PENDING', 'SUBMITTED', 'SUCCEEDED', 'FAILED', 'MANUAL_HANDLING')),
    channel_refund_id text,
    failure_reason    text,
    attempts          int         NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    requested_by      text,
    note              text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- A payment is refunded at most once (a refund still open or succeeded blocks another).
CREATE UNIQUE INDEX refunds_one_live_per_payment ON refunds (payment_id) WHERE status <> 'FAILED';
CREATE INDEX refunds_due ON refunds (next_attempt_at) WHERE status IN ('PENDING', 'FAILED');
CREATE INDEX refunds_status ON refunds (status, created_at, refund_id);

-- Everything a channel sends is kept, whatever became of it (R20-R22, R30).
CREATE TABLE channel_notifications (
    notification_id        bigserial PRIMARY KEY,
    channel                text        NOT NULL,
    channel_transaction_id text,
    order_id               text,
    amount_fen             bigint,
    paid_at                timestamptz,
    payload_sha256         bytea       NOT NULL,
    outcome                text        NOT NULL CHECK (outcome IN (
        'APPLIED', 'DUPLICATE_REPLAYED', 'CONFLICT', 'AMOUNT_MISMATCH', 'UNKNOWN_ORDER', 'REFUND_RAISED',
        'SIGNATURE_INVALID', 'MALFORMED', 'PAYMENT_TIME_IN_FUTURE', 'FAMILY_BALANCE_SHORT', 'REFUSED')),
    payment_id             uuid,
    detail                 text,
    received_at            timestamptz NOT NULL
);
CREATE INDEX channel_notifications_transaction ON channel_notifications (channel, channel_transaction_id);
CREATE INDEX channel_notifications_received ON channel_notifications (received_at);

-- R26: minors a payer may query, at most four, each under 16 when linked.
CREATE TABLE payers (
    payer_id_number text PRIMARY KEY,
    created_at      timestamptz NOT NULL
);

CREATE TABLE minor_links (
    payer_id_number text        NOT NULL REFERENCES payers,
    minor_id_number text        NOT NULL,
    minor_name      text        NOT NULL,
    linked_at       timestamptz NOT NULL,
    PRIMARY KEY (payer_id_number, minor_id_number)
);

-- 家庭共济账户 balances as reported by the insurance bureau's account system (stand-in gateway).
CREATE TABLE family_accounts (
    holder_id_number text PRIMARY KEY,
    balance_fen      bigint      NOT NULL CHECK (balance_fen >= 0),
    updated_at       timestamptz NOT NULL
);
