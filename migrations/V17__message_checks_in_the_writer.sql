-- Issue 14: the two foreign keys of `message` cost every chat message two row-level
-- trigger runs (each a query of its own, locking the referenced row FOR KEY SHARE) at
-- 20k messages/s, and guard nothing the only writer of messages does not already hold:
--
-- * `chat_id`: the message writer locks each chat's row FOR UPDATE and takes its seqs in
--   the same transaction as the insert, and refuses a message whose chat it did not find
--   (engine/src/adapters/store/postgres/message_writer.rs). Chats are never deleted; code
--   that ever deletes one deletes its messages in the same transaction.
-- * `sender_id`: the writer locks the batch's senders FOR KEY SHARE, once per sender
--   instead of once per message, and refuses the messages of a sender who is gone
--   (`domain::chat::may_store_from`). Deleting an account locks the person FOR UPDATE,
--   which waits for those locks, and sets its messages' `sender_id` to NULL itself
--   (account_deletion.rs), which is what `ON DELETE SET NULL` did.
--
-- During a rolling upgrade, a node of the previous release that deletes an account leaves
-- that person's messages with a `sender_id` pointing at no one; nothing reads it but the
-- deletion (the API shows `sender_uuid`, kept for attribution).
ALTER TABLE message DROP CONSTRAINT message_chat_id_fkey;
ALTER TABLE message DROP CONSTRAINT message_sender_id_fkey;
