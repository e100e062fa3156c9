-- Metmos Engine: marketplace domain (reference/diagrams/listing-db.png).
-- Money: integer wei, NUMERIC(78,0). Never floats.

-- ---------------------------------------------------------------------------
-- category (seeded by a later migration, not here)
-- ---------------------------------------------------------------------------
CREATE TABLE category (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          UUID NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    description   TEXT NULL,
    category_type TEXT NOT NULL
                  CONSTRAINT category_type_check CHECK (category_type IN ('ITEM', 'SERVICE')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT category_type_name_key UNIQUE (category_type, name)
);

-- ---------------------------------------------------------------------------
-- location: where an in-person listing is.
-- ---------------------------------------------------------------------------
CREATE TABLE location (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         UUID NOT NULL UNIQUE,
    address      TEXT NULL,
    -- suburb, state_region, country are required by CreateLocationDto / UpdateLocationDto
    suburb       TEXT NOT NULL,
    city         TEXT NULL,
    state_region TEXT NOT NULL,
    country      TEXT NOT NULL,
    postal_code  TEXT NULL,
    -- coordinates, not money: floating point is right here
    latitude     DOUBLE PRECISION NULL
                 CONSTRAINT location_latitude_check CHECK (latitude BETWEEN -90 AND 90),
    longitude    DOUBLE PRECISION NULL
                 CONSTRAINT location_longitude_check CHECK (longitude BETWEEN -180 AND 180),
    place_id     TEXT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- listing
-- ---------------------------------------------------------------------------
CREATE TABLE listing (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              UUID NOT NULL UNIQUE,
    -- the poster. Deleting the person deletes their listings (and, through offer, the
    -- offers on them). Orders survive as financial records: orders.offer_id is SET NULL
    -- and the order keeps offer_uuid, listing_uuid and every amount. (Account deletion
    -- is refused while an order of the person holds funds in escrow.)
    person_uuid       UUID NOT NULL REFERENCES person (uuid) ON DELETE CASCADE,
    listing_type      TEXT NOT NULL
                      CONSTRAINT listing_type_check
                      CHECK (listing_type IN ('ITEM_SALE', 'ITEM_PURCHASE', 'SERVICE_SALE', 'SERVICE_PURCHASE')),
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    -- wei; a positive price (the escrow cannot hold an order of 0)
    price             NUMERIC(78,0) NOT NULL CONSTRAINT listing_price_check CHECK (price > 0),
    currency_type     TEXT NOT NULL
                      CONSTRAINT listing_currency_type_check CHECK (currency_type IN ('CRYPTO', 'FIAT')),
    currency          TEXT NOT NULL
                      CONSTRAINT listing_currency_check CHECK (currency IN ('ETH')),
    status            TEXT NOT NULL DEFAULT 'DRAFT'
                      CONSTRAINT listing_status_check
                      CHECK (status IN ('DRAFT', 'PUBLISHED', 'PAUSED', 'CANCELLED', 'ORDERED', 'COMPLETED')),
    -- a category in use cannot be deleted
    category_id       BIGINT NOT NULL REFERENCES category (id) ON DELETE RESTRICT,
    additional_fields JSONB NOT NULL DEFAULT '{}'
                      CONSTRAINT listing_additional_fields_object
                      CHECK (jsonb_typeof(additional_fields) = 'object'),
    -- a location is only a detail of the listing; losing it must not lose the listing
    location_id       BIGINT NULL REFERENCES location (id) ON DELETE SET NULL,
    service_delivery  TEXT NULL
                      CONSTRAINT listing_service_delivery_check
                      CHECK (service_delivery IN ('IN_PERSON', 'ONLINE')),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    document          TSVECTOR GENERATED ALWAYS AS (
                          to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))
                      ) STORED
);

CREATE INDEX listing_document_idx       ON listing USING GIN (document);
CREATE INDEX listing_status_updated_idx ON listing (status, updated_at DESC);
-- GET /listings: PUBLISHED, newest first, keyset-paged by id
CREATE INDEX listing_status_id_idx      ON listing (status, id DESC);
CREATE INDEX listing_person_uuid_idx    ON listing (person_uuid, id);
CREATE INDEX listing_category_idx       ON listing (category_id);
CREATE INDEX listing_location_idx       ON listing (location_id) WHERE location_id IS NOT NULL;

-- A location belongs to its listing alone: it goes with it, however the listing goes
-- (DELETE /listings, or the cascade of a deleted person).
CREATE FUNCTION listing_delete_location() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM location WHERE id = OLD.location_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER listing_location_cleanup AFTER DELETE ON listing
    FOR EACH ROW WHEN (OLD.location_id IS NOT NULL) EXECUTE FUNCTION listing_delete_location();

