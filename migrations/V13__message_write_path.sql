-- Issue 14: every chat message inserts one message row and one outbox row, so each of
-- their indexes is paid at 20k messages/s. Two are never read and only repeat a guard
-- that another index (or the generator) already gives; random uuids make them the most
-- expensive ones to keep (each insert lands on a random leaf page).

-- `message.uuid` is UNIQUE on its own (message_uuid_key), which implies (chat_id, uuid)
-- is unique: this second index guarded nothing more, and no query reads by it.
ALTER TABLE message DROP CONSTRAINT message_chat_uuid_key;

-- The outbox is read and updated by `id` only; `event_id` is a v4 uuid the engine makes
-- for each event, and consumers deduplicate by it (processed_event), not the outbox.
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
