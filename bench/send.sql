-- The one statement both baseline servers run per message:send: look up the
-- pair's conversation and insert the message (idempotent on the sender's
-- temp id), in one round trip. $1 sender, $2 recipient, $3 content,
-- $4 temp id, $5 recipient online.
WITH conv AS (
    SELECT id, status FROM conversations
    WHERE participant_a = LEAST($1::uuid, $2::uuid)
      AND participant_b = GREATEST($1::uuid, $2::uuid)
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
