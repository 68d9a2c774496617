-- Core schema of Chatr: users, direct messages, conversations, groups, and the
-- extended-tier tables whose shape the contract fixes (friendships, reactions,
-- edit history, calls, contact form). Columns are snake_case; the API layer
-- renders the contract's camelCase names.

CREATE TABLE users (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                     text UNIQUE,
    phone_number              text,
    username                  text NOT NULL UNIQUE CHECK (username LIKE '@%'),
    display_name              text,
    first_name                text,
    last_name                 text,
    password_hash             text NOT NULL,
    profile_image             text,
    cover_image               text,
    two_factor_secret         text,
    two_factor_enabled        boolean NOT NULL DEFAULT false,
    email_verified            boolean NOT NULL DEFAULT false,
    phone_verified            boolean NOT NULL DEFAULT false,
    login_verification_method text CHECK (login_verification_method IN ('sms', 'email')),
    last_seen                 timestamptz,
    privacy_online_status     text NOT NULL DEFAULT 'everyone',
    privacy_phone             text NOT NULL DEFAULT 'nobody',
    privacy_email             text NOT NULL DEFAULT 'nobody',
    privacy_full_name         text NOT NULL DEFAULT 'everyone',
    privacy_gender            text NOT NULL DEFAULT 'nobody',
    privacy_joined_date       text NOT NULL DEFAULT 'everyone',
    gender                    text CHECK (gender IN ('male', 'female', 'non-binary', 'prefer-not-to-say')),
    is_bot                    boolean NOT NULL DEFAULT false,
    is_support                boolean NOT NULL DEFAULT false,
    is_guest                  boolean NOT NULL DEFAULT false,
    contact_email             text,
    widget_context            jsonb,
    -- Tokens issued before this instant are rejected (password reset, "log out everywhere").
    tokens_valid_after        timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_privacy_levels CHECK (
        privacy_online_status IN ('everyone', 'friends', 'nobody')
        AND privacy_phone IN ('everyone', 'friends', 'nobody')
        AND privacy_email IN ('everyone', 'friends', 'nobody')
        AND privacy_full_name IN ('everyone', 'friends', 'nobody')
        AND privacy_gender IN ('everyone', 'friends', 'nobody')
        AND privacy_joined_date IN ('everyone', 'friends', 'nobody'))
);
-- Login looks users up case-insensitively.
CREATE INDEX users_email_lower_idx ON users (lower(email));
CREATE INDEX users_username_lower_idx ON users (lower(username));
CREATE INDEX users_guest_created_idx ON users (is_guest, created_at);

-- One-time codes (email, phone, login, password reset): one live code per
-- user and purpose, stored as a keyed hash, with expiry and an attempt budget.
CREATE TABLE verification_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('email', 'phone', 'login', 'reset')),
    code_hash  text NOT NULL,
    method     text CHECK (method IN ('sms', 'email')),
    attempts   integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, purpose)
);

-- Logged-out tokens, by SHA-256 of the token, kept until the token expires.
CREATE TABLE revoked_tokens (
    token_hash text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

CREATE TABLE messages (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sender_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The unordered pair, so one index serves history in both directions.
    user_lo              uuid GENERATED ALWAYS AS (LEAST(sender_id, recipient_id)) STORED,
    user_hi              uuid GENERATED ALWAYS AS (GREATEST(sender_id, recipient_id)) STORED,
    content              text NOT NULL,
    type                 text NOT NULL DEFAULT 'text'
                         CHECK (type IN ('text', 'image', 'video', 'file', 'audio', 'system')),
    status               text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'delivered', 'read')),
    is_read              boolean NOT NULL DEFAULT false,
    read_at              timestamptz,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    file_url             text,
    file_name            text,
    file_size            bigint,
    file_type            text,
    audio_waveform       jsonb,
    audio_duration       double precision,
    deleted_at           timestamptz,
    edited               boolean NOT NULL DEFAULT false,
    edited_at            timestamptz,
    link_preview         jsonb,
    reply_to_id          uuid,
    reply_to_content     text,
    reply_to_sender_name text,
    reply_to_type        text,
    reply_to_duration    double precision,
    -- The client's temporary id: a resend with the same id returns the stored row.
    temp_id              text,
    CONSTRAINT messages_sender_temp_id_key UNIQUE (sender_id, temp_id)
);
CREATE INDEX messages_pair_created_idx ON messages (user_lo, user_hi, created_at DESC, id DESC);
CREATE INDEX messages_recipient_idx ON messages (recipient_id);
CREATE INDEX messages_unread_idx ON messages (recipient_id, sender_id)
    WHERE NOT is_read AND deleted_at IS NULL;

CREATE TABLE message_edits (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id       uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    edited_by_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    previous_content text NOT NULL,
    edited_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_edits_message_idx ON message_edits (message_id);
CREATE INDEX message_edits_editor_idx ON message_edits (edited_by_id);

CREATE TABLE message_reactions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);
CREATE INDEX message_reactions_user_idx ON message_reactions (user_id);

-- Request state of a DM pair; participant_a < participant_b always.
CREATE TABLE conversations (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    participant_a         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    participant_b         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    initiator_id          uuid NOT NULL,
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    summary               text,
    summary_message_count integer,
    summary_generated_at  timestamptz,
    -- Sorted pair: uuid order equals the order of their lowercase text form.
    CONSTRAINT conversations_sorted CHECK (participant_a < participant_b),
    UNIQUE (participant_a, participant_b)
);
CREATE INDEX conversations_b_idx ON conversations (participant_b);

CREATE TABLE friendships (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    requester_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    addressee_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'blocked')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (requester_id, addressee_id)
);
CREATE INDEX friendships_addressee_idx ON friendships (addressee_id, status);

CREATE TABLE groups (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL,
    description           text,
    profile_image         text,
    cover_image           text,
    owner_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    summary               text,
    summary_message_count integer,
    summary_generated_at  timestamptz
);
CREATE INDEX groups_owner_idx ON groups (owner_id);

CREATE TABLE group_members (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted')),
    invited_by uuid,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, group_id)
);
CREATE INDEX group_members_group_idx ON group_members (group_id);

CREATE TABLE group_messages (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id       uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    sender_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content        text NOT NULL,
    type           text NOT NULL DEFAULT 'text'
                   CHECK (type IN ('text', 'image', 'video', 'file', 'audio', 'system')),
    file_url       text,
    file_name      text,
    file_size      bigint,
    file_type      text,
    audio_waveform jsonb,
    audio_duration double precision,
    link_preview   jsonb,
    deleted_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    temp_id        text,
    CONSTRAINT group_messages_sender_temp_id_key UNIQUE (sender_id, temp_id)
);
CREATE INDEX group_messages_group_created_idx ON group_messages (group_id, created_at DESC, id DESC);
CREATE INDEX group_messages_sender_idx ON group_messages (sender_id);

CREATE TABLE calls (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    caller_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    receiver_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'ringing'
                CHECK (status IN ('ringing', 'active', 'ended', 'missed', 'rejected', 'busy')),
    started_at  timestamptz,
    ended_at    timestamptz,
    duration    integer,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_caller_idx ON calls (caller_id, receiver_id, created_at DESC);
CREATE INDEX calls_receiver_idx ON calls (receiver_id);
CREATE INDEX calls_live_idx ON calls (status) WHERE status IN ('ringing', 'active');

CREATE TABLE contact_submissions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    email      text NOT NULL,
    company    text,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_submissions_created_idx ON contact_submissions (created_at DESC);
