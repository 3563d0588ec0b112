DROP TABLE refresh_tokens;
DROP TABLE login_sessions;
DROP TABLE sflogin;
DROP TABLE susers;
