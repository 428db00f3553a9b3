-- R21b: every payment notification is stored with its outcome, including those refused at the edge
-- or as malformed: beside its hash, its size and a short masked sample of its start.
ALTER TABLE channel_notifications ADD COLUMN payload_size integer;
ALTER TABLE channel_notifications ADD COLUMN payload_sample text;
