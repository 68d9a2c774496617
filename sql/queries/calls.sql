-- Voice-call signalling state (events.md §6.4).

-- name: in_call
SELECT EXISTS (SELECT 1 FROM calls
               WHERE (caller_id = $1 OR receiver_id = $1) AND status IN ('ringing', 'active'))

-- name: create
INSERT INTO calls (caller_id, receiver_id) VALUES ($1, $2) RETURNING id

-- name: accept
UPDATE calls SET status = 'active', started_at = now()
WHERE id = $1 AND receiver_id = $2 AND status = 'ringing'
RETURNING caller_id

-- name: reject
UPDATE calls SET status = 'rejected', ended_at = now()
WHERE id = $1 AND receiver_id = $2 AND status = 'ringing'
RETURNING caller_id

-- name: hang_up
UPDATE calls
SET status = 'ended', ended_at = now(),
    duration = CASE WHEN started_at IS NULL THEN NULL
                    ELSE round(extract(epoch FROM now() - started_at))::int END
WHERE id = $1 AND (caller_id = $2 OR receiver_id = $2) AND status IN ('ringing', 'active')
RETURNING caller_id, receiver_id, duration

-- name: miss_if_ringing
UPDATE calls SET status = 'missed', ended_at = now()
WHERE id = $1 AND status = 'ringing'
RETURNING caller_id, receiver_id

-- name: live_parties
SELECT caller_id, receiver_id FROM calls
WHERE id = $1 AND status IN ('ringing', 'active') AND (caller_id = $2 OR receiver_id = $2)

-- name: caller_card
SELECT id, username, display_name, profile_image FROM users WHERE id = $1

