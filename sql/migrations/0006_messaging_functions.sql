-- The send path of direct and group messages as server-side functions, so a
-- send costs one round trip: idempotency on the client's temp id, block and
-- membership checks, race-safe get-or-create of the DM conversation, reply
-- snapshots taken from the stored message, and the insert itself.

CREATE FUNCTION chatr_dm_conversation(p_sender uuid, p_recipient uuid)
RETURNS conversations
LANGUAGE plpgsql AS $$
DECLARE
    a uuid := LEAST(p_sender, p_recipient);
    b uuid := GREATEST(p_sender, p_recipient);
    conv conversations;
BEGIN
    SELECT * INTO conv FROM conversations WHERE participant_a = a AND participant_b = b;
    IF FOUND THEN
        RETURN conv;
    END IF;
    INSERT INTO conversations (participant_a, participant_b, initiator_id, status)
    VALUES (a, b, p_sender,
            CASE WHEN EXISTS (
                SELECT 1 FROM friendships
                WHERE status = 'accepted'
                  AND ((requester_id = p_sender AND addressee_id = p_recipient)
                       OR (requester_id = p_recipient AND addressee_id = p_sender)))
                 THEN 'accepted' ELSE 'pending' END)
    ON CONFLICT (participant_a, participant_b) DO NOTHING
    RETURNING * INTO conv;
    IF FOUND THEN
        RETURN conv;
    END IF;
    -- A concurrent sender created it first; this statement sees its commit.
    SELECT * INTO conv FROM conversations WHERE participant_a = a AND participant_b = b;
    RETURN conv;
END;
$$;

CREATE TYPE chatr_dm_result AS (
    outcome             text,      -- created | duplicate | existing | blocked | no_recipient | not_found
    blocked_by          uuid,
    accepted_now        boolean,
    conversation_id     uuid,
    conversation_status text,
    initiator_id        uuid,
    id                  uuid,
    sender_id           uuid,
    recipient_id        uuid,
    content             text,
    type                text,
    status              text,
    created_at          timestamptz,
    file_url            text,
    file_name           text,
    file_size           bigint,
    file_type           text,
    audio_waveform      jsonb,
    audio_duration      double precision,
    link_preview        jsonb,
    reply_to_id         uuid,
    reply_to_content    text,
    reply_to_sender_name text,
    reply_to_type       text,
    reply_to_duration   double precision
);

CREATE FUNCTION chatr_dm_fill(r chatr_dm_result, m messages, conv conversations)
RETURNS chatr_dm_result
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    r.conversation_id := conv.id;
    r.conversation_status := conv.status;
    r.initiator_id := conv.initiator_id;
    r.id := m.id;
    r.sender_id := m.sender_id;
    r.recipient_id := m.recipient_id;
    r.content := m.content;
    r.type := m.type;
    r.status := m.status;
    r.created_at := m.created_at;
    r.file_url := m.file_url;
    r.file_name := m.file_name;
    r.file_size := m.file_size;
    r.file_type := m.file_type;
    r.audio_waveform := m.audio_waveform;
    r.audio_duration := m.audio_duration;
    r.link_preview := m.link_preview;
    r.reply_to_id := m.reply_to_id;
    r.reply_to_content := m.reply_to_content;
    r.reply_to_sender_name := m.reply_to_sender_name;
    r.reply_to_type := m.reply_to_type;
    r.reply_to_duration := m.reply_to_duration;
    RETURN r;
END;
$$;

CREATE FUNCTION chatr_send_dm(
    p_sender uuid, p_recipient uuid, p_content text, p_type text,
    p_file_url text, p_file_name text, p_file_size bigint, p_file_type text,
    p_waveform jsonb, p_duration double precision, p_link_preview jsonb,
    p_reply_to_id uuid, p_temp_id text, p_message_id uuid, p_recipient_online boolean)
RETURNS chatr_dm_result
LANGUAGE plpgsql AS $$
DECLARE
    r chatr_dm_result;
    m messages;
    conv conversations;
    q_content text;
    q_type text;
    q_duration double precision;
    q_name text;
