-- Metmos Engine: social domain (reference/diagrams/people-db.png).
--
-- Conventions used in every migration:
--   * entity tables: id BIGINT identity PK, uuid UUID NOT NULL UNIQUE, created_at, updated_at
--     (updated_at has a default only; the Rust store sets it on every UPDATE, there is no
--     trigger, so the PostgreSQL and in-memory stores behave the same).
--   * enums are TEXT + CHECK, spelled as the OpenAPI specs spell them.
--   * money is integer wei in NUMERIC(78,0) (uint256 fits in 78 digits).
--   * foreign keys use internal ids, each with a deliberate ON DELETE.
--   * no extensions.

-- ---------------------------------------------------------------------------
-- account: one per Cognito user (created by the sign-up trigger, POST /accounts).
-- ---------------------------------------------------------------------------
CREATE TABLE account (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                UUID NOT NULL UNIQUE,
    cognito_user_id     TEXT NOT NULL UNIQUE,
    account_status      TEXT NOT NULL DEFAULT 'PENDING'
                        CONSTRAINT account_status_check
                        CHECK (account_status IN ('PENDING', 'ACTIVE', 'BLOCKED', 'DISABLED')),
    -- free text: the specs name the field but give it no enum
    verification_status TEXT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- person: the profile, exactly one per account.
-- ---------------------------------------------------------------------------
CREATE TABLE person (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           UUID NOT NULL UNIQUE,
    -- deleting the account deletes its person (and, through person, everything personal).
    account_id     BIGINT NOT NULL UNIQUE REFERENCES account (id) ON DELETE CASCADE,
    username       TEXT NOT NULL,
    first_name     TEXT NULL,
    last_name      TEXT NULL,
    email          TEXT NOT NULL,
    contact_number TEXT NULL,
    birth_date     TEXT NULL,
    location       TEXT NULL,
    bio            TEXT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- full-text search over names; 'simple' so usernames are not stemmed.
    -- email / contact number are matched exactly (indexes below), never through this.
    document       TSVECTOR GENERATED ALWAYS AS (
                       to_tsvector('simple',
                           coalesce(username, '') || ' ' ||
                           coalesce(first_name, '') || ' ' ||
                           coalesce(last_name, ''))
                   ) STORED
);

CREATE UNIQUE INDEX person_username_lower_key ON person (lower(username));
CREATE UNIQUE INDEX person_email_lower_key    ON person (lower(email));
CREATE INDEX person_contact_number_lower_idx  ON person (lower(contact_number));
CREATE INDEX person_document_idx              ON person USING GIN (document);

-- ---------------------------------------------------------------------------
-- connection: person_id requested a connection to connection_id (the target person).
-- ACCEPTED connections make the two persons contacts.
-- ---------------------------------------------------------------------------
CREATE TABLE connection (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          UUID NOT NULL UNIQUE,
    -- either side being deleted removes the connection: it means nothing with one person.
    person_id     BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    connection_id BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    requested_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    status        TEXT NOT NULL DEFAULT 'PENDING'
                  CONSTRAINT connection_status_check
                  CHECK (status IN ('PENDING', 'ACCEPTED', 'REJECTED')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT connection_not_self CHECK (person_id <> connection_id)
);

-- One live (PENDING or ACCEPTED) connection per unordered pair, whichever side asked.
-- A REJECTED one does not block a new request. Also serves "are A and B contacts?".
CREATE UNIQUE INDEX connection_live_pair_key
    ON connection (LEAST(person_id, connection_id), GREATEST(person_id, connection_id))
    WHERE status IN ('PENDING', 'ACCEPTED');
CREATE INDEX connection_person_idx     ON connection (person_id, status, id);
CREATE INDEX connection_connection_idx ON connection (connection_id, status, id);

-- ---------------------------------------------------------------------------
-- experience: a post; experience_reaction: a like or a comment on it.
-- ---------------------------------------------------------------------------
CREATE TABLE experience (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid       UUID NOT NULL UNIQUE,
    person_id  BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    content    TEXT NOT NULL,
    visibility TEXT NOT NULL
               CONSTRAINT experience_visibility_check
               CHECK (visibility IN ('PUBLIC', 'CONTACT_ONLY')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX experience_person_idx     ON experience (person_id, id);
CREATE INDEX experience_created_at_idx ON experience (created_at);

CREATE TABLE experience_reaction (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          UUID NOT NULL UNIQUE,
    -- a deleted person's likes and comments go with them
    person_id     BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    experience_id BIGINT NOT NULL REFERENCES experience (id) ON DELETE CASCADE,
    content       TEXT NULL,
    reaction_type TEXT NOT NULL
                  CONSTRAINT experience_reaction_type_check
                  CHECK (reaction_type IN ('COMMENT', 'LIKE')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- a person likes an experience at most once (comments are unlimited)
CREATE UNIQUE INDEX experience_reaction_one_like_key
    ON experience_reaction (person_id, experience_id)
    WHERE reaction_type = 'LIKE';
CREATE INDEX experience_reaction_experience_idx ON experience_reaction (experience_id, id);
CREATE INDEX experience_reaction_person_idx     ON experience_reaction (person_id);

-- ---------------------------------------------------------------------------
-- chat, chat_participant, message
-- ---------------------------------------------------------------------------
CREATE TABLE chat (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         UUID NOT NULL UNIQUE,
    description  TEXT NULL,
    chat_type    TEXT NOT NULL
                 CONSTRAINT chat_type_check CHECK (chat_type IN ('CONTACT', 'LISTING')),
    -- no FK: listings live in the marketplace migration and a chat about a listing
    -- outlives the listing (it is the history between the two persons).
    listing_uuid UUID NULL,
    -- the seq the next message of this chat gets (UPDATE ... RETURNING in the same
    -- transaction as the INSERT into message).
    next_seq     BIGINT NOT NULL DEFAULT 1 CONSTRAINT chat_next_seq_check CHECK (next_seq >= 1),
    -- race-free "one CONTACT chat per pair / one LISTING chat per listing + offeror":
    -- the service computes a deterministic key and inserts ON CONFLICT (pair_key).
    pair_key     TEXT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chat_listing_needs_listing_uuid
        CHECK (chat_type <> 'LISTING' OR listing_uuid IS NOT NULL)
);

CREATE INDEX chat_listing_uuid_idx ON chat (listing_uuid) WHERE listing_uuid IS NOT NULL;

CREATE TABLE chat_participant (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           UUID NOT NULL UNIQUE,
    chat_id        BIGINT NOT NULL REFERENCES chat (id) ON DELETE CASCADE,
    -- a deleted person leaves the chat; the chat and its messages stay for the others
    participant_id BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chat_participant_chat_person_key UNIQUE (chat_id, participant_id)
);

-- "my chats" (the unique constraint above already serves lookups by chat_id)
CREATE INDEX chat_participant_participant_idx ON chat_participant (participant_id, chat_id);

CREATE TABLE message (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- generated by the app, unique across all chats (API.md)
    uuid            UUID NOT NULL UNIQUE,
    chat_id         BIGINT NOT NULL REFERENCES chat (id) ON DELETE CASCADE,
    -- messages of a deleted person stay in the others' chats; sender_uuid keeps attribution
    sender_id       BIGINT NULL REFERENCES person (id) ON DELETE SET NULL,
    sender_uuid     UUID NOT NULL,
    message_content TEXT NOT NULL DEFAULT '',
    dto_asset_uuids JSONB NOT NULL DEFAULT '[]'
                    CONSTRAINT message_dto_asset_uuids_array
                    CHECK (jsonb_typeof(dto_asset_uuids) = 'array'),
    -- position in the chat, from chat.next_seq
    seq             BIGINT NOT NULL CONSTRAINT message_seq_check CHECK (seq >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT message_chat_seq_key  UNIQUE (chat_id, seq),
    CONSTRAINT message_chat_uuid_key UNIQUE (chat_id, uuid)
);

CREATE INDEX message_chat_updated_at_idx ON message (chat_id, updated_at);
-- keeps ON DELETE SET NULL of a person cheap
CREATE INDEX message_sender_idx ON message (sender_id) WHERE sender_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- asset: polymorphic file attached to a PERSON, CHAT, MESSAGE, EXPERIENCE or LISTING.
-- Presigned URLs are computed per request, never stored.
-- ---------------------------------------------------------------------------
CREATE TABLE asset (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            UUID NOT NULL UNIQUE,
    -- polymorphic parent, so no FK; the parent's uuid
    parent_uuid     UUID NOT NULL,
    parent_type     TEXT NOT NULL
                    CONSTRAINT asset_parent_type_check
                    CHECK (parent_type IN ('PERSON', 'CHAT', 'MESSAGE', 'EXPERIENCE', 'LISTING')),
    -- assets a deleted person sent into chats stay visible to the other participants
    owner_person_id BIGINT NULL REFERENCES person (id) ON DELETE SET NULL,
    s3_key          TEXT NOT NULL UNIQUE,
    mime_type       TEXT NOT NULL,
    variations      JSONB NOT NULL DEFAULT '[]'
                    CONSTRAINT asset_variations_array CHECK (jsonb_typeof(variations) = 'array'),
    uploaded        BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX asset_parent_idx ON asset (parent_type, parent_uuid);
CREATE INDEX asset_owner_idx  ON asset (owner_person_id) WHERE owner_person_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- device: a registered app install with its push token.
-- ---------------------------------------------------------------------------
CREATE TABLE device (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                 UUID NOT NULL UNIQUE,
    person_id            BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    device_type          TEXT NOT NULL
                         CONSTRAINT device_type_check
                         CHECK (device_type IN ('PHONE', 'TABLET', 'WEARABLE', 'BROWSER', 'DESKTOP', 'OTHER')),
    -- column named as in the diagram; values are the spec's CreateDeviceDto.platformType
    platform             TEXT NOT NULL
                         CONSTRAINT device_platform_check
                         CHECK (platform IN ('IOS', 'ANDROID', 'WEB', 'WINDOWS', 'MACOS', 'LINUX', 'OTHER')),
    platform_version     TEXT NOT NULL,
    model_name           TEXT NOT NULL,
    push_token           TEXT NOT NULL UNIQUE,
    pinpoint_endpoint_id TEXT NULL,
    -- set when the push service reports the token dead: the device, never the user, is disabled
    disabled_at          TIMESTAMPTZ NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX device_person_idx ON device (person_id);

-- ---------------------------------------------------------------------------
-- ws_connection: one row per WebSocket connection, with the node that holds it.
-- ---------------------------------------------------------------------------
CREATE TABLE ws_connection (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            UUID NOT NULL UNIQUE,
    ws_conn_id      TEXT NOT NULL UNIQUE,
    person_id       BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'CONNECTED'
                    CONSTRAINT ws_connection_status_check
                    CHECK (status IN ('CONNECTED', 'DISCONNECTED')),
    connected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    disconnected_at TIMESTAMPTZ NULL,
    -- no FK to node_lease: lease rows come and go, connection history stays
    node_id         UUID NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- GET /ws_connections: own rows, newest first, optionally by status
CREATE INDEX ws_connection_person_status_idx ON ws_connection (person_id, status, id);
CREATE INDEX ws_connection_node_status_idx   ON ws_connection (node_id, status);
