-- Message attachments: who may read them (SEC-17).

-- name: readable_urls
-- Stored URLs of live (not unsent) attachments whose file name is $2 and that
-- user $1 may read: a DM they sent or received, or a message of a group they
-- are an accepted member of. The caller matches the full storage key.
SELECT m.file_url
FROM messages m
WHERE substring(m.file_url FROM '[^/]*$') = $2
  AND m.file_url IS NOT NULL
  AND m.deleted_at IS NULL
  AND (m.sender_id = $1 OR m.recipient_id = $1)
UNION ALL
SELECT g.file_url
FROM group_messages g
JOIN group_members gm
  ON gm.group_id = g.group_id AND gm.user_id = $1 AND gm.status = 'accepted'
WHERE substring(g.file_url FROM '[^/]*$') = $2
  AND g.file_url IS NOT NULL
  AND g.deleted_at IS NULL
LIMIT 16
