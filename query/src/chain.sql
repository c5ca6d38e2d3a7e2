-- chain($1 = event id, $2 = max depth): the event (level 1) and every descendant along
-- previous_event_id, ordered by level, then time.
--
-- Indexes: the start by the primary key, each step down by idx_events_prev (previous_event_id),
-- the final join by the primary key.
--
-- Cycle-safe: `path` holds the ids on the way down; a step onto one of them is kept with
-- is_cycle = true (so the caller can say so) and not followed. The schema's foreign key cannot
-- prevent a cycle (A -> B -> A is two valid links), so old or hand-written data may hold one.
--
-- Depth-capped: rows down to level $2 + 1 are produced; the caller returns levels 1..$2 and
-- reports `truncated` when a row of level $2 + 1 exists.
WITH RECURSIVE chain AS (
    SELECT e.event_id, 1 AS level, ARRAY[e.event_id] AS path, false AS is_cycle
    FROM events e
    WHERE e.event_id = $1
  UNION ALL
    SELECT e.event_id, c.level + 1, c.path || e.event_id, e.event_id = ANY (c.path)
    FROM chain c
    JOIN events e ON e.previous_event_id = c.event_id
    WHERE NOT c.is_cycle AND c.level <= $2
)
SELECT e.event_id, e.client_id, e.previous_event_id, e.user_id, e.entity_id, e.entity_type,
       e.event_type, e.source, e.campaign_id, e.points_awarded, e.session_id, e.occurred_at,
       e.metadata, e.extra_fields, e.created_at, nullif(e.published_at, '-infinity') AS published_at,
       c.level, c.is_cycle
FROM chain c
JOIN events e ON e.event_id = c.event_id
ORDER BY c.level, e.occurred_at, e.event_id
