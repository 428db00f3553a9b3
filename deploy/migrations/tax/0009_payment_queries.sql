-- R43: no payment is lost with its notification. The payment query worker asks each channel about
-- orders that may have been paid without a notification (pending near expiry, expired in the last
-- hours, callbacks refused) and closes expired ones at the channel.
-- One row per order and channel: when to ask next, and whether it is settled there (paid and taken
-- in, or closed): a settled order is not asked again.
CREATE TABLE order_channel_checks (
    order_id    uuid        NOT NULL REFERENCES orders,
    channel     text        NOT NULL,
    asks        integer     NOT NULL,
    next_ask_at timestamptz NOT NULL,
    settled     boolean     NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, channel)
);
CREATE INDEX order_channel_checks_unsettled ON order_channel_checks (order_id) WHERE NOT settled;

-- Every answer a channel gave about an order, recorded with its source (QUERY: the order query;
-- CLOSE: the close) and what became of it: like a notification's record (R21b), the money a query
-- found is traceable to the answer that reported it. Kept as long as the notifications (>= 48 h).
CREATE TABLE channel_order_answers (
    answer_id              bigserial   PRIMARY KEY,
    order_id               uuid        NOT NULL,
    channel                text        NOT NULL,
    source                 text        NOT NULL CHECK (source IN ('QUERY', 'CLOSE')),
    state                  text        NOT NULL,
    detail                 text,
    channel_transaction_id text,
    amount_fen             bigint,
    paid_at                timestamptz,
    payload_sha256         bytea,
    outcome                text,
    payment_id             uuid,
    asked_at               timestamptz NOT NULL
);
CREATE INDEX channel_order_answers_order ON channel_order_answers (order_id, asked_at);