-- ---------------------------------------------------------------------------
-- offer
-- ---------------------------------------------------------------------------
CREATE TABLE offer (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        UUID NOT NULL UNIQUE,
    -- the offeror. CASCADE; its orders survive (orders.offer_id SET NULL, offer_uuid kept).
    person_uuid UUID NOT NULL REFERENCES person (uuid) ON DELETE CASCADE,
    price       NUMERIC(78,0) NOT NULL CONSTRAINT offer_price_check CHECK (price > 0),
    comment     TEXT NULL,
    status      TEXT NOT NULL DEFAULT 'OFFERED'
                CONSTRAINT offer_status_check
                CHECK (status IN ('OFFERED', 'ACCEPTED', 'PAID', 'COMPLETED', 'CANCELLED')),
    -- offers die with their listing (their orders survive, see orders.offer_id)
    listing_id  BIGINT NOT NULL REFERENCES listing (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- at most one accepted offer per listing (accepting a second answers 409).
-- PAID is included: a paid offer is the accepted one, still holding the listing.
CREATE UNIQUE INDEX offer_one_accepted_per_listing_key
    ON offer (listing_id)
    WHERE status IN ('ACCEPTED', 'PAID');
-- one open offer per offeror per listing (they edit it instead of making another)
CREATE UNIQUE INDEX offer_one_open_per_person_listing_key
    ON offer (person_uuid, listing_id)
    WHERE status IN ('OFFERED', 'ACCEPTED');
CREATE INDEX offer_listing_idx     ON offer (listing_id, id);
CREATE INDEX offer_person_uuid_idx ON offer (person_uuid, id);

-- ---------------------------------------------------------------------------
-- wallet: a person's connected crypto address
-- ---------------------------------------------------------------------------
CREATE TABLE wallet (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        UUID NOT NULL UNIQUE,
    person_uuid UUID NOT NULL REFERENCES person (uuid) ON DELETE CASCADE,
    chain       TEXT NOT NULL CONSTRAINT wallet_chain_check CHECK (chain IN ('ETHEREUM')),
    wallet_type TEXT NOT NULL CONSTRAINT wallet_type_check CHECK (wallet_type IN ('METAMASK')),
    -- free text in the spec ("Ethereum Mainnet", "Sepolia", ...)
    network     TEXT NOT NULL,
    balance     NUMERIC(78,0) NULL CONSTRAINT wallet_balance_check CHECK (balance >= 0),
    currency    TEXT NOT NULL CONSTRAINT wallet_currency_check CHECK (currency IN ('ETH')),
    address     TEXT NOT NULL
                CONSTRAINT wallet_address_format CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- an address belongs to one wallet row, whatever its checksum casing (409 on duplicate)
CREATE UNIQUE INDEX wallet_address_lower_key ON wallet (lower(address));
CREATE INDEX wallet_person_uuid_idx ON wallet (person_uuid);

-- ---------------------------------------------------------------------------
-- orders: the escrowed purchase of an accepted offer. A financial record: it copies
-- what it needs (listing title/uuid/price, payer/payee uuids and addresses) and is
-- never deleted.
-- ---------------------------------------------------------------------------
CREATE TABLE orders (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid               UUID NOT NULL UNIQUE,
    status             TEXT NOT NULL DEFAULT 'AWAITING_PAYMENT'
                       CONSTRAINT orders_status_check
                       CHECK (status IN ('AWAITING_PAYMENT', 'PAID', 'RELEASING', 'COMPLETED',
                                         'REFUNDING', 'CANCELLED', 'EXPIRED')),
    -- a financial record outlives its offer: deleting the offer (its listing deleted, a
    -- person deleted) only clears the link; offer_uuid keeps which offer it was.
    offer_id           BIGINT NULL REFERENCES offer (id) ON DELETE SET NULL,
    offer_uuid         UUID NOT NULL,
    -- no FK: financial records outlive accounts (account deletion is refused while
    -- funds are in escrow; afterwards the uuids stay as plain values)
    payer_uuid         UUID NOT NULL,
    payee_uuid         UUID NOT NULL,
    payer_address      TEXT NOT NULL
                       CONSTRAINT orders_payer_address_format CHECK (payer_address ~ '^0x[0-9a-fA-F]{40}$'),
    payee_address      TEXT NOT NULL
                       CONSTRAINT orders_payee_address_format CHECK (payee_address ~ '^0x[0-9a-fA-F]{40}$'),
    currency           TEXT NOT NULL CONSTRAINT orders_currency_check CHECK (currency IN ('ETH')),
    listing_title      TEXT NOT NULL,
    listing_uuid       UUID NOT NULL,
    -- the agreed price (the accepted offer's price), in wei
    listing_price      NUMERIC(78,0) NOT NULL CONSTRAINT orders_listing_price_check CHECK (listing_price > 0),
    total_platform_fee NUMERIC(78,0) NOT NULL CONSTRAINT orders_total_platform_fee_check CHECK (total_platform_fee >= 0),
    platform_fee_tax   NUMERIC(78,0) NOT NULL CONSTRAINT orders_platform_fee_tax_check CHECK (platform_fee_tax >= 0),
    order_total        NUMERIC(78,0) NOT NULL CONSTRAINT orders_order_total_check CHECK (order_total > 0),
    -- the escrow quote (API.md "escrow"): which chain and contract it is for, the bytes32
    -- hex order id ("0x" + 64 hex digits: the uuid right-aligned), the deadline (whole
    -- seconds; unpaid after it -> EXPIRED) and the platform's signature over it all
    chain_id           BIGINT NOT NULL CONSTRAINT orders_chain_id_check CHECK (chain_id > 0),
    escrow_contract    TEXT NOT NULL
                       CONSTRAINT orders_escrow_contract_format CHECK (escrow_contract ~ '^0x[0-9a-fA-F]{40}$'),
    escrow_order_id    TEXT NOT NULL UNIQUE
                       CONSTRAINT orders_escrow_order_id_format CHECK (escrow_order_id ~ '^0x[0-9a-fA-F]{64}$'),
    deadline           TIMESTAMPTZ NOT NULL,
    quote_signature    TEXT NOT NULL
                       CONSTRAINT orders_quote_signature_format CHECK (quote_signature ~ '^0x[0-9a-fA-F]{130}$'),
    -- optimistic lock: every transition does UPDATE ... SET version = version + 1
    -- WHERE id = $1 AND version = $2 (after SELECT ... FOR UPDATE)
    version            BIGINT NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT orders_total_is_sum
        CHECK (order_total = listing_price + total_platform_fee + platform_fee_tax),
    CONSTRAINT orders_payer_not_payee CHECK (payer_uuid <> payee_uuid)
);

-- one open order per offer (a new one only after the previous EXPIRED / CANCELLED /
-- COMPLETED). On offer_uuid, which a deleted offer does not clear; POST /orders relies
-- on it (INSERT ... ON CONFLICT DO NOTHING) to make one order however often it is asked.
CREATE UNIQUE INDEX orders_one_open_per_offer_key
    ON orders (offer_uuid)
    WHERE status IN ('AWAITING_PAYMENT', 'PAID', 'RELEASING', 'REFUNDING');
-- keeps ON DELETE SET NULL of an offer cheap
CREATE INDEX orders_offer_idx        ON orders (offer_id) WHERE offer_id IS NOT NULL;
CREATE INDEX orders_payer_uuid_idx   ON orders (payer_uuid);
CREATE INDEX orders_payee_uuid_idx   ON orders (payee_uuid);
CREATE INDEX orders_listing_uuid_idx ON orders (listing_uuid);
-- boot-time rehydration of every order that is not final
CREATE INDEX orders_not_final_idx    ON orders (status)
    WHERE status IN ('AWAITING_PAYMENT', 'PAID', 'RELEASING', 'REFUNDING');

-- ---------------------------------------------------------------------------
-- payment: a money movement of an order seen on chain (pay, release, refund).
-- ---------------------------------------------------------------------------
CREATE TABLE payment (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            UUID NOT NULL UNIQUE,
    txn_hash        TEXT NOT NULL,
    -- RESTRICT: payments are financial records of their order
    orders_id       BIGINT NOT NULL REFERENCES orders (id) ON DELETE RESTRICT,
    from_address    TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    value           NUMERIC(78,0) NOT NULL CONSTRAINT payment_value_check CHECK (value >= 0),
    -- a wallet row may be removed (DELETE /wallets, person deleted); the payment keeps
    -- its addresses and just loses the link
    payer_wallet_id BIGINT NULL REFERENCES wallet (id) ON DELETE SET NULL,
    payee_wallet_id BIGINT NULL REFERENCES wallet (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL
                    CONSTRAINT payment_kind_check CHECK (kind IN ('PAYMENT', 'RELEASE', 'REFUND')),
    log_index       BIGINT NULL,
    block_number    BIGINT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULLS NOT DISTINCT: a (txn_hash, NULL) row (log index not known yet) is unique too
    CONSTRAINT payment_txn_log_key UNIQUE NULLS NOT DISTINCT (txn_hash, log_index)
);

CREATE INDEX payment_orders_idx       ON payment (orders_id);
CREATE INDEX payment_payer_wallet_idx ON payment (payer_wallet_id) WHERE payer_wallet_id IS NOT NULL;
CREATE INDEX payment_payee_wallet_idx ON payment (payee_wallet_id) WHERE payee_wallet_id IS NOT NULL;
