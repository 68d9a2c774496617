-- The realtime message path: sends (through the functions of migration 0006)
-- and receipts. Receipts only ever move a status forward (sent → delivered →
-- read) and only the recipient may move it.

-- name: send_dm
SELECT * FROM chatr_send_dm($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)

-- name: send_group
SELECT * FROM chatr_send_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)

-- name: mark_delivered
-- Returns the sender and whether the pair's conversation is still pending.
WITH updated AS (
    UPDATE messages SET status = 'delivered'
    WHERE id = $1 AND recipient_id = $2 AND status = 'sent'
    RETURNING sender_id, recipient_id
)
SELECT u.sender_id,
       COALESCE(c.status = 'pending', false) AS pending
FROM updated u
LEFT JOIN conversations c
       ON c.participant_a = LEAST(u.sender_id, u.recipient_id)
      AND c.participant_b = GREATEST(u.sender_id, u.recipient_id)

-- name: mark_read
WITH updated AS (
    UPDATE messages SET status = 'read', is_read = true, read_at = COALESCE(read_at, now())
    WHERE id = $1 AND recipient_id = $2 AND status <> 'read'
    RETURNING sender_id, recipient_id
)
SELECT u.sender_id,
       COALESCE(c.status = 'pending', false) AS pending
FROM updated u
LEFT JOIN conversations c
       ON c.participant_a = LEAST(u.sender_id, u.recipient_id)
      AND c.participant_b = GREATEST(u.sender_id, u.recipient_id)

-- name: pair_relation
-- The pair's conversation (if any) and whether a block exists either way.
SELECT c.status AS conversation_status,
       c.initiator_id,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'blocked'
                 AND ((f.requester_id = $1 AND f.addressee_id = $2)
                      OR (f.requester_id = $2 AND f.addressee_id = $1))) AS blocked
FROM (SELECT 1) AS one
LEFT JOIN conversations c
       ON c.participant_a = LEAST($1::uuid, $2::uuid) AND c.participant_b = GREATEST($1::uuid, $2::uuid)

-- name: message_sender_for_recipient
SELECT sender_id FROM messages WHERE id = $1 AND recipient_id = $2

-- name: group_membership
SELECT status FROM group_members WHERE group_id = $1 AND user_id = $2

-- name: socket_user
SELECT id, username, display_name, profile_image, is_guest, privacy_online_status
FROM users WHERE id = $1

-- name: set_last_seen
UPDATE users SET last_seen = $2 WHERE id = $1

-- name: last_seen_many
SELECT id, last_seen, privacy_online_status FROM users WHERE id = ANY($1::uuid[])

-- name: unsend_group_message
UPDATE group_messages SET deleted_at = now()
WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL
RETURNING group_id

-- name: send_dm_batch
-- Many sends in one statement (group commit): the same function per row, in
-- arrival order, all committed together.
SELECT r.*
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::bigint[], $8::text[], $9::jsonb[], $10::float8[], $11::jsonb[], $12::uuid[],
            $13::text[], $14::uuid[], $15::bool[])
     WITH ORDINALITY AS t(sender, recipient, content, type, file_url, file_name, file_size,
                          file_type, waveform, duration, link_preview, reply_to, temp_id,
                          message_id, online, n)
CROSS JOIN LATERAL chatr_send_dm(t.sender, t.recipient, t.content, t.type, t.file_url,
                                 t.file_name, t.file_size, t.file_type, t.waveform, t.duration,
                                 t.link_preview, t.reply_to, t.temp_id, t.message_id, t.online) r
ORDER BY t.n

-- name: send_dm_batch_plain
-- The plain sends of a group-committed batch, set-based (migration 0008);
-- $1 is a JSON array of objects, see MessagingRepo.send_dm_batch_plain.
SELECT * FROM chatr_send_dm_plain($1)
