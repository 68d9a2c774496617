-- Group-committed direct messages, the common case in one set-based statement:
-- plain sends (no reply, no upload announcement) between users whose
-- conversation is accepted and who have not blocked each other. One row per
-- stored message: its 1-based position `n` in the input and its
-- chatr_dm_result (the shape chatr_send_dm returns). Inputs without a row
-- (first message of a pair, a pending request, a block, a temp id seen
-- before, an unknown recipient) go through chatr_send_dm, which handles each
-- of those cases.
--
-- The batch arrives as one JSON array of objects (keys below), which costs the
-- server one C-level encode instead of thirteen array encodings. A function
-- rather than a bare statement so that it can pin a generic plan: PostgreSQL
-- would otherwise re-plan the statement on every call, which costs more than
-- storing a small batch.
CREATE FUNCTION chatr_send_dm_plain(p_batch jsonb)
RETURNS TABLE (n bigint, result chatr_dm_result)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH input AS (
        SELECT t.*, e.pos
        FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(item, pos)
        CROSS JOIN LATERAL jsonb_to_record(e.item)
             AS t(sender uuid, recipient uuid, body text, kind text, f_url text, f_name text,
                  f_size bigint, f_type text, waveform jsonb, duration double precision,
                  preview jsonb, temp_id text, online boolean)
    ), ready AS (
        -- LATERAL ... LIMIT 1 keeps these as index probes per input row, whatever
        -- the table statistics say (a hash join would scan every conversation).
        SELECT gen_random_uuid() AS new_id, t.*, c.conv_id, c.initiator
        FROM input t
        CROSS JOIN LATERAL (
            SELECT cv.id AS conv_id, cv.initiator_id AS initiator
            FROM conversations cv
            WHERE cv.participant_a = LEAST(t.sender, t.recipient)
              AND cv.participant_b = GREATEST(t.sender, t.recipient)
              AND cv.status = 'accepted'
            LIMIT 1) c
        LEFT JOIN LATERAL (
            SELECT true AS blocked
            FROM friendships f
            WHERE f.status = 'blocked'
              AND ((f.requester_id = t.sender AND f.addressee_id = t.recipient)
                   OR (f.requester_id = t.recipient AND f.addressee_id = t.sender))
            LIMIT 1) b ON true
        WHERE b.blocked IS NULL
    ), stored AS (
        INSERT INTO messages AS m (id, sender_id, recipient_id, content, type, status, file_url,
                                   file_name, file_size, file_type, audio_waveform,
                                   audio_duration, link_preview, temp_id)
        SELECT new_id, sender, recipient, body, kind,
               CASE WHEN online THEN 'delivered' ELSE 'sent' END,
               f_url, f_name, f_size, f_type, waveform, duration, preview, temp_id
        FROM ready
        ORDER BY pos
        ON CONFLICT (sender_id, temp_id) DO NOTHING
        RETURNING m.id AS stored_id, m.status AS stored_status, m.created_at AS stored_at
    )
    SELECT r.pos,
           ROW('created', NULL, false, r.conv_id, 'accepted', r.initiator,
               s.stored_id, r.sender, r.recipient, r.body, r.kind, s.stored_status, s.stored_at,
               r.f_url, r.f_name, r.f_size, r.f_type, r.waveform, r.duration, r.preview,
               NULL, NULL, NULL, NULL, NULL)::chatr_dm_result
    FROM stored s
    JOIN ready r ON r.new_id = s.stored_id;
END;
$$;
