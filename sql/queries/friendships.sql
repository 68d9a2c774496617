-- Friendships, friend requests and blocks (one row per direction for blocks,
-- one live row per pair otherwise), plus the privacy columns they govern.
-- User columns needed for a UserCard come back prefixed with u_.


-- name: lock_pair
-- Serialise every relationship change of one unordered pair until commit.
SELECT pg_advisory_xact_lock(
    hashtextextended('friendship:' || LEAST($1::uuid, $2::uuid)::text
                     || GREATEST($1::uuid, $2::uuid)::text, 0))

-- name: user_exists
SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)

-- name: by_id
SELECT id, requester_id, addressee_id, status, created_at, updated_at
FROM friendships WHERE id = $1

-- name: by_id_for_update
SELECT id, requester_id, addressee_id, status, created_at, updated_at
FROM friendships WHERE id = $1
FOR UPDATE

-- name: between
-- Every row of the pair (a live row and/or one block row per direction).
SELECT id, requester_id, addressee_id, status, created_at, updated_at
FROM friendships
WHERE (requester_id = $1 AND addressee_id = $2) OR (requester_id = $2 AND addressee_id = $1)

-- name: insert
INSERT INTO friendships (requester_id, addressee_id, status)
VALUES ($1, $2, $3)
RETURNING id, requester_id, addressee_id, status, created_at, updated_at

-- name: accept
UPDATE friendships SET status = 'accepted', updated_at = now()
WHERE id = $1
RETURNING id, requester_id, addressee_id, status, created_at, updated_at

-- name: delete
DELETE FROM friendships WHERE id = $1

-- name: clear_for_block
-- Before $1 blocks $2: drop $1's own rows and the pair's live row, but never
-- $2's block of $1.
DELETE FROM friendships
WHERE (requester_id = $1 AND addressee_id = $2)
   OR (requester_id = $2 AND addressee_id = $1 AND status <> 'blocked')

-- name: delete_block
DELETE FROM friendships
WHERE requester_id = $1 AND addressee_id = $2 AND status = 'blocked'
RETURNING id

-- name: block_flags
-- (a blocked b, b blocked a)
SELECT COALESCE(bool_or(requester_id = $1), false) AS by_a,
       COALESCE(bool_or(requester_id = $2), false) AS by_b
FROM friendships
WHERE status = 'blocked'
  AND ((requester_id = $1 AND addressee_id = $2) OR (requester_id = $2 AND addressee_id = $1))

-- name: are_friends
SELECT EXISTS (
    SELECT 1 FROM friendships
    WHERE status = 'accepted'
      AND ((requester_id = $1 AND addressee_id = $2) OR (requester_id = $2 AND addressee_id = $1)))

-- name: card_user
SELECT id AS u_id, username AS u_username, display_name AS u_display_name,
       first_name AS u_first_name, last_name AS u_last_name, profile_image AS u_profile_image,
       email AS u_email, privacy_online_status AS u_privacy_online_status,
       privacy_email AS u_privacy_email, privacy_full_name AS u_privacy_full_name
FROM users WHERE id = $1

-- name: list_friends
SELECT f.id, f.requester_id, f.addressee_id, f.status, f.created_at, f.updated_at,
       u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name,
       u.first_name AS u_first_name, u.last_name AS u_last_name,
       u.profile_image AS u_profile_image, u.email AS u_email,
       u.privacy_online_status AS u_privacy_online_status,
       u.privacy_email AS u_privacy_email, u.privacy_full_name AS u_privacy_full_name
FROM friendships f
JOIN users u ON u.id = CASE WHEN f.requester_id = $1 THEN f.addressee_id ELSE f.requester_id END
WHERE f.status = 'accepted' AND (f.requester_id = $1 OR f.addressee_id = $1)
ORDER BY f.updated_at DESC, f.id

-- name: list_incoming
SELECT f.id, f.requester_id, f.addressee_id, f.status, f.created_at, f.updated_at,
       u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name,
       u.first_name AS u_first_name, u.last_name AS u_last_name,
       u.profile_image AS u_profile_image, u.email AS u_email,
       u.privacy_online_status AS u_privacy_online_status,
       u.privacy_email AS u_privacy_email, u.privacy_full_name AS u_privacy_full_name
FROM friendships f JOIN users u ON u.id = f.requester_id
WHERE f.status = 'pending' AND f.addressee_id = $1
ORDER BY f.created_at DESC, f.id

-- name: list_sent
-- $1 requester, $2 status: 'pending' = outgoing requests, 'blocked' = the caller's blocks.
SELECT f.id, f.requester_id, f.addressee_id, f.status, f.created_at, f.updated_at,
       u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name,
       u.first_name AS u_first_name, u.last_name AS u_last_name,
       u.profile_image AS u_profile_image, u.email AS u_email,
       u.privacy_online_status AS u_privacy_online_status,
       u.privacy_email AS u_privacy_email, u.privacy_full_name AS u_privacy_full_name
