-- R49 (issue 19): channels that take a year's payments only from a later day (Changzhou: the other
-- channels from 1 November), as the insurance side's policy says: {"WECHAT": "2026-11-01"}. A payment
-- through a channel before its day is refunded (R23).
ALTER TABLE payable_items ADD COLUMN channel_opens jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE refunds DROP CONSTRAINT refunds_reason_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_reason_check
    CHECK (reason IN ('DOUBLE_PAYMENT', 'OUTSIDE_WINDOW', 'ITEMS_CANCELLED', 'REQUESTED', 'COVERAGE_REFUSED',
                      'CHANNEL_NOT_OPEN'));
