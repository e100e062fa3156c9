-- Read state (issue 15): how far each participant has read each chat, and whether a
-- person shares read receipts.
--
-- read_seq: the highest seq of the chat this participant has read (0: nothing). Only
-- moves forward (writes use GREATEST) and never past the chat's last seq (next_seq - 1).
-- Unread count = (chat.next_seq - 1) - read_seq: O(chats), no scan of messages.
ALTER TABLE chat_participant
    ADD COLUMN read_seq BIGINT NOT NULL DEFAULT 0
        CONSTRAINT chat_participant_read_seq_check CHECK (read_seq >= 0);

-- false: the person sends no read receipts and sees none (their own devices still sync).
ALTER TABLE person
    ADD COLUMN read_receipts BOOLEAN NOT NULL DEFAULT true;
