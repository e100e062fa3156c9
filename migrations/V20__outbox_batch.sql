-- Issue 14: every chat message wrote one outbox row for its `message.sent` event, and the
-- relay read and deleted it again: per message a row with its `jsonb` payload parsed on
-- the way in and printed on the way out, a primary-key entry, a deletion, and what
-- vacuum then cleans. Measured at 20k messages/s (pg_stat_wal), the outbox was about
-- half of the WAL a message wrote (≈ 1.4 KB each), and the relay walked the dead rows.
--
-- The message writer commits a few hundred messages per transaction, so it now writes
-- their events as ONE row here: a JSON array of the envelopes, as the engine printed
-- it (text: nothing parses it but the relay). Other events stay in `outbox`, one row each.
--
-- The relay publishes both tables as one queue, in id order: `id` comes from the
-- outbox's own sequence, so an event's place among all others is where its row was
-- written, as before. A row is deleted once every event in it was confirmed; a row
-- half published goes out again whole (at least once, as always: consumers deduplicate
-- on `eventId`).
--
-- During a rolling upgrade, nodes of the previous release neither write nor read this
-- table. While one of them holds the relay lease (`outbox_relay`), the events written
-- here wait until a node of this release takes it over, then go out in order.
CREATE TABLE outbox_batch (
    id          BIGINT PRIMARY KEY DEFAULT nextval('outbox_id_seq'),
    event_count INT NOT NULL CONSTRAINT outbox_batch_event_count_check CHECK (event_count >= 1),
    -- [{"eventId", "type", "occurredAt", "data"}, ...], as many as `event_count`
    events      TEXT NOT NULL,
    -- the first event's
    occurred_at TIMESTAMPTZ NOT NULL,
    attempts    INT NOT NULL DEFAULT 0 CONSTRAINT outbox_batch_attempts_check CHECK (attempts >= 0),
    last_error  TEXT NULL
);

-- Stored out of line and not compressed: a batch's text is tens of kilobytes, written
-- once and read once, and compressing it would cost the writer's CPU for WAL it saves.
ALTER TABLE outbox_batch ALTER COLUMN events SET STORAGE EXTERNAL;

-- A queue table, as `outbox` (V15): vacuumed after a fixed number of dead rows.
ALTER TABLE outbox_batch SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
