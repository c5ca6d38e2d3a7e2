-- kx-events schema, version 4: the indexes of the read side (kx-events-query).
--
-- Every filter of `events(filter, page)` leads an index, so that every page is an index scan
-- read newest first (a backward scan of `(…, occurred_at)`). 0001 has the seeds' indexes for
-- clientId, userId, eventType, campaignId, metadata (GIN) and the chain links; this file adds
-- the filters the seeds' query API did not offer, and the order of a page with no filter.
--
-- Which index serves which filter (query/src/sql.rs says the same next to each condition):
--   clientId     idx_events_client_time       (0001)
--   userId       idx_events_user_time         (0001)
--   eventType    idx_events_type_time         (0001)
--   campaignId   idx_events_campaign_time     (0001)
--   metadata @>  idx_events_metadata_path_gin (here; see below)
--   chain        idx_events_prev              (0001), ancestors: the primary key
--   entityId     idx_events_entity_time       (here)
--   entityType   idx_events_entity_type_time  (here)
--   source       idx_events_source_time       (here)
--   sessionId    idx_events_session_time      (here)
--   no filter, startDate/endDate alone, and the keyset order (occurred_at DESC, event_id DESC):
--                idx_events_time_id           (here)
--
-- Built CONCURRENTLY, outside a transaction, one statement at a time (see 0003): writes go on
-- while each index builds on a large existing table (an adopted one, say); each statement is
-- idempotent, and an interrupted build is dropped and built again by the runner.

-- kx:outside-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_time_id ON events (occurred_at, event_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_entity_time ON events (entity_id, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_entity_type_time ON events (entity_type, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_source_time ON events (source, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_session_time ON events (session_id, occurred_at);

-- Metadata containment (`metadata @> '{"campaign":"x"}'`). The seeds' idx_events_metadata_gin
-- uses the default jsonb_ops, which indexes keys and values apart: a key that every row has
-- ("campaign") makes its posting list the whole table, and PostgreSQL rightly prefers a
-- sequential scan (measured on 20,000 rows: a seq scan, estimated cost 578). jsonb_path_ops
-- indexes each path-and-value as one entry, supports exactly @> (and jsonpath), and is smaller:
-- the same query becomes a bitmap index scan (estimated cost 20). The seeds' index stays for key-existence queries.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_metadata_path_gin ON events USING GIN (metadata jsonb_path_ops);
