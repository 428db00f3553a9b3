-- Issue 23 item 2 (R21b, R21): each fact written once. The notification that wrote a payment (applied, or
-- its refund raised) was stored twice: as the payment and as a row of channel_notifications repeating its
-- channel, transaction, order, amount, time, outcome and payment id, with three index entries of its own.
-- It is now kept in its payment's row alone, beside what only the record had: its number (the order among
-- all notifications), size and masked sample, and its hash where that is not the payment's. The records of
-- every other notification (refused, replayed, malformed) keep their table, renamed notification_records.
-- channel_notifications becomes a view of both, so a reader sees every notification as before.
ALTER TABLE channel_notifications RENAME TO notification_records;
ALTER SEQUENCE channel_notifications_notification_id_seq RENAME TO notification_id_seq;
ALTER INDEX channel_notifications_pkey RENAME TO notification_records_pkey;
ALTER INDEX channel_notifications_transaction RENAME TO notification_records_transaction;
ALTER INDEX channel_notifications_received RENAME TO notification_records_received;

ALTER TABLE payments
    ADD COLUMN notification_id     bigint,
    ADD COLUMN notification_size   integer,
    ADD COLUMN notification_sample text,
    -- NULL where the notification's hash is the payment's payload_sha256 (always, for today's channels).
    ADD COLUMN notification_sha256 bytea,
    ADD CONSTRAINT payments_notification_numbered CHECK (
        notification_id IS NOT NULL
        OR (notification_size IS NULL AND notification_sample IS NULL AND notification_sha256 IS NULL));

-- The records already written move into their payments: the first record of a payment's own outcome.
WITH first AS (
    SELECT DISTINCT ON (n.payment_id) n.payment_id, n.notification_id, n.payload_size, n.payload_sample,
           n.payload_sha256
    FROM notification_records n JOIN payments p ON p.payment_id = n.payment_id AND p.outcome = n.outcome
    ORDER BY n.payment_id, n.notification_id)
UPDATE payments p
SET notification_id = f.notification_id, notification_size = f.payload_size, notification_sample = f.payload_sample,
    notification_sha256 = NULLIF(f.payload_sha256, p.payload_sha256)
FROM first f WHERE p.payment_id = f.payment_id;
DELETE FROM notification_records n USING payments p WHERE n.notification_id = p.notification_id;

CREATE VIEW channel_notifications AS
SELECT notification_id, channel, channel_transaction_id, order_id, amount_fen, paid_at, payload_sha256, outcome,
       payment_id, detail, received_at, payload_size, payload_sample
FROM notification_records
UNION ALL
SELECT notification_id, channel, channel_transaction_id, order_id::text, amount_fen, paid_at,
       COALESCE(notification_sha256, payload_sha256), outcome, payment_id, NULL::text, created_at,
       notification_size, notification_sample
FROM payments WHERE notification_id IS NOT NULL;
