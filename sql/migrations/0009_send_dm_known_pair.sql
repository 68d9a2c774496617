-- chatr_send_dm (migration 0006) for the common case of a pair that already
-- has a conversation: one probe for the conversation, one for a block either
-- way, and the recipient lookup only for a pair's first message (a
-- conversation implies the recipient exists: foreign key). Same signature,
-- same results; only the order of the checks changes.
CREATE OR REPLACE FUNCTION chatr_send_dm(
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

    -- Common case in one probe: the pair's conversation and any block either way.
    -- A conversation implies the recipient exists (foreign key), so the user
    -- lookup only runs for a pair's first message.
    SELECT c.* INTO conv
    FROM conversations c
    WHERE c.participant_a = LEAST(p_sender, p_recipient)
      AND c.participant_b = GREATEST(p_sender, p_recipient);
    SELECT requester_id INTO r.blocked_by FROM friendships
    WHERE status = 'blocked'
      AND ((requester_id = p_sender AND addressee_id = p_recipient)
           OR (requester_id = p_recipient AND addressee_id = p_sender))
    LIMIT 1;
    IF r.blocked_by IS NOT NULL THEN
        r.outcome := 'blocked';
        RETURN r;
    END IF;
    IF conv.id IS NULL THEN
        PERFORM 1 FROM users WHERE id = p_recipient;
        IF NOT FOUND THEN
            r.outcome := 'no_recipient';
            RETURN r;
        END IF;
        conv := chatr_dm_conversation(p_sender, p_recipient);
    END IF;
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
