-- Metmos Engine: cross-cutting platform tables (notifications, outbox, idempotency,
-- node leases, chain event dedupe).

-- ---------------------------------------------------------------------------
-- notification: stored notifications (GET /notifications)
-- ---------------------------------------------------------------------------
CREATE TABLE notification (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                  UUID NOT NULL UNIQUE,
    -- the recipient; their notifications go with them
    person_id             BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    notification_type     TEXT NOT NULL
                          CONSTRAINT notification_type_check
                          CHECK (notification_type IN ('NEW_CHAT_MESSAGE', 'OFFER_RECEIVED', 'OFFER_ACCEPTED',
                                                       'PAYMENT_CONFIRMED', 'LISTING_COMPLETED', 'ORDER_CANCELLED',
                                                       'CONNECTION_REQUEST', 'CONNECTION_ACCEPTED')),
    notification_category TEXT NOT NULL
                          CONSTRAINT notification_category_check
                          CHECK (notification_category IN ('TRADE', 'SOCIAL')),
    title                 TEXT NOT NULL,
    body                  TEXT NOT NULL,
    data                  JSONB NOT NULL DEFAULT '{}'
                          CONSTRAINT notification_data_object CHECK (jsonb_typeof(data) = 'object'),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX notification_person_updated_idx ON notification (person_id, updated_at);
-- newest-first paging by id cursor, optionally by category
CREATE INDEX notification_person_category_idx ON notification (person_id, notification_category, id);

-- ---------------------------------------------------------------------------
-- outbox: domain events written in the same transaction as the change, published by
-- the relay once the broker confirms.
-- ---------------------------------------------------------------------------
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     UUID NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    -- the whole envelope: {"eventId", "type", "occurredAt", "data"}
    payload      JSONB NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ NULL,
    attempts     INT NOT NULL DEFAULT 0 CONSTRAINT outbox_attempts_check CHECK (attempts >= 0),
    last_error   TEXT NULL
);

-- the relay's work queue: SELECT ... WHERE published_at IS NULL ORDER BY id
-- FOR UPDATE SKIP LOCKED
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- ---------------------------------------------------------------------------
-- processed_event: idempotent consumers (INSERT ... ON CONFLICT DO NOTHING in the
-- same transaction as the effect)
-- ---------------------------------------------------------------------------
CREATE TABLE processed_event (
    consumer     TEXT NOT NULL,
    -- the event id as text, or any other dedupe key the consumer chooses
    event_key    TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_key)
);

-- ---------------------------------------------------------------------------
-- node_lease: each live engine node renews its row; an expired lease lets the others
-- mark that node's ws_connection rows DISCONNECTED.
-- ---------------------------------------------------------------------------
CREATE TABLE node_lease (
    node_id    UUID PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    renewed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX node_lease_expires_idx ON node_lease (expires_at);

-- ---------------------------------------------------------------------------
-- chain_event: dedupe and audit of escrow contract logs, keyed by (txn hash, log index).
-- A log later marked removed (reorg) deletes its row so the re-mined one applies again.
-- Rejected events (amount / payee / fee / contract mismatch) are kept with applied = false.
-- ---------------------------------------------------------------------------
CREATE TABLE chain_event (
    txn_hash        TEXT NOT NULL,
    log_index       BIGINT NOT NULL,
    block_hash      TEXT NULL,
    block_number    BIGINT NULL,
    -- free text (e.g. OrderPaid / FundReleased / Refunded): no CHECK, so an unexpected
    -- event can still be recorded and rejected rather than failing the insert
    event_type      TEXT NOT NULL,
    -- NULL when the log names no order we know; RESTRICT (orders are never deleted)
    order_id        BIGINT NULL REFERENCES orders (id) ON DELETE RESTRICT,
    payload         JSONB NOT NULL DEFAULT '{}',
    applied         BOOLEAN NOT NULL DEFAULT false,
    rejected_reason TEXT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (txn_hash, log_index)
);

CREATE INDEX chain_event_order_idx ON chain_event (order_id) WHERE order_id IS NOT NULL;
