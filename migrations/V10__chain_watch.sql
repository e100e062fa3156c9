-- ---------------------------------------------------------------------------
-- The chain watcher's memory (engine/src/services/chain_watcher.rs), per watcher key
-- ("<chain id>:<contract address>"): where it resumes, and the logs it delivered from
-- recent blocks so that a reorg can name what it removed. Hashes are 0x-hex text, as in
-- chain_event.
-- ---------------------------------------------------------------------------
CREATE TABLE chain_watch_checkpoint (
    watcher           TEXT PRIMARY KEY,
    next_block        BIGINT NOT NULL CHECK (next_block >= 0),
    -- the block before next_block and its hash when it was scanned (NULL after a rewind)
    last_block_number BIGINT NULL,
    last_block_hash   TEXT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((last_block_number IS NULL) = (last_block_hash IS NULL))
);

CREATE TABLE chain_watch_log (
    watcher      TEXT NOT NULL,
    txn_hash     TEXT NOT NULL,
    log_index    BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   TEXT NOT NULL,
    -- the decoded escrow log, to deliver again with removed = true after a reorg
    event        JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (watcher, txn_hash, log_index)
);

CREATE INDEX chain_watch_log_block_idx ON chain_watch_log (watcher, block_number);
