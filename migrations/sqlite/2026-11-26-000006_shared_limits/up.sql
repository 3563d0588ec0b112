-- SQLite runs one instance: its limits are counted in memory (PostgreSQL keeps them in
-- shared tables). Kept so both backends have the same migration names.
SELECT 1;
