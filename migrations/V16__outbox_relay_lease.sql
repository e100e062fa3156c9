-- One outbox relay at a time across the nodes that share this database. Each node ran
-- its own relay over the one outbox: under load every event went out once per node,
-- their rounds interleaved, and the broker did that much more work. The row names the
-- node that drains the outbox and until when; it renews while it runs, gives it back
-- when it stops, and another node takes over once the lease runs out
-- (engine/src/domain/outbox.rs decides who may hold it).
CREATE TABLE outbox_relay (
    id         SMALLINT PRIMARY KEY CONSTRAINT outbox_relay_one_row CHECK (id = 1),
    node_id    UUID NULL,
    expires_at TIMESTAMPTZ NULL,
    CONSTRAINT outbox_relay_lease_whole CHECK ((node_id IS NULL) = (expires_at IS NULL))
);

-- The one row always exists, so claimers queue on its lock (SELECT ... FOR UPDATE).
INSERT INTO outbox_relay (id) VALUES (1);
