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

-- name: last_seen_many
SELECT id, last_seen, privacy_online_status FROM users WHERE id = ANY($1::uuid[])

-- name: unsend_group_message
UPDATE group_messages SET deleted_at = now()
WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL
RETURNING group_id

-- name: send_dm_batch
-- Many sends in one statement (group commit): the same function per row, in
-- arrival order, all committed together. $1 is a JSON array of objects (see
-- MessagingRepo.batch_json); JSON rather than one array per column because
-- asyncpg would read a waveform (a list) inside a jsonb[] as another array
-- dimension. A row that accepts a pending conversation locks it; rows arrive in
-- any order, so the batch's pending conversations are locked first, in
-- (participant_a, participant_b) order (`locked`, forced before the first row
-- by the count): two writers (two nodes) accepting the same conversations then
-- wait for each other instead of deadlocking.
WITH input AS MATERIALIZED (
    SELECT e.pos, x.*
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(item, pos)
    CROSS JOIN LATERAL jsonb_to_record(e.item)
         AS x(sender uuid, recipient uuid, body text, kind text, f_url text, f_name text,
              f_size bigint, f_type text, waveform jsonb, duration double precision,
              preview jsonb, reply_to uuid, temp_id text, message_id uuid, online boolean)
), locked AS MATERIALIZED (
    SELECT cv.id
    FROM conversations cv
    WHERE (cv.participant_a, cv.participant_b) IN (
              SELECT LEAST(i.sender, i.recipient), GREATEST(i.sender, i.recipient)
              FROM input i)
      AND cv.status = 'pending'
    ORDER BY cv.participant_a, cv.participant_b
    FOR NO KEY UPDATE
)
SELECT r.*
FROM input t
CROSS JOIN LATERAL chatr_send_dm(t.sender, t.recipient, t.body, t.kind, t.f_url, t.f_name,
                                 t.f_size, t.f_type, t.waveform, t.duration, t.preview,
                                 t.reply_to, t.temp_id, t.message_id, t.online) r
WHERE (SELECT count(*) FROM locked) >= 0
ORDER BY t.pos

-- name: send_group_batch
-- Many group sends in one statement (group commit), as send_dm_batch: chatr_send_group
-- per row, in arrival order, all committed together. $1: see
-- MessagingRepo.group_batch_json.
SELECT r.*
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(item, pos)
CROSS JOIN LATERAL jsonb_to_record(e.item)
     AS t(sender uuid, grp uuid, body text, kind text, f_url text, f_name text,
          f_size bigint, f_type text, waveform jsonb, duration double precision, preview jsonb,
          temp_id text, message_id uuid)
CROSS JOIN LATERAL chatr_send_group(t.sender, t.grp, t.body, t.kind, t.f_url, t.f_name,
                                    t.f_size, t.f_type, t.waveform, t.duration, t.preview,
                                    t.temp_id, t.message_id) r
ORDER BY e.pos

-- name: send_dm_batch_set
-- The set-based part of a group-committed batch (migration 0011): plain sends
-- on accepted conversations, and first messages, requests, their replies,
-- blocks and unknown recipients of plain sends. $1 is the whole batch as a JSON
-- array of objects (see MessagingRepo.batch_json); one row per input it
-- settled, `n` its 1-based position.
SELECT p.n, (p.result).* FROM chatr_send_dm_batch($1) AS p
