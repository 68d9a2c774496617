-- User directory: lists, search and profile views as seen by a viewer ($1 unless
-- noted), plus relationship lookups (friendship, blocks, connected users).
-- `viewer_is_friend` drives the privacy filters applied by the service.


-- name: list_users
-- $1 viewer, $2 cap.
SELECT u.id, u.username, u.email, u.email_verified, u.created_at, u.display_name,
       u.first_name, u.last_name, u.profile_image, u.privacy_email, u.privacy_full_name,
       u.privacy_joined_date,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'accepted'
                 AND ((f.requester_id = $1 AND f.addressee_id = u.id)
                      OR (f.requester_id = u.id AND f.addressee_id = $1))) AS viewer_is_friend
FROM users u
WHERE u.email_verified
ORDER BY u.username
LIMIT $2

-- name: search_users
-- $1 viewer, $2 LIKE pattern (already escaped, with % around), $3 cap.
-- First and last names only match when the viewer may see them (privacyFullName).
-- The friendship ref hides a block row from the blocked party (SEC-14).
WITH candidates AS (
    SELECT u.id, u.username, u.display_name, u.first_name, u.last_name, u.profile_image,
           u.last_seen, u.is_bot, u.is_guest, u.privacy_full_name, u.privacy_online_status,
           EXISTS (SELECT 1 FROM friendships f
                   WHERE f.status = 'accepted'
                     AND ((f.requester_id = $1 AND f.addressee_id = u.id)
                          OR (f.requester_id = u.id AND f.addressee_id = $1)))
               AS viewer_is_friend
    FROM users u
    WHERE u.email_verified AND NOT u.is_guest AND NOT u.is_bot AND u.id <> $1
)
SELECT c.*, fr.id AS friendship_id, fr.status AS friendship_status,
       fr.requester_id AS friendship_requester_id
FROM candidates c
LEFT JOIN LATERAL (
    SELECT f.id, f.status, f.requester_id FROM friendships f
    WHERE ((f.requester_id = $1 AND f.addressee_id = c.id)
           OR (f.requester_id = c.id AND f.addressee_id = $1))
      AND NOT (f.status = 'blocked' AND f.addressee_id = $1)
    ORDER BY (f.status = 'blocked') DESC, (f.status = 'accepted') DESC, f.created_at
    LIMIT 1
) fr ON true
WHERE c.username ILIKE $2 ESCAPE '\'
   OR c.display_name ILIKE $2 ESCAPE '\'
   OR ((c.privacy_full_name = 'everyone'
        OR (c.privacy_full_name = 'friends' AND c.viewer_is_friend))
       AND (c.first_name ILIKE $2 ESCAPE '\' OR c.last_name ILIKE $2 ESCAPE '\'))
ORDER BY c.viewer_is_friend DESC, lower(COALESCE(c.display_name, c.username)), c.username
LIMIT $3

-- name: profile_view
-- $1 viewer, $2 target id.
SELECT u.id, u.username, u.email, u.phone_number, u.display_name, u.first_name, u.last_name,
       u.profile_image, u.cover_image, u.last_seen, u.email_verified, u.gender, u.created_at,
       u.privacy_online_status, u.privacy_phone, u.privacy_email, u.privacy_full_name,
       u.privacy_gender, u.privacy_joined_date,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'accepted'
                 AND ((f.requester_id = $1 AND f.addressee_id = u.id)
                      OR (f.requester_id = u.id AND f.addressee_id = $1))) AS viewer_is_friend,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'blocked' AND f.requester_id = u.id AND f.addressee_id = $1)
           AS blocked_viewer
FROM users u
WHERE u.id = $2

-- name: profile_by_username
-- $1 viewer, $2 exact username.
SELECT u.id, u.username, u.display_name, u.first_name, u.last_name, u.profile_image,
       u.cover_image, u.last_seen, u.email_verified, u.privacy_full_name,
       u.privacy_online_status,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'accepted'
                 AND ((f.requester_id = $1 AND f.addressee_id = u.id)
                      OR (f.requester_id = u.id AND f.addressee_id = $1))) AS viewer_is_friend,
       EXISTS (SELECT 1 FROM friendships f
               WHERE f.status = 'blocked' AND f.requester_id = u.id AND f.addressee_id = $1)
           AS blocked_viewer
FROM users u
WHERE u.username = $2

-- name: user_exists
SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)

-- name: replace_profile_image
-- Returns the previous URL (so its files can be removed); no row when the user is gone.
UPDATE users u SET profile_image = $2, updated_at = now()
FROM (SELECT id, profile_image FROM users WHERE id = $1 FOR UPDATE) old
WHERE u.id = old.id
RETURNING old.profile_image AS previous

-- name: replace_cover_image
UPDATE users u SET cover_image = $2, updated_at = now()
FROM (SELECT id, cover_image FROM users WHERE id = $1 FOR UPDATE) old
WHERE u.id = old.id
RETURNING old.cover_image AS previous

-- name: clear_profile_image
-- No row when there was no image to clear.
UPDATE users u SET profile_image = NULL, updated_at = now()
FROM (SELECT id, profile_image FROM users WHERE id = $1 FOR UPDATE) old
WHERE u.id = old.id AND old.profile_image IS NOT NULL
RETURNING old.profile_image AS previous

-- name: clear_cover_image
UPDATE users u SET cover_image = NULL, updated_at = now()
FROM (SELECT id, cover_image FROM users WHERE id = $1 FOR UPDATE) old
WHERE u.id = old.id AND old.cover_image IS NOT NULL
RETURNING old.cover_image AS previous
