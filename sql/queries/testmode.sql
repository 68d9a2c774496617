-- Cleanup used by the web client's end-to-end suite while test mode is on.

-- name: delete_e2e_messages
-- $1 caller, $2 recipient, $3 content prefixes (LIKE patterns), $4 test file names
DELETE FROM messages
WHERE user_lo = LEAST($1::uuid, $2::uuid) AND user_hi = GREATEST($1::uuid, $2::uuid)
  AND (content LIKE ANY($3::text[])
       OR file_name = ANY($4::text[])
       OR (content = 'Voice message' AND file_name LIKE 'voice-%'))

-- name: delete_pair_conversation_if_empty
DELETE FROM conversations c
WHERE c.participant_a = LEAST($1::uuid, $2::uuid) AND c.participant_b = GREATEST($1::uuid, $2::uuid)
  AND NOT EXISTS (SELECT 1 FROM messages m
                  WHERE m.user_lo = c.participant_a AND m.user_hi = c.participant_b)

-- name: count_e2e_group_messages
SELECT count(*) FROM group_messages gm JOIN groups g ON g.id = gm.group_id
WHERE g.name LIKE ANY($1::text[])

-- name: delete_e2e_groups
DELETE FROM groups WHERE name LIKE ANY($1::text[])

-- name: restore_images
UPDATE users
SET profile_image = CASE WHEN $2 THEN $3 ELSE profile_image END,
    cover_image   = CASE WHEN $4 THEN $5 ELSE cover_image END,
    updated_at    = now()
WHERE id = $1
