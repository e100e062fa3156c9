-- Issue 14: every listing shown (a search page, a browse page, one listing) was joined to
-- `category` for one column, the category's uuid. A category's id and uuid never change
-- (categories come from migrations alone; no API writes them), so the uuid is kept on the
-- listing itself. Under the generic plans the REST reads run on, the join cost a sort and
-- a merge join per shown row: pgbench on the one-word search statement alone, 5,000
-- listings, 4 clients, generic plans, ran at 7.1–7.2k/s with the join and 8.5–8.7k/s
-- without; a phrase search at 10.0–11.4k/s against 12.6–13.2k/s.
ALTER TABLE listing ADD COLUMN category_uuid UUID;

-- Kept by the database, so no write path can forget it, including a node of the previous
-- release during a rolling upgrade (it writes `category_id` only).
CREATE FUNCTION listing_category_uuid_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.category_uuid := (SELECT uuid FROM category WHERE id = NEW.category_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER listing_category_uuid BEFORE INSERT OR UPDATE OF category_id ON listing
    FOR EACH ROW EXECUTE FUNCTION listing_category_uuid_sync();

UPDATE listing l SET category_uuid = c.uuid FROM category c WHERE c.id = l.category_id;

-- `category_id` is NOT NULL and references `category`, so every listing has one.
ALTER TABLE listing ALTER COLUMN category_uuid SET NOT NULL;