BEGIN
    IF p_temp_id IS NOT NULL THEN
        SELECT * INTO m FROM messages WHERE sender_id = p_sender AND temp_id = p_temp_id;
        IF FOUND THEN
            r.outcome := 'duplicate';
            SELECT * INTO conv FROM conversations
            WHERE participant_a = LEAST(m.sender_id, m.recipient_id)
              AND participant_b = GREATEST(m.sender_id, m.recipient_id);
            RETURN chatr_dm_fill(r, m, conv);
        END IF;
    END IF;

    PERFORM 1 FROM users WHERE id = p_recipient;
    IF NOT FOUND THEN
        r.outcome := 'no_recipient';
        RETURN r;
    END IF;

    SELECT requester_id INTO r.blocked_by FROM friendships
    WHERE status = 'blocked'
      AND ((requester_id = p_sender AND addressee_id = p_recipient)
           OR (requester_id = p_recipient AND addressee_id = p_sender))
    LIMIT 1;
    IF r.blocked_by IS NOT NULL THEN
        r.outcome := 'blocked';
        RETURN r;
    END IF;

    conv := chatr_dm_conversation(p_sender, p_recipient);
    r.accepted_now := false;
    IF conv.status = 'pending' AND conv.initiator_id <> p_sender THEN
        UPDATE conversations SET status = 'accepted', updated_at = now()
        WHERE id = conv.id AND status = 'pending'
        RETURNING * INTO conv;
        r.accepted_now := FOUND;
        IF NOT FOUND THEN
            SELECT * INTO conv FROM conversations WHERE participant_a = LEAST(p_sender, p_recipient)
                AND participant_b = GREATEST(p_sender, p_recipient);
        END IF;
    END IF;

    IF p_message_id IS NOT NULL THEN
        -- The upload flow: the message exists already; only its sender may announce it.
        UPDATE messages
        SET audio_duration = COALESCE(audio_duration, p_duration),
            audio_waveform = CASE WHEN audio_duration IS NULL AND p_duration IS NOT NULL
                                  THEN COALESCE(p_waveform, audio_waveform) ELSE audio_waveform END,
            status = CASE WHEN p_recipient_online AND conv.status = 'accepted' AND status = 'sent'
                          THEN 'delivered' ELSE status END
        WHERE id = p_message_id AND sender_id = p_sender AND recipient_id = p_recipient
          AND deleted_at IS NULL
        RETURNING * INTO m;
        IF NOT FOUND THEN
            r.outcome := 'not_found';
            RETURN r;
        END IF;
        r.outcome := 'existing';
        RETURN chatr_dm_fill(r, m, conv);
    END IF;

    IF p_reply_to_id IS NOT NULL THEN
        SELECT q.content, q.type, q.audio_duration,
               COALESCE(u.display_name, ltrim(u.username, '@'))
        INTO q_content, q_type, q_duration, q_name
        FROM messages q JOIN users u ON u.id = q.sender_id
        WHERE q.id = p_reply_to_id
          AND q.user_lo = LEAST(p_sender, p_recipient)
          AND q.user_hi = GREATEST(p_sender, p_recipient);
        IF NOT FOUND THEN
            p_reply_to_id := NULL;
        END IF;
    END IF;

    INSERT INTO messages (
        sender_id, recipient_id, content, type, status, file_url, file_name, file_size,
        file_type, audio_waveform, audio_duration, link_preview, reply_to_id,
        reply_to_content, reply_to_sender_name, reply_to_type, reply_to_duration, temp_id)
    VALUES (
        p_sender, p_recipient, p_content, p_type,
        CASE WHEN p_recipient_online AND conv.status = 'accepted' THEN 'delivered' ELSE 'sent' END,
        p_file_url, p_file_name, p_file_size, p_file_type, p_waveform, p_duration, p_link_preview,
        p_reply_to_id,
        q_content, q_name, q_type, q_duration,
        p_temp_id)
    ON CONFLICT (sender_id, temp_id) DO NOTHING
    RETURNING * INTO m;
    IF FOUND THEN
        r.outcome := 'created';
    ELSE
        -- The same temp id committed concurrently (a resend racing the original).
        SELECT * INTO m FROM messages WHERE sender_id = p_sender AND temp_id = p_temp_id;
        r.outcome := 'duplicate';
    END IF;

    RETURN chatr_dm_fill(r, m, conv);
