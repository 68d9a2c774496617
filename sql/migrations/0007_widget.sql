-- Support widget: a per-guest nonce from which the server derives the guest's
-- resume secret (HMAC with the server key), so a session can no longer be
-- resumed from its guestId alone (SEC-15). Only the nonce is stored: a copy of
-- the database without the server key cannot resume anyone's session.
ALTER TABLE users ADD COLUMN guest_resume_nonce text;

-- Admin inbox: a guest's first message and message counts by sender.
CREATE INDEX IF NOT EXISTS messages_sender_created_idx ON messages (sender_id, created_at);
