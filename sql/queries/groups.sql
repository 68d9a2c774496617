-- Groups: groups, memberships and group messages (rest.md §7).
-- Memberships are addressed by (group_id, user_id); member lists are ordered by
-- joined_at then id, because members invited in one call share a joined_at.


-- name: insert_group
INSERT INTO groups (name, description, owner_id)
VALUES ($1, $2, $3)
RETURNING id, name, description, profile_image, cover_image, owner_id, created_at,
          updated_at, summary, summary_message_count, summary_generated_at

-- name: group_by_id
SELECT id, name, description, profile_image, cover_image, owner_id, created_at,
       updated_at, summary, summary_message_count, summary_generated_at
FROM groups WHERE id = $1

-- name: lock_group
-- Serialises membership changes of one group (leave, remove, promote, …).
SELECT id, name, description, profile_image, cover_image, owner_id, created_at,
       updated_at, summary, summary_message_count, summary_generated_at
FROM groups WHERE id = $1
FOR UPDATE

-- name: update_group
-- $2: new name or NULL to keep; $3: whether to set the description; $4: it.
UPDATE groups
SET name = COALESCE($2, name),
    description = CASE WHEN $3::boolean THEN $4 ELSE description END,
    updated_at = now()
WHERE id = $1
RETURNING id, name, description, profile_image, cover_image, owner_id, created_at,
          updated_at, summary, summary_message_count, summary_generated_at

-- name: set_owner_id
UPDATE groups SET owner_id = $2, updated_at = now() WHERE id = $1

-- name: set_profile_image
UPDATE groups SET profile_image = $2, updated_at = now() WHERE id = $1

-- name: set_cover_image
UPDATE groups SET cover_image = $2, updated_at = now() WHERE id = $1

-- name: delete_group
DELETE FROM groups WHERE id = $1

-- name: message_file_urls
SELECT file_url FROM group_messages WHERE group_id = $1 AND file_url IS NOT NULL

-- name: groups_for_user
-- Groups where the user's membership is accepted, newest membership first.
SELECT g.id, g.name, g.description, g.profile_image, g.cover_image, g.owner_id,
       g.created_at, g.updated_at, g.summary, g.summary_message_count,
       g.summary_generated_at
FROM group_members me
JOIN groups g ON g.id = me.group_id
WHERE me.user_id = $1 AND me.status = 'accepted'
ORDER BY me.joined_at DESC, me.id DESC

-- name: last_messages
-- The newest not-unsent message of each group in $1, with its sender.
SELECT lm.*
FROM unnest($1::uuid[]) AS wanted(group_id)
CROSS JOIN LATERAL (
    SELECT m.id, m.group_id, m.sender_id, m.content, m.type, m.file_url, m.file_name,
           m.file_size, m.file_type, m.audio_waveform, m.audio_duration, m.link_preview,
           m.deleted_at, m.created_at, m.temp_id,
           u.username AS sender_username, u.display_name AS sender_display_name,
           u.profile_image AS sender_profile_image
    FROM group_messages m
    JOIN users u ON u.id = m.sender_id
    WHERE m.group_id = wanted.group_id AND m.deleted_at IS NULL
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT 1
) lm

-- name: invites_for_user
-- Pending invitations (join requests, which have no inviter, are not invitations).
SELECT g.id AS group_id, g.name AS group_name, g.description AS group_description,
       me.invited_by,
       inviter.username AS inviter_username, inviter.display_name AS inviter_display_name,
       (SELECT count(*) FROM group_members a
        WHERE a.group_id = g.id AND a.status = 'accepted') AS member_count
FROM group_members me
JOIN groups g ON g.id = me.group_id
LEFT JOIN users inviter ON inviter.id = me.invited_by
WHERE me.user_id = $1 AND me.status = 'pending' AND me.invited_by IS NOT NULL
ORDER BY me.joined_at DESC, me.id DESC

-- name: member
SELECT gm.id, gm.user_id, gm.group_id, gm.role, gm.status, gm.invited_by, gm.joined_at,
       u.username, u.display_name, u.profile_image
FROM group_members gm
JOIN users u ON u.id = gm.user_id
WHERE gm.group_id = $1 AND gm.user_id = $2

-- name: members
-- $2: only accepted memberships.
SELECT gm.id, gm.user_id, gm.group_id, gm.role, gm.status, gm.invited_by, gm.joined_at,
       u.username, u.display_name, u.profile_image
FROM group_members gm
JOIN users u ON u.id = gm.user_id
WHERE gm.group_id = $1 AND (NOT $2::boolean OR gm.status = 'accepted')
ORDER BY gm.joined_at, gm.id

-- name: members_of_groups
SELECT gm.id, gm.user_id, gm.group_id, gm.role, gm.status, gm.invited_by, gm.joined_at,
       u.username, u.display_name, u.profile_image
