ALTER TABLE login_sessions DROP COLUMN auth_time;
ALTER TABLE login_sessions DROP COLUMN method;
ALTER TABLE login_sessions DROP COLUMN scope;
ALTER TABLE login_sessions DROP COLUMN client_id;
DROP TABLE oidc_codes;
DROP TABLE oidc_grants;
DROP TABLE oidc_clients;
