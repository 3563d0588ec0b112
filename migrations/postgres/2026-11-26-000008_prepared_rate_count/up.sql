-- The per-request count of the shared limits as a function: the service calls it with a
-- SELECT that stays prepared on each connection, and PL/pgSQL keeps the upsert's plan,
-- where the upsert sent as such was parsed and planned again on every limited request
-- (Diesel prepares no upsert). Returns hits, failures and the seconds left in the window.
CREATE FUNCTION count_rate_window(k TEXT, hit INTEGER, failed INTEGER) RETURNS BIGINT[]
LANGUAGE plpgsql AS $$
DECLARE
    counted BIGINT[];
BEGIN
    INSERT INTO rate_windows AS w (key, window_start, hits, failures)
    VALUES (k, floor(extract(epoch FROM now()) / 60)::bigint, hit, failed)
    ON CONFLICT (key, window_start) DO UPDATE
    SET hits = w.hits + hit, failures = w.failures + failed
    RETURNING ARRAY[w.hits, w.failures, 60 - floor(extract(epoch FROM now()))::bigint % 60]
    INTO counted;
    RETURN counted;
END
$$;
