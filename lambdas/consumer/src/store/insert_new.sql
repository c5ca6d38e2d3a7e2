-- The common batch: every event new, every parent stored or in the batch. A plain INSERT (no
-- ON CONFLICT, no parent check of its own, nothing returned per row): the unique index and the
-- foreign key check the batch as COPY would, and a duplicate or a missing parent fails the
-- whole statement (23505, 23503) before anything is written, so the caller falls back on
-- insert.sql. Same parameters ($15, the unresolved parents, and $17, the parents to check,
-- unused), lease, late-child linking and stale check as insert.sql.
WITH t AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[],
                 $12::timestamptz[], $13::jsonb[], $14::jsonb[], $16::bool[])
           AS t(event_id, client_id, previous_event_id, user_id, entity_id, entity_type,
                event_type, source, campaign_id, points_awarded, session_id, occurred_at,
                metadata, extra_fields, on_bus)),
     ins AS (
         INSERT INTO events (event_id, client_id, previous_event_id, user_id, entity_id,
             entity_type, event_type, source, campaign_id, points_awarded, session_id,
             occurred_at, metadata, extra_fields, published_at, publish_lease)
         SELECT t.event_id, t.client_id, t.previous_event_id, t.user_id, t.entity_id,
             t.entity_type, t.event_type, t.source, t.campaign_id, t.points_awarded,
             t.session_id, t.occurred_at, t.metadata, t.extra_fields,
             CASE WHEN t.on_bus THEN now() END,
             CASE WHEN NOT t.on_bus THEN now() + make_interval(secs => $18::float8) END
         FROM t),
     link AS (
         -- Every row of t is inserted (or the statement fails): t names the new parents.
         UPDATE events
         SET previous_event_id = unresolved_previous_event_id,
             unresolved_previous_event_id = NULL
         WHERE unresolved_previous_event_id IN (SELECT event_id FROM t)
           AND EXISTS (SELECT 1 FROM events WHERE unresolved_previous_event_id IS NOT NULL)
           AND NOT EXISTS (
             WITH RECURSIVE up(id, depth) AS (
               SELECT n.previous_event_id, 1 FROM t n
               WHERE n.event_id = events.unresolved_previous_event_id
               UNION ALL
               SELECT coalesce((SELECT a.previous_event_id FROM events a WHERE a.event_id = up.id),
                               (SELECT b.previous_event_id FROM t b WHERE b.event_id = up.id)),
                      up.depth + 1
               FROM up WHERE up.id IS NOT NULL AND up.depth < 1000)
             SELECT 1 FROM up WHERE up.id = events.event_id)
         RETURNING 1)
     SELECT count(*) AS linked,
            CASE WHEN $19::float8 IS NOT NULL THEN EXISTS (
              SELECT 1 FROM events
              WHERE published_at IS NULL AND publish_failed_at IS NULL
                AND created_at <= now() - make_interval(secs => $19::float8)
                AND (publish_lease IS NULL OR publish_lease < now())) END AS stale
     FROM link
