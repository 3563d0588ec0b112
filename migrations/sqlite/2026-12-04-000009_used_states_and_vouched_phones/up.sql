-- The OAuth states (and held identities) already used, by their SHA-256, until their
-- lifetime is over: a saved copy of the session cookie cannot make one valid again, on
-- any instance.
CREATE TABLE used_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The phone number the provider vouched for at the link's last login (E.164), so that
-- `phone_number_verified` means "this exact number".
ALTER TABLE sflogin ADD COLUMN phone TEXT;
