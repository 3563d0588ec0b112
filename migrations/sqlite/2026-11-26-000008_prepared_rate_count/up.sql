-- The shared limits' counting function exists on PostgreSQL only (see its migration).
-- Kept so both backends have the same migration names.
SELECT 1;
