-- chatr_visible_peers(u): C(u) − P(u) of behaviors.md §3 as text ids in uuid order.
--
-- C(u) is everyone u shares an accepted friendship or any conversation with,
-- minus blocks either way; P(u) those reached only through a pending
-- conversation u initiated (the rules of `connected` in friendships.sql).
-- These are the users who see u's live status: the connect sequence announces
-- u to them and snapshots them, the last disconnect tells them u went offline.
-- One function so the batched statements of both (socket_logins and
-- socket_logouts in users.sql) apply the same rules.
CREATE OR REPLACE FUNCTION chatr_visible_peers(u uuid) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(e.other_id::text ORDER BY e.other_id)
                    FILTER (WHERE NOT e.pending_outgoing), '{}')
    FROM (
        SELECT other_id, bool_and(outgoing_pending) AS pending_outgoing
        FROM (
            SELECT CASE WHEN f.requester_id = u THEN f.addressee_id ELSE f.requester_id END,
                   false
            FROM friendships f
            WHERE f.status = 'accepted' AND (f.requester_id = u OR f.addressee_id = u)
            UNION ALL
            SELECT CASE WHEN c.participant_a = u THEN c.participant_b ELSE c.participant_a END,
                   c.status = 'pending' AND c.initiator_id = u
            FROM conversations c
            WHERE c.participant_a = u OR c.participant_b = u
        ) AS everyone(other_id, outgoing_pending)
        WHERE other_id NOT IN (
            SELECT CASE WHEN b.requester_id = u THEN b.addressee_id ELSE b.requester_id END
            FROM friendships b
            WHERE b.status = 'blocked' AND (b.requester_id = u OR b.addressee_id = u)
        )
        GROUP BY other_id
    ) AS e
$$;
