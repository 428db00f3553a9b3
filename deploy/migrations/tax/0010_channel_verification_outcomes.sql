-- R42 (issue 21): a notification a channel's own verification does not believe is recorded with why
-- (R21b): a stale WeChat Pay timestamp, a replayed nonce, an app or merchant id not ours, a signing
-- certificate that does not chain to the channel's roots.
ALTER TABLE channel_notifications DROP CONSTRAINT channel_notifications_outcome_check;
ALTER TABLE channel_notifications ADD CONSTRAINT channel_notifications_outcome_check
    CHECK (outcome IN ('APPLIED', 'DUPLICATE_REPLAYED', 'CONFLICT', 'AMOUNT_MISMATCH', 'UNKNOWN_ORDER',
                       'REFUND_RAISED', 'SIGNATURE_INVALID', 'MALFORMED', 'PAYMENT_TIME_IN_FUTURE',
                       'FAMILY_BALANCE_SHORT', 'REFUSED', 'TIMESTAMP_STALE', 'NONCE_REPLAYED',
                       'APP_ID_MISMATCH', 'MERCHANT_ID_MISMATCH', 'CERTIFICATE_UNTRUSTED'));
