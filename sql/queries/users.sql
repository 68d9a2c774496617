-- Users: accounts, profiles and lookups.


-- name: by_id
SELECT id, email, phone_number, username, display_name, first_name, last_name,
       password_hash, profile_image, cover_image, two_factor_secret, two_factor_enabled,
       email_verified, phone_verified, login_verification_method, last_seen,
       privacy_online_status, privacy_phone, privacy_email, privacy_full_name,
       privacy_gender, privacy_joined_date, gender, is_bot, is_support, is_guest,
       tokens_valid_after, created_at, updated_at
FROM users WHERE id = $1

-- name: by_email_ci
SELECT id, email, phone_number, username, display_name, first_name, last_name,
       password_hash, profile_image, cover_image, two_factor_secret, two_factor_enabled,
       email_verified, phone_verified, login_verification_method, last_seen,
       privacy_online_status, privacy_phone, privacy_email, privacy_full_name,
       privacy_gender, privacy_joined_date, gender, is_bot, is_support, is_guest,
       tokens_valid_after, created_at, updated_at
FROM users WHERE lower(email) = lower($1)
ORDER BY email_verified DESC, created_at LIMIT 1

-- name: by_username_ci
SELECT id, email, phone_number, username, display_name, first_name, last_name,
       password_hash, profile_image, cover_image, two_factor_secret, two_factor_enabled,
       email_verified, phone_verified, login_verification_method, last_seen,
       privacy_online_status, privacy_phone, privacy_email, privacy_full_name,
       privacy_gender, privacy_joined_date, gender, is_bot, is_support, is_guest,
       tokens_valid_after, created_at, updated_at
FROM users WHERE lower(username) = lower($1)
ORDER BY email_verified DESC, created_at LIMIT 1

-- name: by_email_exact
SELECT id, email, phone_number, username, email_verified, phone_verified, password_hash,
       created_at
FROM users WHERE email = $1

-- name: unverified_by_phone
SELECT id, email, phone_number, username, email_verified, phone_verified, password_hash,
       created_at
FROM users WHERE phone_number = $1 AND NOT phone_verified
ORDER BY created_at LIMIT 1

-- name: phone_verified_exists
SELECT EXISTS (SELECT 1 FROM users WHERE phone_number = $1 AND phone_verified)

-- name: id_by_username
SELECT id FROM users WHERE username = $1

-- name: usernames_in
SELECT username FROM users WHERE username = ANY($1::text[])

-- name: insert
INSERT INTO users (email, phone_number, username, display_name, first_name, last_name,
                   password_hash, gender)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id

-- name: overwrite_unverified
UPDATE users
SET email = $2, phone_number = $3, username = $4, display_name = $5, first_name = $6,
    last_name = $7, password_hash = $8, gender = $9, updated_at = now()
WHERE id = $1 AND NOT email_verified

-- name: mark_email_verified
UPDATE users
SET email_verified = true,
    phone_verified = phone_verified OR phone_number IS NULL,
    updated_at = now()
WHERE id = $1
RETURNING phone_verified

-- name: mark_phone_verified
UPDATE users SET phone_verified = true, updated_at = now() WHERE id = $1

-- name: set_login_method
UPDATE users SET login_verification_method = $2 WHERE id = $1

-- name: update_profile
-- $2..$5 are the new values; $6..$9 say whether each key was present in the request.
UPDATE users
SET display_name = CASE WHEN $6 THEN $2 ELSE display_name END,
    first_name   = CASE WHEN $7 THEN $3 ELSE first_name END,
    last_name    = CASE WHEN $8 THEN $4 ELSE last_name END,
    gender       = CASE WHEN $9 THEN $5 ELSE gender END,
    updated_at   = now()
WHERE id = $1
RETURNING id, username, display_name, first_name, last_name, profile_image, cover_image,
          gender, email, phone_number

-- name: set_password
UPDATE users
SET password_hash = $2, tokens_valid_after = date_trunc('second', now()), updated_at = now()
WHERE id = $1

-- name: auth_state
-- One round trip per authenticated request: revocation and "tokens valid after".
SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_hash = $2 AND expires_at > now())
           AS revoked,
       u.tokens_valid_after,
       u.id IS NOT NULL AS user_exists,
       COALESCE(u.is_guest, false) AS is_guest
