-- kx-events schema, version 3: the outbox sweep's index leaves out the rows the bus rejected.
--
-- Built CONCURRENTLY (writes go on while it builds; it reads the whole table once), so the
-- statements below run outside a transaction, one by one. Each is idempotent: a run interrupted
-- half way is completed by the next one (an invalid index left by an interrupted build is
-- dropped and built again by the runner).

-- kx:outside-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_outbox ON events (created_at)
  WHERE published_at IS NULL AND publish_failed_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS idx_events_unpublished;
