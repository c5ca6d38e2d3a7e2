-- Version 1 for a database that already has the old system's `events` table (the TypeScript
-- consumer's schema: the same columns, foreign key and six indexes as 0001_events.sql, and rows).
-- Applied instead of 0001_events.sql when `events` exists and version 1 is not recorded; recorded
-- as version 1 with 0001_events.sql's checksum, so later versions apply to both alike.
--
-- The old rows are history: the new `published_at` column is added with the default '-infinity'
-- (a constant default is stored once in the catalog, not written into each row: instant on any
-- table size), so no old row is ever put on the bus by the outbox. Version 2 keeps that default
-- for every later writer but the consumer.

ALTER TABLE events
  ADD COLUMN IF NOT EXISTS published_at                 TIMESTAMPTZ DEFAULT '-infinity',
  ADD COLUMN IF NOT EXISTS publish_lease                TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS unresolved_previous_event_id UUID,
  ADD COLUMN IF NOT EXISTS extra_fields                 JSONB;

-- The indexes kx-events needs, built without blocking the old system's writers. The seeds' six
-- indexes are created only if a deployment lacks one; the unpublished-rows index of 0001 is left
-- to version 3, which replaces it.

-- kx:outside-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_unresolved_prev ON events (unresolved_previous_event_id)
  WHERE unresolved_previous_event_id IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_client_time ON events (client_id, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_user_time ON events (user_id, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_type_time ON events (event_type, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_campaign_time ON events (campaign_id, occurred_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_prev ON events (previous_event_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_metadata_gin ON events USING GIN (metadata);
