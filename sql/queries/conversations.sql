-- Conversations: the request state of a DM pair (participant_a < participant_b),
-- and the hard deletes of decline / nuke.


-- name: by_id
SELECT id, participant_a, participant_b, initiator_id, status, created_at, updated_at,
       summary, summary_message_count, summary_generated_at
FROM conversations WHERE id = $1

-- name: by_id_for_update
SELECT id, participant_a, participant_b, initiator_id, status, created_at, updated_at,
       summary, summary_message_count, summary_generated_at
FROM conversations WHERE id = $1
FOR UPDATE

-- name: get_or_create
-- The pair's row, created on first contact by chatr_dm_conversation (migration
-- 0006), the same function the message path uses: one rule, one place.
SELECT id, participant_a, participant_b, initiator_id, status, created_at, updated_at,
       summary, summary_message_count, summary_generated_at
FROM chatr_dm_conversation($1, $2)

-- name: accept
-- Only a pending row changes, so of two racing accepts exactly one sees a row.
UPDATE conversations SET status = 'accepted', updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING id, participant_a, participant_b, initiator_id, status, created_at, updated_at,
          summary, summary_message_count, summary_generated_at

-- name: delete_pair_messages
-- Every DM between the pair, either direction (reactions and edits cascade);
-- answers how many went.
WITH gone AS (
    DELETE FROM messages
    WHERE user_lo = LEAST($1::uuid, $2::uuid) AND user_hi = GREATEST($1::uuid, $2::uuid)
    RETURNING 1
)
SELECT count(*) FROM gone

-- name: delete
DELETE FROM conversations WHERE id = $1

-- name: delete_pair
-- $1 < $2 (the sorted pair).
DELETE FROM conversations WHERE participant_a = $1 AND participant_b = $2
RETURNING id

-- name: delete_guests
-- Guest accounts among $1 (their messages and conversations cascade).
DELETE FROM users WHERE id = ANY($1::uuid[]) AND is_guest
RETURNING id
