-- The Node baseline's connect sequence (BASELINE_FULL=1), one round trip:
-- the user's row ($1) and its contacts C of behaviors.md §3 (an accepted
-- friendship or any conversation, minus a block either way), each with
-- pending_outgoing = reached only through a pending request the user sent (P).
-- A user without contacts still gets one row (other_id NULL).
WITH contacts AS (
    SELECT c.other_id, bool_and(c.outgoing) AS pending_outgoing
    FROM (
        SELECT CASE WHEN requester_id = $1::uuid THEN addressee_id ELSE requester_id END,
               false
        FROM friendships
        WHERE status = 'accepted' AND (requester_id = $1::uuid OR addressee_id = $1::uuid)
        UNION ALL
        SELECT CASE WHEN participant_a = $1::uuid THEN participant_b ELSE participant_a END,
               status = 'pending' AND initiator_id = $1::uuid
        FROM conversations
        WHERE participant_a = $1::uuid OR participant_b = $1::uuid
    ) AS c (other_id, outgoing)
    WHERE NOT EXISTS (
        SELECT 1 FROM friendships b
        WHERE b.status = 'blocked'
          AND ((b.requester_id = $1::uuid AND b.addressee_id = c.other_id)
               OR (b.requester_id = c.other_id AND b.addressee_id = $1::uuid)))
    GROUP BY c.other_id
)
SELECT u.id, u.username, u.display_name, u.profile_image, u.is_guest,
       u.privacy_online_status, contacts.other_id, contacts.pending_outgoing
FROM users u LEFT JOIN contacts ON true
WHERE u.id = $1::uuid
