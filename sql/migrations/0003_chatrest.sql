-- Chat REST (issue 4): the conversation list discovers a user's DM partners by
-- skip-scanning the pair columns. messages_pair_created_idx serves the pairs
-- where the user is the smaller id (user_lo); this index serves the others.
CREATE INDEX messages_pair_hi_idx ON messages (user_hi, user_lo);
