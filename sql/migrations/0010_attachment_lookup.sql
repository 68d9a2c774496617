-- Who may read an attachment (services/attachments.py) is found from the file's
-- name: the last path segment of the stored URL, unique per upload (epoch ms and a
-- random number). Partial indexes: text messages (no file) are not indexed and
-- pay nothing on insert.
CREATE INDEX messages_file_name_idx ON messages ((substring(file_url FROM '[^/]*$')))
    WHERE file_url IS NOT NULL;
CREATE INDEX group_messages_file_name_idx
    ON group_messages ((substring(file_url FROM '[^/]*$')))
    WHERE file_url IS NOT NULL;
