-- Every administrative action: who did what to whom, and when.
CREATE TABLE audit_log (
    id SERIAL PRIMARY KEY,
    actor_id INTEGER REFERENCES susers (id) ON DELETE SET NULL,
    actor_username TEXT NOT NULL,
    action TEXT NOT NULL,
    target_user_id INTEGER REFERENCES susers (id) ON DELETE SET NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_user_id, created_at);
-- the admin page counts logins of the last 24 hours
CREATE INDEX login_sessions_created_at ON login_sessions (created_at);
