-- Direct messages: history pages, the conversation list, file messages, waveforms.
-- Every pair lookup goes through messages_pair_created_idx
-- (user_lo, user_hi, created_at DESC, id DESC): pass LEAST/GREATEST of the two ids.


-- name: history_anchor
-- The (created_at, id) keyset position of a `before` message, only within the pair.
SELECT created_at, id FROM messages
WHERE id = $1 AND user_lo = $2 AND user_hi = $3

-- name: history_latest
-- $1 user_lo, $2 user_hi, $3 page size. Newest first.
SELECT m.id, m.sender_id, m.recipient_id, m.content, m.type, m.status, m.is_read, m.read_at,
       m.created_at, m.file_url, m.file_name, m.file_size, m.file_type, m.audio_waveform,
       m.audio_duration, m.deleted_at, m.edited, m.edited_at, m.link_preview, m.reply_to_id,
       m.reply_to_content, m.reply_to_sender_name, m.reply_to_type, m.reply_to_duration,
       u.username AS sender_username, u.display_name AS sender_display_name,
       u.profile_image AS sender_profile_image
FROM messages m
JOIN users u ON u.id = m.sender_id
WHERE m.user_lo = $1 AND m.user_hi = $2
ORDER BY m.created_at DESC, m.id DESC
LIMIT $3

-- name: history_before
-- $1 user_lo, $2 user_hi, $3 anchor created_at, $4 anchor id, $5 page size.
-- The row comparison is an index condition on the pair index (keyset, no OFFSET).
SELECT m.id, m.sender_id, m.recipient_id, m.content, m.type, m.status, m.is_read, m.read_at,
       m.created_at, m.file_url, m.file_name, m.file_size, m.file_type, m.audio_waveform,
       m.audio_duration, m.deleted_at, m.edited, m.edited_at, m.link_preview, m.reply_to_id,
       m.reply_to_content, m.reply_to_sender_name, m.reply_to_type, m.reply_to_duration,
       u.username AS sender_username, u.display_name AS sender_display_name,
       u.profile_image AS sender_profile_image
FROM messages m
JOIN users u ON u.id = m.sender_id
WHERE m.user_lo = $1 AND m.user_hi = $2
  AND (m.created_at, m.id) < ($3::timestamptz, $4::uuid)
ORDER BY m.created_at DESC, m.id DESC
LIMIT $5

-- name: reactions_for
SELECT r.message_id, r.user_id, u.username, r.emoji
FROM message_reactions r
JOIN users u ON u.id = r.user_id
WHERE r.message_id = ANY($1::uuid[])
ORDER BY r.created_at, r.id

-- name: mark_read
-- The page's unread messages addressed to $2; the status column is left alone.
UPDATE messages SET is_read = true, read_at = now()
WHERE id = ANY($1::uuid[]) AND recipient_id = $2 AND NOT is_read

-- name: by_id
SELECT id, sender_id, recipient_id, type, file_url, file_name, file_type, audio_duration,
       deleted_at
FROM messages WHERE id = $1

-- name: set_waveform
-- $3 NULL keeps the stored duration.
UPDATE messages
SET audio_waveform = $2, audio_duration = COALESCE($3, audio_duration)
WHERE id = $1
RETURNING sender_id, recipient_id, audio_duration

-- name: set_detected_duration
-- Background duration detection: fills the duration only if nobody set one, and
-- leaves the waveform alone (the client may have PATCHed a real one meanwhile).
UPDATE messages SET audio_duration = $2
WHERE id = $1 AND audio_duration IS NULL
RETURNING sender_id, recipient_id, audio_waveform, audio_duration

-- name: insert_file_message
-- $1 sender, $2 recipient, $3 content, $4 type, $5 url, $6 name, $7 size, $8 mime,
-- $9 waveform, $10 duration
INSERT INTO messages (sender_id, recipient_id, content, type, status, file_url, file_name,
                      file_size, file_type, audio_waveform, audio_duration)
VALUES ($1, $2, $3, $4, 'sent', $5, $6, $7, $8, $9, $10)
RETURNING id, created_at

-- name: ensure_conversation
-- Get-or-create the pair's row: accepted when already friends, else a request
-- from $1. An existing row is left untouched.
INSERT INTO conversations (participant_a, participant_b, initiator_id, status)
VALUES (LEAST($1::uuid, $2::uuid), GREATEST($1::uuid, $2::uuid), $1,
        CASE WHEN EXISTS (
            SELECT 1 FROM friendships f
            WHERE f.status = 'accepted'
              AND ((f.requester_id = $1 AND f.addressee_id = $2)
                   OR (f.requester_id = $2 AND f.addressee_id = $1)))
        THEN 'accepted' ELSE 'pending' END)
