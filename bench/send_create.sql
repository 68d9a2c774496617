-- bench/send.sql plus the conversation: the Node baseline's full mode
-- (BASELINE_FULL=1) creates the pair's conversation when there is none, in
-- the same round trip: accepted when the two have an accepted friendship,
-- else pending (a message request), as chatr_server does, and a reply by the
-- recipient of a pending request accepts it (without chatr_server's
-- conversation:accepted event). A first contact is stored with status 'sent'.
-- $1 sender, $2 recipient, $3 content, $4 temp id, $5 recipient online.
WITH found AS (
    SELECT id, status, initiator_id FROM conversations
    WHERE participant_a = LEAST($1::uuid, $2::uuid)
      AND participant_b = GREATEST($1::uuid, $2::uuid)
), created AS (
    INSERT INTO conversations (participant_a, participant_b, initiator_id, status)
    SELECT LEAST($1::uuid, $2::uuid), GREATEST($1::uuid, $2::uuid), $1::uuid,
           CASE WHEN EXISTS (
               SELECT 1 FROM friendships f
               WHERE f.status = 'accepted'
                 AND ((f.requester_id = $1::uuid AND f.addressee_id = $2::uuid)
                      OR (f.requester_id = $2::uuid AND f.addressee_id = $1::uuid)))
                THEN 'accepted' ELSE 'pending' END
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (participant_a, participant_b) DO NOTHING
    RETURNING id, status
), accepted AS (
    UPDATE conversations c SET status = 'accepted', updated_at = now()
    FROM found
    WHERE c.id = found.id AND found.status = 'pending' AND found.initiator_id <> $1::uuid
    RETURNING c.id
), conv AS (
    SELECT found.id,
           CASE WHEN accepted.id IS NULL THEN found.status ELSE 'accepted' END AS status
    FROM found LEFT JOIN accepted ON true
    UNION ALL
    SELECT id, status FROM created
), ins AS (
    INSERT INTO messages (sender_id, recipient_id, content, type, status, temp_id)
    SELECT $1::uuid, $2::uuid, $3::text, 'text',
           CASE WHEN $5::boolean AND conv.status = 'accepted' THEN 'delivered' ELSE 'sent' END,
           $4::text
    FROM (SELECT 1) AS one LEFT JOIN conv ON true
    ON CONFLICT (sender_id, temp_id) DO NOTHING
    RETURNING id, sender_id, recipient_id, content, type, status, created_at
)
SELECT ins.id, ins.sender_id, ins.recipient_id, ins.content, ins.type, ins.status,
       ins.created_at, conv.id AS conversation_id, conv.status AS conversation_status
FROM ins LEFT JOIN conv ON true
