WITH t AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[],
                 $12::timestamptz[], $13::jsonb[], $14::jsonb[], $15::uuid[], $16::bool[])
           AS t(event_id, client_id, previous_event_id, user_id, entity_id, entity_type,
                event_type, source, campaign_id, points_awarded, session_id, occurred_at,
                metadata, extra_fields, unresolved_previous_event_id, on_bus)),
     go AS (
         SELECT count(*) = cardinality($17::uuid[]) AS ok
         FROM events WHERE event_id = ANY($17::uuid[])),
     ins AS (
         INSERT INTO events (event_id, client_id, previous_event_id, user_id, entity_id,
             entity_type, event_type, source, campaign_id, points_awarded, session_id,
             occurred_at, metadata, extra_fields, unresolved_previous_event_id, published_at,
             publish_lease)
         SELECT t.event_id, t.client_id, t.previous_event_id, t.user_id, t.entity_id,
             t.entity_type, t.event_type, t.source, t.campaign_id, t.points_awarded,
             t.session_id, t.occurred_at, t.metadata, t.extra_fields,
             t.unresolved_previous_event_id, CASE WHEN t.on_bus THEN now() END,
             CASE WHEN NOT t.on_bus THEN now() + make_interval(secs => $18::float8) END
         FROM t
         WHERE (SELECT ok FROM go)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id, publish_lease IS NOT NULL AS leased),
     link AS (
         UPDATE events
         SET previous_event_id = unresolved_previous_event_id,
             unresolved_previous_event_id = NULL
         WHERE unresolved_previous_event_id IN (SELECT event_id FROM ins)
           AND EXISTS (SELECT 1 FROM events WHERE unresolved_previous_event_id IS NOT NULL)
           -- Never close a cycle: the child must not be an ancestor of its late parent (the
           -- parent's ancestors are new rows of this statement or stored ones).
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
     SELECT event_id, 0 AS kind, leased AS flag, 0::int8 AS linked, NULL::bool AS stale FROM ins
     UNION ALL
     SELECT e.event_id, 1, e.published_at IS NOT NULL OR e.publish_failed_at IS NOT NULL,
            CASE WHEN (e.client_id, coalesce(e.previous_event_id, e.unresolved_previous_event_id),
                       e.user_id, e.entity_id, e.entity_type, e.event_type, e.source,
                       e.campaign_id, e.points_awarded, e.session_id, e.occurred_at, e.metadata)
                  IS DISTINCT FROM
                      (t.client_id, coalesce(t.previous_event_id, t.unresolved_previous_event_id),
                       t.user_id, t.entity_id, t.entity_type, t.event_type, t.source,
                       t.campaign_id, t.points_awarded, t.session_id, t.occurred_at, t.metadata)
                 THEN 1 ELSE 0 END::int8,
            NULL
     FROM events e JOIN t USING (event_id)
     WHERE e.event_id = ANY($1::uuid[])
       AND (SELECT count(*) FROM ins) < cardinality($1::uuid[])
     UNION ALL
     SELECT event_id, 3, false, 0, NULL FROM events
     WHERE event_id = ANY($17::uuid[]) AND NOT (SELECT ok FROM go)
     UNION ALL
     SELECT NULL, 2, (SELECT ok FROM go), count(*),
            CASE WHEN $19::float8 IS NOT NULL THEN EXISTS (
              SELECT 1 FROM events
              WHERE published_at IS NULL AND publish_failed_at IS NULL
                AND created_at <= now() - make_interval(secs => $19::float8)
                AND (publish_lease IS NULL OR publish_lease < now())) END
     FROM link
