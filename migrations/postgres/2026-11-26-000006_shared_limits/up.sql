-- Limits that hold across instances (issue #12): every instance counts in these tables,
-- so N instances enforce one limit. UNLOGGED: counters are not worth a WAL write each, and
-- after a crash they start from zero, which only forgives. Keys are keyed hashes of the
-- client's address or the account name, never the raw values; times are epoch seconds of
-- the database's clock, so the instances' clocks do not matter.

-- Requests per client address and group of login endpoints, in one-minute windows.
CREATE UNLOGGED TABLE rate_windows (
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);

-- Failed password logins per account and per address, in 15-minute windows.
CREATE UNLOGGED TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_failure BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