FROM friendships f JOIN users u ON u.id = f.addressee_id
WHERE f.status = $2 AND f.requester_id = $1
ORDER BY f.created_at DESC, f.id

-- name: search
-- $1 caller, $2 needle, $3 limit. Plain substring tests (no LIKE wildcards
-- from user input); names only match when the caller may see them, and
-- email never matches (SEC-6). f = the row the caller may see: their own
-- rows and live rows, never someone else's block of the caller (SEC-14).
SELECT u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name,
       u.first_name AS u_first_name, u.last_name AS u_last_name,
       u.profile_image AS u_profile_image, u.email AS u_email,
       u.privacy_online_status AS u_privacy_online_status,
       u.privacy_email AS u_privacy_email, u.privacy_full_name AS u_privacy_full_name,
       f.id AS f_id, f.requester_id AS f_requester_id, f.status AS f_status
FROM users u
LEFT JOIN LATERAL (
    SELECT id, requester_id, status FROM friendships
    WHERE ((requester_id = $1 AND addressee_id = u.id)
           OR (requester_id = u.id AND addressee_id = $1 AND status <> 'blocked'))
    ORDER BY (status = 'blocked') DESC
    LIMIT 1
) f ON true
WHERE u.email_verified AND NOT u.is_guest AND NOT u.is_bot AND u.id <> $1
  AND (strpos(lower(u.username), lower($2)) > 0
       OR strpos(lower(COALESCE(u.display_name, '')), lower($2)) > 0
       OR ((u.privacy_full_name = 'everyone'
            OR (u.privacy_full_name = 'friends' AND f.status = 'accepted'))
           AND (strpos(lower(COALESCE(u.first_name, '')), lower($2)) > 0
                OR strpos(lower(COALESCE(u.last_name, '')), lower($2)) > 0)))
ORDER BY u.username
LIMIT $3

-- name: refs_for
-- FriendshipRef rows of the caller ($1) towards each of $2, hiding other
-- users' blocks of the caller; a caller's own block wins over a live row.
SELECT DISTINCT ON (other_id) other_id, id, requester_id, status
FROM (
    SELECT CASE WHEN requester_id = $1 THEN addressee_id ELSE requester_id END AS other_id,
           id, requester_id, status
    FROM friendships
    WHERE (requester_id = $1 AND addressee_id = ANY($2::uuid[]))
       OR (addressee_id = $1 AND requester_id = ANY($2::uuid[]) AND status <> 'blocked')
) rows
ORDER BY other_id, (status = 'blocked') DESC

-- name: connected
-- C(u) and P(u) of behaviors.md §3: partners through an accepted friendship
-- or any conversation, minus blocks either way; pending_outgoing marks those
-- reached only through a pending conversation u initiated.
WITH friends AS (
    SELECT CASE WHEN requester_id = $1 THEN addressee_id ELSE requester_id END AS other_id
    FROM friendships
    WHERE status = 'accepted' AND (requester_id = $1 OR addressee_id = $1)
), convs AS (
    SELECT CASE WHEN participant_a = $1 THEN participant_b ELSE participant_a END AS other_id,
           (status = 'pending' AND initiator_id = $1) AS outgoing_pending
    FROM conversations
    WHERE participant_a = $1 OR participant_b = $1
), blocked AS (
    SELECT CASE WHEN requester_id = $1 THEN addressee_id ELSE requester_id END AS other_id
    FROM friendships
    WHERE status = 'blocked' AND (requester_id = $1 OR addressee_id = $1)
), everyone AS (
    SELECT other_id, false AS outgoing_pending FROM friends
    UNION ALL
    SELECT other_id, outgoing_pending FROM convs
)
SELECT other_id, bool_and(outgoing_pending) AS pending_outgoing
FROM everyone
WHERE other_id NOT IN (SELECT other_id FROM blocked)
GROUP BY other_id

-- name: update_privacy
-- Privacy settings: $2..$7 are new levels or NULL to keep the current one.
UPDATE users
SET privacy_online_status = COALESCE($2, privacy_online_status),
    privacy_phone         = COALESCE($3, privacy_phone),
    privacy_email         = COALESCE($4, privacy_email),
    privacy_full_name     = COALESCE($5, privacy_full_name),
    privacy_gender        = COALESCE($6, privacy_gender),
    privacy_joined_date   = COALESCE($7, privacy_joined_date),
    updated_at            = now()
WHERE id = $1
RETURNING id
