-- kx-events schema, version 5: where each `kx replay` has got to.
--
-- One row per replay: the filter it was started with (as given, and resolved to concrete
-- bounds), the last event it put on the bus in its order (`occurred_at`, `event_id`), how many
-- it put, and when it finished. `kx replay --resume` continues the newest unfinished replay of
-- the same filter strictly after its checkpoint. Only the owner (the operator's role, the one
-- `kx replay` connects with) writes it: the consumer and the query role are granted nothing
-- here. A new table is instant on any database.

CREATE TABLE IF NOT EXISTS kx_replay_checkpoints (
  replay_id        UUID PRIMARY KEY,
  -- The filter as the operator gave it (canonical JSON text): what --resume matches on.
  filter_key       TEXT NOT NULL,
  -- The resolved filter (bounds made concrete at the start), used by a resumed run.
  filter           JSONB NOT NULL,
  bus_name         TEXT NOT NULL,
  last_occurred_at TIMESTAMPTZ,
  last_event_id    UUID,
  put_count        BIGINT NOT NULL DEFAULT 0,
  started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at      TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS idx_kx_replay_checkpoints_filter
  ON kx_replay_checkpoints (filter_key, started_at DESC);
