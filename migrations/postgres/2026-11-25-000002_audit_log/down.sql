DROP INDEX login_sessions_created_at;
DROP TABLE audit_log;
