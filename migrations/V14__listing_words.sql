-- Listing search by one word (issue 14).
--
-- `GET /listings?q=bike` through the GIN index on `listing.document` fetches every
-- matching row from the heap, then sorts them to show the newest 20: at 5,000 listings a
-- common word matched 200 rows (0.37 ms of database time per search, the bound of search
-- throughput on a 2-core machine), at 100,000 it matched 4,000. A GIN index cannot hand
-- its matches over in id order. This table holds each listing's lexemes (exactly those of
-- its `document`), so a one-word search walks (word, listing_id) backwards and stops at
-- the page: O(page), whatever the word's frequency. The engine uses it only for a query
-- of one plain word (`domain::search::single_word`); everything else keeps the GIN path.
CREATE TABLE listing_word (
    word       TEXT   NOT NULL,
    listing_id BIGINT NOT NULL REFERENCES listing (id) ON DELETE CASCADE,
    PRIMARY KEY (word, listing_id)
);
-- the cascade from a deleted listing, and the trigger's own delete
CREATE INDEX listing_word_listing_idx ON listing_word (listing_id);

-- Kept by the database, so no write path can forget it: an AFTER trigger sees the
-- generated `document` as stored.
CREATE FUNCTION listing_words_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.document IS NOT DISTINCT FROM OLD.document THEN
            RETURN NULL;
        END IF;
        DELETE FROM listing_word WHERE listing_id = NEW.id;
    END IF;
    INSERT INTO listing_word (word, listing_id)
    SELECT lexeme, NEW.id FROM unnest(NEW.document);
    RETURN NULL;
END
$$;
CREATE TRIGGER listing_words AFTER INSERT OR UPDATE ON listing
    FOR EACH ROW EXECUTE FUNCTION listing_words_sync();

INSERT INTO listing_word (word, listing_id)
SELECT u.lexeme, l.id FROM listing l, unnest(l.document) u;
