-- Issue 24: the trace context (W3C traceparent) of the transaction that wrote an outbox row, so the
-- relay publishes the event as part of that trace. The default reads the transaction-local setting the
-- unit of work makes when tracing is on (services/common/db.py); unset, or tracing off, it is NULL, and
-- no INSERT INTO outbox has to name the column. A stable default: existing rows are not rewritten.
ALTER TABLE outbox
    ADD COLUMN trace_context text DEFAULT NULLIF(current_setting('medins.trace_context', true), '');
