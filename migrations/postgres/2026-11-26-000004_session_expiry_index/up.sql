-- The periodic purge finds ended login sessions by their end.
CREATE INDEX login_sessions_expires_at ON login_sessions (expires_at);
