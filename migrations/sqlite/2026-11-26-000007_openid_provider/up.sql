-- The OpenID provider (issue #14): the applications that may ask who someone is, the
-- consents people gave them, and the one-time authorization codes in between.
CREATE TABLE oidc_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 of the secret as shown once (it is 256 random bits, so no slow hash is
    -- needed); NULL: a public client (an SPA, a CLI), which must use PKCE
    secret_hash TEXT,
    -- exact URIs, one per line: no prefixes, no wildcards
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    id_token_alg TEXT NOT NULL DEFAULT 'RS256' CHECK (id_token_alg IN ('RS256', 'ES256')),
    created_at TIMESTAMP NOT NULL
);

-- "Grafana may know your name and phone": asked once per person and application.
CREATE TABLE oidc_grants (
    userid INTEGER NOT NULL REFERENCES susers (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    -- space-separated, as granted
    scope TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (userid, client_id)
);

-- Authorization codes, stored as their SHA-256: single use, 60 seconds, bound to the
-- client, the redirect URI and (with PKCE) the verifier's challenge.
CREATE TABLE oidc_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    -- the browser's login session the person was signed in with (auth_time, amr)
    login_session_id TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    -- the client's session the exchange started: revoked if the code comes back
    issued_session_id TEXT
);

-- A client's tokens live in a login session of their own (the same refresh-token family
-- machinery as the SPA's), which names the client and what it was granted. How the
-- person signed in (amr) and when (auth_time) are kept for every session.
ALTER TABLE login_sessions ADD COLUMN client_id TEXT REFERENCES oidc_clients (client_id) ON DELETE CASCADE;
ALTER TABLE login_sessions ADD COLUMN scope TEXT;
ALTER TABLE login_sessions ADD COLUMN method TEXT;
ALTER TABLE login_sessions ADD COLUMN auth_time TIMESTAMP;
