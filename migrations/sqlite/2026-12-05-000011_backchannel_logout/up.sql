-- OpenID Connect Back-Channel Logout 1.0: where a client wants to hear that a session of
-- its ended, and the logout tokens still to deliver (a durable outbox: a restart loses none).
ALTER TABLE oidc_clients ADD COLUMN backchannel_logout_uri TEXT;
CREATE TABLE logout_outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    sub TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    delivered_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (delivered_at, next_attempt_at);
