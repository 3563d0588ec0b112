-- HANDOFF_MODE=code: the SPA receives a one-time code instead of the tokens; the code
-- (stored as its SHA-256) names the login session whose tokens it stands for.
CREATE TABLE handoff_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
