DROP TABLE logout_outbox;
ALTER TABLE oidc_clients DROP COLUMN backchannel_logout_uri;
