-- Users and their third-party logins, named as in the original tutorial (susers, sflogin),
-- plus the login sessions (refresh-token families) and refresh tokens that make logout real.
CREATE TABLE susers (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- E.164 (+8613800138000); NULL when unknown, never the empty string
    phone TEXT UNIQUE CHECK (phone IS NULL OR phone <> ''),
    -- NULL: the user has no password (created through DingTalk)
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE sflogin (
    id SERIAL PRIMARY KEY,
    userid INTEGER NOT NULL REFERENCES susers (id) ON DELETE CASCADE,
    -- 1 = DingTalk, 2 = Weibo, 3 = WeChat (the tutorial's numbering)
    types INTEGER NOT NULL,
    uid TEXT NOT NULL,
    unionid TEXT,
    token TEXT,
    nick TEXT NOT NULL DEFAULT '',
    avatar_url TEXT,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    UNIQUE (types, uid),
    UNIQUE (userid, types)
);
CREATE INDEX sflogin_types_unionid ON sflogin (types, unionid);

CREATE TABLE login_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    userid INTEGER NOT NULL REFERENCES susers (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    -- absolute end of the session: refreshing never extends it
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoke_reason TEXT,
    user_agent TEXT
);
CREATE INDEX login_sessions_userid ON login_sessions (userid);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    -- SHA-256 of the token as handed out; the token itself is never stored
    token_hash TEXT NOT NULL UNIQUE,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