ON CONFLICT (participant_a, participant_b) DO NOTHING

-- name: conversation_list
-- One row per DM partner of $1 with at least one non-unsent message.
-- Partners come from the conversations table (both sides, by index) plus, for
-- pairs that have messages but no conversation row, a skip scan over the pair
-- columns (one index probe per distinct partner, not one per message). Each
-- partner then costs one probe for the newest message (pair index), one count
-- on the unread partial index and one friendship lookup.
WITH RECURSIVE
lo_side AS (
    (SELECT m.user_hi AS partner FROM messages m
     WHERE m.user_lo = $1 ORDER BY m.user_hi LIMIT 1)
    UNION ALL
    SELECT (SELECT m.user_hi FROM messages m
            WHERE m.user_lo = $1 AND m.user_hi > s.partner ORDER BY m.user_hi LIMIT 1)
    FROM lo_side s WHERE s.partner IS NOT NULL
),
hi_side AS (
    (SELECT m.user_lo AS partner FROM messages m
     WHERE m.user_hi = $1 ORDER BY m.user_lo LIMIT 1)
    UNION ALL
    SELECT (SELECT m.user_lo FROM messages m
            WHERE m.user_hi = $1 AND m.user_lo > s.partner ORDER BY m.user_lo LIMIT 1)
    FROM hi_side s WHERE s.partner IS NOT NULL
),
partners AS (
    SELECT c.participant_b AS partner, c.id AS conversation_id, c.status AS conversation_status,
           c.initiator_id
    FROM conversations c WHERE c.participant_a = $1
    UNION ALL
    SELECT c.participant_a, c.id, c.status, c.initiator_id
    FROM conversations c WHERE c.participant_b = $1
    UNION ALL
    SELECT s.partner, NULL::uuid, NULL::text, NULL::uuid
    FROM lo_side s
    WHERE s.partner IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM conversations c
                      WHERE c.participant_a = $1 AND c.participant_b = s.partner)
    UNION ALL
    SELECT s.partner, NULL::uuid, NULL::text, NULL::uuid
    FROM hi_side s
    WHERE s.partner IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM conversations c
                      WHERE c.participant_a = s.partner AND c.participant_b = $1)
)
SELECT u.id, u.username, u.display_name, u.first_name, u.last_name, u.profile_image,
       u.last_seen, u.is_bot, u.is_guest, u.privacy_full_name, u.privacy_online_status,
       p.conversation_id, p.conversation_status, p.initiator_id,
       lm.id AS last_id, lm.content AS last_content, lm.type AS last_type,
       lm.created_at AS last_created_at, lm.sender_id AS last_sender_id,
       lm.is_read AS last_is_read, lm.file_type AS last_file_type,
       uc.unread,
       COALESCE(fr.is_friend, false) AS is_friend, fr.friendship_id,
       COALESCE(fr.is_blocked, false) AS is_blocked,
       COALESCE(fr.blocked_by_me, false) AS blocked_by_me
FROM partners p
JOIN users u ON u.id = p.partner
CROSS JOIN LATERAL (
    SELECT m.id, m.content, m.type, m.created_at, m.sender_id, m.is_read, m.file_type
    FROM messages m
    WHERE m.user_lo = LEAST($1, p.partner) AND m.user_hi = GREATEST($1, p.partner)
      AND m.deleted_at IS NULL
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT 1
) lm
CROSS JOIN LATERAL (
    SELECT count(*) AS unread FROM messages m
    WHERE m.recipient_id = $1 AND m.sender_id = p.partner
      AND NOT m.is_read AND m.deleted_at IS NULL
) uc
CROSS JOIN LATERAL (
    SELECT bool_or(f.status = 'accepted') AS is_friend,
           (array_agg(f.id) FILTER (WHERE f.status = 'accepted'))[1] AS friendship_id,
           bool_or(f.status = 'blocked') AS is_blocked,
           bool_or(f.status = 'blocked' AND f.requester_id = $1) AS blocked_by_me
    FROM friendships f
    WHERE (f.requester_id = $1 AND f.addressee_id = p.partner)
       OR (f.requester_id = p.partner AND f.addressee_id = $1)
) fr
ORDER BY lm.created_at DESC, lm.id DESC
