-- The organisation's directory, mirrored from DingTalk: its departments, and its people
-- (kept after they leave, with the day they left, so a rehire is recognised).
CREATE TABLE directory_departments (
    dept_id BIGINT PRIMARY KEY NOT NULL,
    parent_id BIGINT,
    name TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    synced_at TIMESTAMP NOT NULL
);
CREATE TABLE directory_members (
    userid TEXT PRIMARY KEY NOT NULL,
    unionid TEXT,
    name TEXT NOT NULL,
    -- the departments the person is directly in, comma-separated ids
    dept_ids TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    left_at TIMESTAMP,
    synced_at TIMESTAMP NOT NULL
);
CREATE INDEX directory_members_unionid ON directory_members (unionid);
-- Every full sync's result, for admins and for the next sync's safety check.
CREATE TABLE directory_syncs (
    id INTEGER PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    departments INTEGER NOT NULL,
    members INTEGER NOT NULL,
    joined INTEGER NOT NULL,
    departed INTEGER NOT NULL,
    error TEXT
);
-- Directory events already applied (DingTalk's eventId, or the digest of an event without
-- one): DingTalk delivers at least once, and every instance may receive each event.
CREATE TABLE directory_events (
    event_key TEXT PRIMARY KEY NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX directory_events_received_at ON directory_events (received_at);
-- Work that one instance at a time may do (the directory's full sync): who holds it, until when.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
-- Who deactivated a user: 'admin', or 'directory' when they left the organisation (only
-- the latter is undone by a rehire).
ALTER TABLE susers ADD COLUMN deactivated_by TEXT;
