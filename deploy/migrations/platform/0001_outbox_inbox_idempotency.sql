-- Platform tables present in every agency database (R21, R31, R32).

-- Transactional outbox: an event row commits with the state change that caused it; the relay
-- publishes unpublished rows and marks them.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    event_type     text        NOT NULL,
    envelope       bytea       NOT NULL,
    correlation_id text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wakes the relay when an outbox row commits (notifications are delivered only on commit).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent inbox: a consumer records each event id in the same transaction as its effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Client request ids of mutating gRPC calls (AIP-155): the response is stored with the effect.
CREATE TABLE idempotency_keys (
    method      text        NOT NULL,
    request_id  text        NOT NULL,
    fingerprint bytea       NOT NULL,
    response    bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, request_id)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
