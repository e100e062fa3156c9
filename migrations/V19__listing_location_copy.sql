-- Issue 14: every listing shown was joined to its `location`, one index lookup and one
-- nested-loop step per shown row. A location belongs to one listing and is only shown
-- with it, so the listing now carries a copy of it, and showing a listing reads that one
-- row. At 5,000 listings and 64 workers (README, "Read paths on PostgreSQL"), alternated
-- with the build before: search 5,698 against 5,119 req/s (medians of eight runs each),
-- browse 6,610 and 6,909 against 5,435 and 5,881 req/s.
--
-- `location` stays the record (its uuid, its constraints; the engine and a node of the
-- previous release write it, and only it): the copy is kept by the database, so no write
-- path can forget it.
ALTER TABLE listing
    ADD COLUMN location_uuid         UUID NULL,
    ADD COLUMN location_address      TEXT NULL,
    ADD COLUMN location_suburb       TEXT NULL,
    ADD COLUMN location_city         TEXT NULL,
    ADD COLUMN location_state_region TEXT NULL,
    ADD COLUMN location_country      TEXT NULL,
    ADD COLUMN location_postal_code  TEXT NULL,
    ADD COLUMN location_latitude     DOUBLE PRECISION NULL,
    ADD COLUMN location_longitude    DOUBLE PRECISION NULL,
    ADD COLUMN location_place_id     TEXT NULL,
    ADD COLUMN location_created_at   TIMESTAMPTZ NULL,
    ADD COLUMN location_updated_at   TIMESTAMPTZ NULL;

-- A listing given a location, moved to another or left without one (including by the
-- foreign key's ON DELETE SET NULL when its location is deleted, which is an UPDATE of
-- `location_id` too): copy what `location_id` now points at, or NULLs.
CREATE FUNCTION listing_location_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Without a row, SELECT INTO sets every target to NULL.
    SELECT uuid, address, suburb, city, state_region, country, postal_code, latitude,
           longitude, place_id, created_at, updated_at
      INTO NEW.location_uuid, NEW.location_address, NEW.location_suburb, NEW.location_city,
           NEW.location_state_region, NEW.location_country, NEW.location_postal_code,
           NEW.location_latitude, NEW.location_longitude, NEW.location_place_id,
           NEW.location_created_at, NEW.location_updated_at
      FROM location WHERE id = NEW.location_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER listing_location_copy BEFORE INSERT OR UPDATE OF location_id ON listing
    FOR EACH ROW EXECUTE FUNCTION listing_location_copy();

-- A location edited in place: its listing's copy follows, through the copy above (setting
-- `location_id` to itself runs it), so the columns are mapped in one place.
CREATE FUNCTION location_copy_to_listing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE listing SET location_id = location_id WHERE location_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER location_copy_to_listing AFTER UPDATE ON location
    FOR EACH ROW EXECUTE FUNCTION location_copy_to_listing();

-- The listings there are: setting `location_id` to itself runs the copy.
UPDATE listing SET location_id = location_id WHERE location_id IS NOT NULL;
