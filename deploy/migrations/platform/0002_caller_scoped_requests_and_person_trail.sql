-- R35: request ids are scoped to the caller, and a trail of who did what to whose record.
-- Platform tables: each agency's database holds its own keys and its own trail.

-- A request id is one caller's: two callers' ids never collide. Keys written before this migration
-- belong to no caller ('') and age out with the retention of housekeeping.
ALTER TABLE idempotency_keys ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (caller, method, request_id);

-- Every mutating call that names a person (an ID number in its request or response) leaves a row per
-- person, written in the call's own transaction (services/common/person_trail.py): who (the caller's
-- identity), what (the RPC and its request id), when, and the correlation id to find its log lines.
-- Kept, not purged: it is the record officers answer to.
CREATE TABLE person_trail (
    id                 bigserial   PRIMARY KEY,
    resident_id_number text        NOT NULL,
    caller             text        NOT NULL,
    method             text        NOT NULL,
    request_id         text        NOT NULL,
    correlation_id     text        NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_trail_person ON person_trail (resident_id_number, id);
