-- kx-events schema, version 1.
--
-- The `events` table is the seeds' schema exactly (columns, types, lengths, NOT NULLs, the self
-- foreign key and the six indexes with their names). The columns after `created_at` are ours:
-- the table doubles as the outbox of the EventBridge bus.
--
-- Applied by the consumer at cold start, inside one transaction that holds an advisory lock, and
-- recorded in `kx_schema_migrations` with a checksum of this file. Do not edit it once released:
-- add `0002_….sql` instead (the consumer refuses to start when an applied file has changed).

CREATE TABLE events (
  event_id          UUID PRIMARY KEY,
  client_id         VARCHAR(128) NOT NULL,
  previous_event_id UUID NULL,
  user_id           VARCHAR(128),
  entity_id         VARCHAR(128),
  entity_type       VARCHAR(48),
  event_type        VARCHAR(48) NOT NULL,
  source            VARCHAR(32),
  campaign_id       VARCHAR(128),
  points_awarded    INTEGER,
  session_id        VARCHAR(128),
  occurred_at       TIMESTAMPTZ NOT NULL,
  metadata          JSONB,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT fk_events_previous
    FOREIGN KEY (previous_event_id) REFERENCES events(event_id)
    ON DELETE SET NULL
);

-- The seeds' indexes.
CREATE INDEX idx_events_client_time   ON events (client_id, occurred_at);
CREATE INDEX idx_events_user_time     ON events (user_id, occurred_at);
CREATE INDEX idx_events_type_time     ON events (event_type, occurred_at);
CREATE INDEX idx_events_campaign_time ON events (campaign_id, occurred_at);
CREATE INDEX idx_events_prev          ON events (previous_event_id);
CREATE INDEX idx_events_metadata_gin  ON events USING GIN (metadata);

-- Outbox: when the event was put on the bus (NULL = not yet), and a short lease that a consumer
-- takes before it calls PutEvents, so that two consumers never put the same event twice. The
-- lease is taken and released by single autocommit statements: no transaction stays open across
-- the network call.
ALTER TABLE events
  ADD COLUMN published_at  TIMESTAMPTZ,
  ADD COLUMN publish_lease TIMESTAMPTZ;

-- A child whose parent never arrived is stored on its last receive with previous_event_id NULL;
-- the id it named is kept here (and linked when the parent arrives later).
ALTER TABLE events ADD COLUMN unresolved_previous_event_id UUID;

-- Top-level fields of the message that the contract does not know, kept as they came.
ALTER TABLE events ADD COLUMN extra_fields JSONB;

-- The outbox sweep reads the oldest unpublished rows; this index holds only those.
CREATE INDEX idx_events_unpublished ON events (created_at) WHERE published_at IS NULL;

-- A late parent finds its waiting children.
CREATE INDEX idx_events_unresolved_prev ON events (unresolved_previous_event_id)
  WHERE unresolved_previous_event_id IS NOT NULL;
