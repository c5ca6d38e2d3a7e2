-- ancestors($1 = event id, $2 = max depth): the event (level 1), its parent (level 2), and so on
-- up to the root, ordered by level.
--
-- Indexes: the primary key for every step (each one looks up previous_event_id).
--
-- Cycle-safe and depth-capped exactly as chain.sql: `path` stops a walk that comes back to an id
-- already seen (is_cycle = true), and a row of level $2 + 1 only tells the caller that the cap
-- was hit.
WITH RECURSIVE up AS (
    SELECT e.event_id, e.previous_event_id, 1 AS level, ARRAY[e.event_id] AS path,
           false AS is_cycle
    FROM events e
    WHERE e.event_id = $1
  UNION ALL
    SELECT e.event_id, e.previous_event_id, u.level + 1, u.path || e.event_id,
           e.event_id = ANY (u.path)
    FROM up u
    JOIN events e ON e.event_id = u.previous_event_id
    WHERE NOT u.is_cycle AND u.level <= $2
)
SELECT e.event_id, e.client_id, e.previous_event_id, e.user_id, e.entity_id, e.entity_type,
       e.event_type, e.source, e.campaign_id, e.points_awarded, e.session_id, e.occurred_at,
       e.metadata, e.extra_fields, e.created_at, nullif(e.published_at, '-infinity') AS published_at,
       u.level, u.is_cycle
FROM up u
JOIN events e ON e.event_id = u.event_id
ORDER BY u.level
