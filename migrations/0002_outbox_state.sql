-- kx-events schema, version 2: what the outbox owns, and what the bus refused.
--
-- `published_at` now defaults to '-infinity': a row written by any other writer than the consumer
-- (the old system, a backfill, psql) is "not the outbox's" and is never put on the bus. The
-- consumer names the column in its INSERT: NULL = waiting for the bus, a time = put on the bus
-- then. Changing a default rewrites nothing (instant on any table size).
--
-- A row the bus rejected permanently (a per-entry error that no retry can fix, or an event the bus
-- cannot carry) keeps the error code and message, when, and how many puts were tried; the outbox
-- sweep skips it until an operator replays it. New nullable columns without a default are
-- instant too. Each statement takes the table's lock only briefly (lock_timeout is set by the
-- runner).

ALTER TABLE events ALTER COLUMN published_at SET DEFAULT '-infinity';

ALTER TABLE events
  ADD COLUMN IF NOT EXISTS publish_attempts  INTEGER,
  ADD COLUMN IF NOT EXISTS publish_failed_at TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS publish_error     TEXT;
