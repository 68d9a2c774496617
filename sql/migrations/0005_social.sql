-- Social graph: at most one live (pending or accepted) friendship per
-- unordered pair, so two crossing requests cannot both succeed. Block rows
-- are per direction (requester = blocker): each side of a mutual block owns
-- its own row, and lifting one never lifts the other (SEC-14).
CREATE UNIQUE INDEX friendships_live_pair_key
    ON friendships (LEAST(requester_id, addressee_id), GREATEST(requester_id, addressee_id))
    WHERE status <> 'blocked';
