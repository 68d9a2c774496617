-- Group-committed direct messages in one function call, first contacts included.
--
-- chatr_send_dm_batch(jsonb) takes a whole batch (the JSON objects of
-- MessagingRepo.batch_json, every row of the batch) and returns one row per
-- input it settled: its 1-based position `n` and the chatr_dm_result that
-- chatr_send_dm would have returned for it, had the batch run row by row in
-- order. Inputs without a row go through chatr_send_dm afterwards, as before:
-- replies, upload announcements, temp ids stored before or repeated inside the
-- batch, sends to oneself, blocked sends on an accepted conversation, and the
-- rows of any pair that holds one of those; also the rows of a pair whose
-- conversation another transaction created or accepted while this one ran
-- (chatr_send_dm's statements see its commit).
--
-- Two set-based statements, the second only when the first left something:
--  1. plain sends on accepted conversations (chatr_send_dm_plain of migration
--     0008, its results no longer joined back to the insert: see below);
--  2. plain sends of pairs without an accepted conversation. Per pair, in batch
--     order: the first message creates the conversation (initiator = its
--     sender; accepted iff the two are friends at that moment); a message from
--     the non-initiator of a pending conversation accepts it (accepted_now for
--     that one message); a message is 'delivered' only when the recipient is
--     online and the conversation is accepted once it is handled. Blocks either
--     way answer `blocked`, unknown recipients `no_recipient`. Conversations are
--     created in (participant_a, participant_b) order, so two batches opening
--     the same pairs wait for each other instead of deadlocking.
-- Statement 2 runs in a new snapshot (a plpgsql function's statements do), so it
-- sees what statement 1 stored: those pairs are accepted and left alone.
-- Where the batch order is not kept (as with 0008): one temp id sent by one
-- sender first to a pair without an accepted conversation, then to an accepted
-- pair, stores the second (statement 1) and answers the first as its duplicate;
-- row by row it is the other way round. (A client reuses a temp id only to
-- resend the same message, to the same recipient.)
--
-- A pair's conversation created here with a reply in the same batch is
-- inserted accepted at once: the row ends as chatr_send_dm leaves it (created
-- pending, then accepted with updated_at = now(), the same transaction time).
--
-- Each statement computes a message's id, status and created_at before the
-- insert, in batch order (volatile columns are evaluated after an ORDER BY;
-- statement 1 needs no sort: the ordinality of jsonb_array_elements is known
-- sorted), and answers the rows the insert kept: `id = ANY (ARRAY(SELECT ...))`,
-- one array built once. Joining the insert's RETURNING back to its input cost
-- a nested loop rescanning a CTE (their row estimates are tiny), n² CTE reads a
-- batch; a hashed subplan pays building a hash table, more than a small batch
-- saves.
CREATE FUNCTION chatr_send_dm_batch(p_batch jsonb)
RETURNS TABLE (n bigint, result chatr_dm_result)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    settled bigint;
BEGIN
    RETURN QUERY
    WITH input AS (
        SELECT t.*, e.pos
        FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(item, pos)
        CROSS JOIN LATERAL jsonb_to_record(e.item)
             AS t(sender uuid, recipient uuid, body text, kind text, f_url text, f_name text,
                  f_size bigint, f_type text, waveform jsonb, duration double precision,
                  preview jsonb, reply_to uuid, temp_id text, message_id uuid, online boolean)
        WHERE t.reply_to IS NULL AND t.message_id IS NULL
    ), ready AS (
        -- LATERAL ... LIMIT 1 keeps these as index probes per input row, whatever
        -- the table statistics say (a hash join would scan every conversation).
        SELECT gen_random_uuid() AS new_id, clock_timestamp() AS new_at, t.*, c.conv_id,
               c.initiator
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
        ORDER BY t.pos
    ), stored AS (
        -- In batch order (ready's): of two rows with one temp id, the first is kept.
        INSERT INTO messages AS m (id, sender_id, recipient_id, content, type, status, file_url,
                                   file_name, file_size, file_type, audio_waveform,
                                   audio_duration, link_preview, temp_id, created_at)
        SELECT new_id, sender, recipient, body, kind,
               CASE WHEN online THEN 'delivered' ELSE 'sent' END,
               f_url, f_name, f_size, f_type, waveform, duration, preview, temp_id, new_at
        FROM ready
        ON CONFLICT (sender_id, temp_id) DO NOTHING
        RETURNING m.id
    )
    SELECT r.pos,
           ROW('created', NULL, false, r.conv_id, 'accepted', r.initiator,
               r.new_id, r.sender, r.recipient, r.body, r.kind,
               CASE WHEN r.online THEN 'delivered' ELSE 'sent' END, r.new_at,
               r.f_url, r.f_name, r.f_size, r.f_type, r.waveform, r.duration, r.preview,
               NULL, NULL, NULL, NULL, NULL)::chatr_dm_result
    FROM ready r
    WHERE r.new_id = ANY (ARRAY(SELECT id FROM stored));

    GET DIAGNOSTICS settled = ROW_COUNT;
    IF settled = jsonb_array_length(p_batch) THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH input AS (
        SELECT t.*, e.pos, LEAST(t.sender, t.recipient) AS lo,
               GREATEST(t.sender, t.recipient) AS hi,
               -- (COLLATE "C": grouping equal temp ids needs no locale-aware sort)
               count(*) OVER (PARTITION BY t.sender, t.temp_id COLLATE "C") AS copies
        FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(item, pos)
        CROSS JOIN LATERAL jsonb_to_record(e.item)
             AS t(sender uuid, recipient uuid, body text, kind text, f_url text, f_name text,
                  f_size bigint, f_type text, waveform jsonb, duration double precision,
                  preview jsonb, reply_to uuid, temp_id text, message_id uuid, online boolean)
    ), judged AS (
        -- Pairs without an accepted conversation only (statement 1 had the others),
        -- judged in chatr_send_dm's order: a stored temp id, a block, the recipient.
        SELECT t.*, c.conv_id, c.conv_status, c.initiator, f.blocked_by, f.friends,
               gen_random_uuid() AS row_conv,
               CASE WHEN s.seen OR (t.temp_id IS NOT NULL AND t.copies > 1)
                         OR t.reply_to IS NOT NULL OR t.message_id IS NOT NULL
                         OR t.sender = t.recipient THEN 'later'
                    WHEN f.blocked_by IS NOT NULL THEN 'blocked'
                    WHEN c.conv_id IS NULL AND u.known IS NULL THEN 'no_recipient'
                    ELSE 'store' END AS verdict
        FROM input t
        LEFT JOIN LATERAL (
            SELECT cv.id AS conv_id, cv.status AS conv_status, cv.initiator_id AS initiator
            FROM conversations cv
            WHERE cv.participant_a = t.lo AND cv.participant_b = t.hi
            LIMIT 1) c ON true
        LEFT JOIN LATERAL (
            -- The pair's friendship rows: a block either way (its blocker), and an
            -- accepted friendship (a new conversation then starts accepted).
            SELECT (array_agg(f.requester_id) FILTER (WHERE f.status = 'blocked'))[1]
                       AS blocked_by,
                   bool_or(f.status = 'accepted') AS friends
            FROM friendships f
            WHERE (f.requester_id = t.sender AND f.addressee_id = t.recipient)
               OR (f.requester_id = t.recipient AND f.addressee_id = t.sender)) f ON true
        LEFT JOIN LATERAL (
            SELECT true AS seen
            FROM messages m
            WHERE m.sender_id = t.sender AND m.temp_id = t.temp_id
            LIMIT 1) s ON true
        LEFT JOIN LATERAL (
            -- A conversation implies the recipient exists (foreign key).
            SELECT true AS known FROM users us WHERE us.id = t.recipient AND c.conv_id IS NULL
            LIMIT 1) u ON true
        WHERE c.conv_status IS DISTINCT FROM 'accepted'
    ), planned AS (
        -- Per pair: left whole for later when any of its rows is (handling the rest
        -- here would change the order its conversation sees); the initiator (the
        -- conversation's, or the sender of the pair's first row); the start status
        -- (the conversation's, or accepted iff friends); first_reply, the first row
        -- of the non-initiator, which accepts a pending conversation; opens, the
        -- pair's first row; new_conv, the id of a conversation created here.
        SELECT w.*,
               w.pos = LEAST(w.first_lo, w.first_hi) AS opens,
               CASE WHEN w.initiator_id = w.lo THEN w.first_hi ELSE w.first_lo END
                   AS first_reply
        FROM (
            SELECT p.*,
                   COALESCE(p.initiator,
                            CASE WHEN p.first_hi IS NULL OR p.first_lo < p.first_hi
                                 THEN p.lo ELSE p.hi END) AS initiator_id,
                   COALESCE(p.conv_status,
                            CASE WHEN p.friends THEN 'accepted' ELSE 'pending' END)
                       AS start_status
            FROM (
                SELECT j.*,
                       bool_and(j.verdict = 'store') OVER pair AS whole,
                       min(j.pos) FILTER (WHERE j.sender = j.lo) OVER pair AS first_lo,
                       min(j.pos) FILTER (WHERE j.sender = j.hi) OVER pair AS first_hi,
                       (array_agg(j.row_conv) OVER pair)[1] AS new_conv
                FROM judged j
                WHERE j.verdict IN ('store', 'later')
                WINDOW pair AS (PARTITION BY j.lo, j.hi)
            ) p
            WHERE p.whole
        ) w
    ), accepted AS (
        -- = ANY (ARRAY(...)): index probes, never a scan of every conversation.
        UPDATE conversations AS cv SET status = 'accepted', updated_at = now()
        WHERE cv.id = ANY (ARRAY(SELECT conv_id FROM planned
                                 WHERE opens AND start_status = 'pending'
                                   AND first_reply IS NOT NULL AND conv_id IS NOT NULL))
          AND cv.status = 'pending'
        RETURNING cv.id
    ), opened AS (
        -- Locks in one order in every batch, so that two batches wait for each other
        -- rather than deadlock: the accepted rows first (the count forces it; the
        -- update visits them in id order), then the new pairs in key order.
        INSERT INTO conversations AS cv (id, participant_a, participant_b, initiator_id, status)
        SELECT new_conv, lo, hi, initiator_id,
               CASE WHEN start_status = 'pending' AND first_reply IS NOT NULL
                    THEN 'accepted' ELSE start_status END
        FROM planned
        WHERE opens AND conv_id IS NULL AND (SELECT count(*) FROM accepted) >= 0
        ORDER BY lo, hi
        ON CONFLICT (participant_a, participant_b) DO NOTHING
        RETURNING cv.id
    ), ready AS (
        -- The rows whose conversation is as planned (created here, accepted here, or
        -- pending and left so); the others go to chatr_send_dm, which sees the
        -- other transaction's commit.
        SELECT q.*, gen_random_uuid() AS new_id, clock_timestamp() AS new_at,
               CASE WHEN q.online AND q.conv_now = 'accepted' THEN 'delivered' ELSE 'sent' END
                   AS new_status
        FROM (
            SELECT p.*, COALESCE(p.conv_id, p.new_conv) AS final_id,
                   CASE WHEN p.start_status = 'accepted' OR p.pos >= p.first_reply
                        THEN 'accepted' ELSE 'pending' END AS conv_now,
                   p.start_status = 'pending' AND p.pos IS NOT DISTINCT FROM p.first_reply
                       AS accepted_now
            FROM planned p
            WHERE CASE WHEN p.conv_id IS NULL
                           THEN p.new_conv = ANY (ARRAY(SELECT id FROM opened))
                       WHEN p.start_status = 'pending' AND p.first_reply IS NOT NULL
                           THEN p.conv_id = ANY (ARRAY(SELECT id FROM accepted))
                       ELSE true END
        ) q
        ORDER BY q.pos
    ), stored AS (
        INSERT INTO messages AS m (id, sender_id, recipient_id, content, type, status, file_url,
                                   file_name, file_size, file_type, audio_waveform,
                                   audio_duration, link_preview, temp_id, created_at)
        SELECT new_id, sender, recipient, body, kind, new_status,
               f_url, f_name, f_size, f_type, waveform, duration, preview, temp_id, new_at
        FROM ready
        ON CONFLICT (sender_id, temp_id) DO NOTHING
        RETURNING m.id
    )
    SELECT r.pos,
           ROW('created', NULL, r.accepted_now, r.final_id, r.conv_now, r.initiator_id,
               r.new_id, r.sender, r.recipient, r.body, r.kind, r.new_status, r.new_at,
               r.f_url, r.f_name, r.f_size, r.f_type, r.waveform, r.duration, r.preview,
               NULL, NULL, NULL, NULL, NULL)::chatr_dm_result
    FROM ready r
    WHERE r.new_id = ANY (ARRAY(SELECT id FROM stored))
    UNION ALL
    SELECT j.pos,
           ROW(j.verdict, j.blocked_by, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL)::chatr_dm_result
    FROM judged j
    WHERE j.verdict IN ('blocked', 'no_recipient');
END;
$$;
