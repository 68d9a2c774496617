-- Reactions, edits and unsend of direct messages (behaviors.md §6).

-- name: participants
SELECT id, sender_id, recipient_id, type, deleted_at, content
FROM messages WHERE id = $1

-- name: remove_same_reaction
DELETE FROM message_reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3
RETURNING id

-- name: upsert_reaction
INSERT INTO message_reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)
ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = EXCLUDED.emoji, created_at = now()

-- name: reactions
SELECT r.user_id, u.username, r.emoji
FROM message_reactions r JOIN users u ON u.id = r.user_id
WHERE r.message_id = $1
ORDER BY r.created_at, r.id

-- name: record_edit
INSERT INTO message_edits (message_id, edited_by_id, previous_content) VALUES ($1, $2, $3)

-- name: apply_edit
UPDATE messages SET content = $2, edited = true, edited_at = now()
WHERE id = $1
RETURNING edited_at

-- name: unsend
UPDATE messages SET deleted_at = now()
WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL
RETURNING recipient_id

-- name: edits
SELECT e.id, e.previous_content, e.edited_at, u.id AS editor_id, u.username, u.display_name
FROM message_edits e JOIN users u ON u.id = e.edited_by_id
WHERE e.message_id = $1
ORDER BY e.edited_at, e.id