FROM group_members gm
JOIN users u ON u.id = gm.user_id
WHERE gm.group_id = ANY($1::uuid[])
ORDER BY gm.joined_at, gm.id

-- name: accepted_member_ids
SELECT user_id FROM group_members
WHERE group_id = $1 AND status = 'accepted'
ORDER BY joined_at, id

-- name: audience_ids
-- "Every member" for fan-out: accepted members and invited ones; a join
-- request (pending, no inviter) learns nothing about the group.
SELECT user_id FROM group_members
WHERE group_id = $1 AND (status = 'accepted' OR invited_by IS NOT NULL)
ORDER BY joined_at, id

-- name: count_members
SELECT count(*) FROM group_members WHERE group_id = $1

-- name: count_accepted
SELECT count(*) FROM group_members WHERE group_id = $1 AND status = 'accepted'

-- name: count_other_owners
SELECT count(*) FROM group_members
WHERE group_id = $1 AND role = 'owner' AND user_id <> $2

-- name: oldest_other_owner
SELECT user_id FROM group_members
WHERE group_id = $1 AND role = 'owner' AND user_id <> $2
ORDER BY joined_at, id
LIMIT 1

-- name: next_owner_candidate
-- The oldest accepted admin, else the oldest accepted member (never a pending invitee).
SELECT user_id FROM group_members
WHERE group_id = $1 AND user_id <> $2 AND status = 'accepted'
ORDER BY (role = 'admin') DESC, joined_at, id
LIMIT 1

-- name: system_sender
-- The first owner by membership age, else the group's ownerId.
SELECT COALESCE(
    (SELECT user_id FROM group_members
     WHERE group_id = $1 AND role = 'owner'
     ORDER BY joined_at, id LIMIT 1),
    (SELECT owner_id FROM groups WHERE id = $1))

-- name: insert_member
-- A new membership, or NULL when the user already has one.
INSERT INTO group_members (group_id, user_id, role, status, invited_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, group_id) DO NOTHING
RETURNING id

-- name: insert_invites
-- Pending invitations for many users at once (they share one joined_at).
INSERT INTO group_members (group_id, user_id, role, status, invited_by)
SELECT $1, invitee, 'member', 'pending', $3
FROM unnest($2::uuid[]) AS invitee
ON CONFLICT (user_id, group_id) DO NOTHING

-- name: set_member_status
UPDATE group_members SET status = $3 WHERE group_id = $1 AND user_id = $2

-- name: set_member_role
UPDATE group_members SET role = $3 WHERE group_id = $1 AND user_id = $2

-- name: set_invited_by
UPDATE group_members SET invited_by = $3 WHERE group_id = $1 AND user_id = $2

-- name: delete_member
DELETE FROM group_members WHERE group_id = $1 AND user_id = $2

-- name: existing_user_ids
SELECT id FROM users WHERE id = ANY($1::uuid[])

-- name: user_brief
SELECT id, username, display_name, profile_image FROM users WHERE id = $1

-- name: insert_message
INSERT INTO group_messages (group_id, sender_id, content, type, file_url, file_name,
                            file_size, file_type, audio_waveform, audio_duration,
                            link_preview, temp_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING id, group_id, sender_id, content, type, file_url, file_name, file_size,
          file_type, audio_waveform, audio_duration, link_preview, deleted_at,
          created_at, temp_id

-- name: message_by_id
SELECT id, group_id, sender_id, content, type, file_url, file_name, file_size,
       file_type, audio_waveform, audio_duration, link_preview, deleted_at,
       created_at, temp_id
FROM group_messages WHERE id = $1

-- name: history
-- The newest $3 messages older than $2 (all when NULL), oldest first.
SELECT page.* FROM (
    SELECT m.id, m.group_id, m.sender_id, m.content, m.type, m.file_url, m.file_name,
           m.file_size, m.file_type, m.audio_waveform, m.audio_duration, m.link_preview,
           m.deleted_at, m.created_at, m.temp_id,
           u.username AS sender_username, u.display_name AS sender_display_name,
           u.profile_image AS sender_profile_image
    FROM group_messages m
    JOIN users u ON u.id = m.sender_id
    WHERE m.group_id = $1 AND ($2::timestamptz IS NULL OR m.created_at < $2)
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT $3
) page
ORDER BY page.created_at, page.id

-- name: fill_duration
-- The background audio job: a duration read from the file, unless one is stored.
UPDATE group_messages SET audio_duration = $2
WHERE id = $1 AND audio_duration IS NULL

-- name: update_waveform
-- Waveform always; duration only when $3 is not NULL.
UPDATE group_messages
SET audio_waveform = $2, audio_duration = COALESCE($3, audio_duration)
WHERE id = $1
RETURNING audio_waveform, audio_duration
