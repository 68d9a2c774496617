-- One-time verification codes (email, phone, login, password reset).

-- name: upsert
INSERT INTO verification_codes (user_id, purpose, code_hash, method, attempts, expires_at)
VALUES ($1, $2, $3, $4, 0, $5)
ON CONFLICT (user_id, purpose) DO UPDATE
SET code_hash = EXCLUDED.code_hash, method = EXCLUDED.method, attempts = 0,
    expires_at = EXCLUDED.expires_at, created_at = now()

-- name: get_for_update
SELECT code_hash, method, attempts, expires_at
FROM verification_codes WHERE user_id = $1 AND purpose = $2
FOR UPDATE

-- name: add_attempt
UPDATE verification_codes SET attempts = attempts + 1
WHERE user_id = $1 AND purpose = $2
RETURNING attempts

-- name: delete
DELETE FROM verification_codes WHERE user_id = $1 AND purpose = $2
