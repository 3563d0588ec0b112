DROP INDEX login_sessions_expires_at;