END;
$$;

CREATE TYPE chatr_group_result AS (
    outcome        text,   -- created | duplicate | existing | not_member | pending_member | not_found
    member_ids     uuid[], -- accepted members, the recipients of the broadcast
    id             uuid,
    group_id       uuid,
    sender_id      uuid,
    content        text,
    type           text,
    file_url       text,
    file_name      text,
    file_size      bigint,
    file_type      text,
    audio_waveform jsonb,
    audio_duration double precision,
    link_preview   jsonb,
    deleted_at     timestamptz,
    created_at     timestamptz
);

CREATE FUNCTION chatr_group_fill(r chatr_group_result, m group_messages)
RETURNS chatr_group_result
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    r.id := m.id;
    r.group_id := m.group_id;
    r.sender_id := m.sender_id;
    r.content := m.content;
    r.type := m.type;
    r.file_url := m.file_url;
    r.file_name := m.file_name;
    r.file_size := m.file_size;
    r.file_type := m.file_type;
    r.audio_waveform := m.audio_waveform;
    r.audio_duration := m.audio_duration;
    r.link_preview := m.link_preview;
    r.deleted_at := m.deleted_at;
    r.created_at := m.created_at;
    RETURN r;
END;
$$;

CREATE FUNCTION chatr_send_group(
    p_sender uuid, p_group uuid, p_content text, p_type text,
    p_file_url text, p_file_name text, p_file_size bigint, p_file_type text,
    p_waveform jsonb, p_duration double precision, p_link_preview jsonb,
    p_temp_id text, p_message_id uuid)
RETURNS chatr_group_result
LANGUAGE plpgsql AS $$
DECLARE
    r chatr_group_result;
    m group_messages;
    member_status text;
BEGIN
    SELECT status INTO member_status FROM group_members
    WHERE group_id = p_group AND user_id = p_sender;
    IF NOT FOUND THEN
        r.outcome := 'not_member';
        RETURN r;
    END IF;
    IF member_status <> 'accepted' THEN
        r.outcome := 'pending_member';
        RETURN r;
    END IF;
    SELECT array_agg(user_id) INTO r.member_ids FROM group_members
    WHERE group_id = p_group AND status = 'accepted';

    IF p_temp_id IS NOT NULL THEN
        SELECT * INTO m FROM group_messages WHERE sender_id = p_sender AND temp_id = p_temp_id;
        IF FOUND THEN
            r.outcome := 'duplicate';
            RETURN chatr_group_fill(r, m);
        END IF;
    END IF;

    IF p_message_id IS NOT NULL THEN
        UPDATE group_messages
        SET audio_duration = COALESCE(audio_duration, p_duration),
            audio_waveform = CASE WHEN audio_duration IS NULL AND p_duration IS NOT NULL
                                  THEN COALESCE(p_waveform, audio_waveform) ELSE audio_waveform END
        WHERE id = p_message_id AND group_id = p_group AND sender_id = p_sender
          AND deleted_at IS NULL
        RETURNING * INTO m;
        IF NOT FOUND THEN
            r.outcome := 'not_found';
            RETURN r;
        END IF;
        r.outcome := 'existing';
        RETURN chatr_group_fill(r, m);
    END IF;

    INSERT INTO group_messages (
        group_id, sender_id, content, type, file_url, file_name, file_size, file_type,
        audio_waveform, audio_duration, link_preview, temp_id)
    VALUES (
        p_group, p_sender, p_content, p_type, p_file_url, p_file_name, p_file_size, p_file_type,
        p_waveform, p_duration, p_link_preview, p_temp_id)
    ON CONFLICT (sender_id, temp_id) DO NOTHING
    RETURNING * INTO m;
    IF FOUND THEN
        r.outcome := 'created';
    ELSE
        SELECT * INTO m FROM group_messages WHERE sender_id = p_sender AND temp_id = p_temp_id;
        r.outcome := 'duplicate';
    END IF;
    RETURN chatr_group_fill(r, m);
END;
$$;
