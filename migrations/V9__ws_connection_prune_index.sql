-- The hourly prune of DISCONNECTED ws_connection rows older than
-- ws.keep_disconnected_days (CONNECTED rows have no disconnected_at and stay out of it).
CREATE INDEX ws_connection_disconnected_at_idx ON ws_connection (disconnected_at)
    WHERE disconnected_at IS NOT NULL;
