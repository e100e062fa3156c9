-- Issue 14: the outbox holds only events still to publish. The relay used to mark a
-- published row (`published_at`), which kept every event ever written (the table grew
-- with every chat message, forever) and cost a new row version and index entry per
-- event, since `published_at` is in the partial index's predicate. The relay now
-- deletes a row once the broker confirmed it; the events themselves are on the broker.

DELETE FROM outbox WHERE published_at IS NOT NULL;

-- Every row is pending now: the primary key is the relay's work queue.
DROP INDEX outbox_unpublished_idx;

-- A queue table: many rows deleted, few live. Vacuum it after a fixed number of dead
-- rows rather than a share of its (small) size, so the relay's scan from the oldest id
-- does not walk a growing run of dead entries between vacuums.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

-- `published_at` stays for one release: nodes of the previous release, still running
-- during a rolling upgrade, filter on it (every row is NULL there, so they publish and
-- mark as before). Nothing of this release reads or writes it.