FROM (SELECT 1) AS one
LEFT JOIN users u ON u.id = $1

-- name: revoke_token
INSERT INTO revoked_tokens (token_hash, expires_at) VALUES ($1, $2)
ON CONFLICT (token_hash) DO NOTHING

-- name: purge_revoked
DELETE FROM revoked_tokens WHERE expires_at <= now()

-- name: delete_user
DELETE FROM users WHERE id = $1

-- name: set_two_factor_secret
-- 2FA setup: a new secret that is not active until a TOTP code confirms it.
UPDATE users SET two_factor_secret = $2, two_factor_enabled = false, updated_at = now()
WHERE id = $1
RETURNING username

-- name: enable_two_factor
UPDATE users SET two_factor_enabled = true, updated_at = now()
WHERE id = $1 AND two_factor_secret IS NOT NULL
RETURNING id, email, username, created_at, two_factor_enabled, is_support

-- name: reset_password
-- Tokens carry whole-second `iat`s: every token issued up to the end of this second is
-- revoked (the service answers only once that second is over, so new logins work).
UPDATE users
SET password_hash = $2,
    tokens_valid_after = date_trunc('second', now()) + interval '1 second',
    updated_at = now()
WHERE id = $1
RETURNING tokens_valid_after

-- name: socket_logins
-- The socket handshakes of many connections in one round trip (AuthService.socket_login,
-- batched by ReadBatcher): per ($1[i] user id, $2[i] token hash), in input order, what
-- auth_state checks, the socket's user row (socket_user in messaging.sql) and C(u) − P(u)
-- (chatr_visible_peers, migration 0012): the peers the connect sequence announces to and
-- snapshots.
SELECT u.id,
       EXISTS (SELECT 1 FROM revoked_tokens t
                       WHERE t.token_hash = r.token_hash AND t.expires_at > now()) AS revoked,
       u.tokens_valid_after,
       u.id IS NOT NULL AS user_exists,
       COALESCE(u.is_guest, false) AS is_guest,
       u.username, u.display_name, u.profile_image, u.privacy_online_status,
       CASE WHEN u.id IS NOT NULL THEN chatr_visible_peers(u.id) END AS visible
FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(user_id, token_hash, pos)
LEFT JOIN users u ON u.id = r.user_id
ORDER BY r.pos

-- name: socket_logouts
-- The database side of many users' last disconnects in one round trip
-- (AuthService.socket_logout, batched by ReadBatcher). $1: distinct user ids; $2: the
-- last-seen time stored for all of them. Their ringing or active calls end (a ringing
-- one as missed, with calls.sql's duration rule); per user, in input order: C(u) − P(u),
-- who is told the user went offline, and the calls ended for that user, each reported
-- once (to its caller when both parties are leaving).
WITH gone AS (
    SELECT user_id, pos FROM unnest($1::uuid[]) WITH ORDINALITY AS r(user_id, pos)
), seen AS (
    UPDATE users u SET last_seen = $2 FROM gone WHERE u.id = gone.user_id
), ended AS (
    UPDATE calls c
    SET status = CASE WHEN c.status = 'ringing' THEN 'missed' ELSE 'ended' END,
        ended_at = now(),
        duration = CASE WHEN c.started_at IS NULL THEN NULL
                        ELSE round(extract(epoch FROM now() - c.started_at))::int END
    WHERE c.status IN ('ringing', 'active')
      AND (c.caller_id = ANY($1::uuid[]) OR c.receiver_id = ANY($1::uuid[]))
    RETURNING c.id, c.caller_id, c.receiver_id, c.duration
)
SELECT g.user_id,
       chatr_visible_peers(g.user_id) AS visible,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                   'id', e.id, 'caller_id', e.caller_id, 'receiver_id', e.receiver_id,
                   'duration', e.duration)), '[]')
        FROM ended e
        WHERE e.caller_id = g.user_id
           OR (e.receiver_id = g.user_id AND e.caller_id <> ALL($1::uuid[]))) AS calls
FROM gone g
ORDER BY g.pos
