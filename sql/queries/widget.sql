-- Support widget: guests, the support agent, and guest-side messages.


-- name: support_agent
-- "The" agent: the first verified account flagged isSupport.
SELECT id, username, display_name, profile_image
FROM users
WHERE is_support AND email_verified
ORDER BY created_at, id
LIMIT 1

-- name: guest_for_resume
SELECT id, display_name, guest_resume_nonce
FROM users
WHERE id = $1 AND is_guest

-- name: insert_guest
-- $1 username, $2 display name, $3 unusable password hash, $4 contact email,
-- $5 widget context, $6 resume nonce.
INSERT INTO users (username, display_name, password_hash, email_verified, is_guest,
                   privacy_online_status, contact_email, widget_context, guest_resume_nonce)
VALUES ($1, $2, $3, true, true, 'nobody', $4, $5, $6)
RETURNING id, display_name, guest_resume_nonce

-- name: resume_guest
-- Absent contact email / context ($3 / $4 null) keep the stored values.
UPDATE users
SET display_name = $2,
    contact_email = COALESCE($3, contact_email),
    widget_context = COALESCE($4, widget_context),
    guest_resume_nonce = COALESCE(guest_resume_nonce, $5),
    updated_at = now()
WHERE id = $1 AND is_guest
RETURNING id, display_name, guest_resume_nonce

-- name: guest_identity
SELECT id, display_name, username, is_guest
FROM users
WHERE id = $1

-- name: history
-- The first 100 messages between guest and agent; system notes and unsent
-- messages are never shown to the guest.
SELECT id, sender_id, recipient_id, content, type, file_url, file_name, file_size,
       file_type, audio_waveform, audio_duration, created_at
FROM messages
WHERE user_lo = LEAST($1::uuid, $2::uuid)
  AND user_hi = GREATEST($1::uuid, $2::uuid)
  AND type <> 'system'
  AND deleted_at IS NULL
ORDER BY created_at, id
LIMIT 100

-- name: insert_message
-- $1 sender, $2 recipient, $3 content, $4 type, $5..$8 file url/name/size/type.
INSERT INTO messages (sender_id, recipient_id, content, type, file_url, file_name,
                      file_size, file_type)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, sender_id, recipient_id, content, type, file_url, file_name, file_size,
          file_type, created_at

-- name: conversation_for_pair
-- Get-or-create with the pair sorted (migration 0006's function).
SELECT id, status FROM chatr_dm_conversation($1::uuid, $2::uuid)

-- name: accept_conversation
UPDATE conversations
SET status = 'accepted', updated_at = now()
WHERE id = $1 AND status <> 'accepted'

-- name: delete_stale_guests
-- Guests older than $1 seconds that never got a conversation row; their
-- messages go with them (foreign keys cascade).
DELETE FROM users u
WHERE u.is_guest
  AND u.created_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (
      SELECT 1 FROM conversations c
      WHERE c.participant_a = u.id OR c.participant_b = u.id)
RETURNING u.id
