-- Read paths (issue 14).
--
-- listing_document_idx: no pending list. With fastupdate on (the default), new listings
-- go to an unsorted pending list that every search scans in full until a vacuum merges
-- it; just after a catalogue is loaded that list held all of it and cost each
-- `GET /listings?q=` 0.4-0.7 ms of database CPU at 5,000 listings whatever the words.
-- Off, each insert updates the index in place (a listing is written once and read many
-- times). The entries already pending are merged now.
ALTER INDEX listing_document_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('listing_document_idx'::regclass);
