-- Groups: the chat list shows each group's newest visible message, so keep an
-- index that skips unsent rows (data.md §4 "Group list last message").
CREATE INDEX group_messages_live_idx ON group_messages (group_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
