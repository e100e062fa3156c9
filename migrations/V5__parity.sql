-- Store parity and hardening (issue 9).

-- Finding 7: a wallet address is unique per person, not globally, so that someone
-- registering your address cannot lock you out of adding it. Case never mattered
-- (the checksum is only spelling), so the key stays on lower(address).
DROP INDEX wallet_address_lower_key;
CREATE UNIQUE INDEX wallet_person_address_key ON wallet (person_uuid, lower(address));
CREATE INDEX wallet_address_lower_idx ON wallet (lower(address));

-- Finding 8: when a connection request was last answered, so that a rejected requester
-- can be held off for social.rerequest_cooldown_days.
CREATE INDEX connection_rejected_pair_idx ON connection (person_id, connection_id, updated_at DESC)
    WHERE status = 'REJECTED';
