-- Support inbox (admin routes) and the support-agent command.


-- name: is_support
SELECT is_support FROM users WHERE id = $1

-- name: widget_contacts
-- Every guest, newest first, with message counts and the guest's first message.
SELECT u.id, u.display_name, u.contact_email, u.created_at,
       (SELECT count(*) FROM messages s WHERE s.sender_id = u.id)
       + (SELECT count(*) FROM messages r WHERE r.recipient_id = u.id) AS total_messages,
       f.content AS first_content, f.created_at AS first_created_at
FROM users u
LEFT JOIN LATERAL (
    SELECT m.content, m.created_at
    FROM messages m
    WHERE m.sender_id = u.id AND m.deleted_at IS NULL
    ORDER BY m.created_at, m.id
    LIMIT 1
) f ON true
WHERE u.is_guest
ORDER BY u.created_at DESC, u.id

-- name: guest
SELECT id, display_name, contact_email, widget_context
FROM users
WHERE id = $1 AND is_guest

-- name: guest_messages
-- Every message to or from the guest, oldest first; unsent ones keep their
-- place but not their text.
SELECT m.id, CASE WHEN m.deleted_at IS NULL THEN m.content ELSE '' END AS content,
       m.file_url, m.type, m.sender_id, m.recipient_id, m.created_at,
       s.display_name AS sender_display_name, s.is_guest AS sender_is_guest,
       s.is_support AS sender_is_support
FROM messages m
JOIN users s ON s.id = m.sender_id
WHERE m.sender_id = $1 OR m.recipient_id = $1
ORDER BY m.created_at, m.id

-- name: delete_guest
-- Messages and conversations of the guest cascade with the account.
DELETE FROM users WHERE id = $1 AND is_guest RETURNING id

-- name: sender_card
SELECT display_name, is_guest, is_support FROM users WHERE id = $1

-- name: verified_account_by_email
SELECT id, username, email, email_verified, is_guest, is_support
FROM users
WHERE lower(email) = lower($1)
ORDER BY email_verified DESC, created_at
LIMIT 1

-- name: clear_other_support
UPDATE users SET is_support = false, updated_at = now()
WHERE is_support AND id <> $1
RETURNING username

-- name: make_support
UPDATE users SET is_support = true, updated_at = now() WHERE id = $1
