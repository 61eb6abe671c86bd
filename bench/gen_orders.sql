-- The bench.orders table: psql -v rows=N -f gen_orders.sql (the bench-peers shape, same seed).
-- random() is seeded and the INSERT runs on one backend, so the rows are the same on every run;
-- text comes from md5(id). About 5 % NULLs in every nullable column.
\set ON_ERROR_STOP on
SET max_parallel_workers_per_gather = 0;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.orders (
    id          bigint PRIMARY KEY,
    customer_id integer,
    amount      numeric(12,2),
    note        text,
    code        varchar(16),
    created_at  timestamp,
    ship_date   date,
    is_paid     boolean
);
SELECT setseed(0.42) \g /dev/null
INSERT INTO bench.orders
SELECT i,
       (random() * 1000000)::int,
       CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 100000)::numeric, 2) END,
       CASE WHEN random() < 0.05 THEN NULL
            ELSE substr(md5(i::text) || md5((i + 7)::text), 1, 20 + (random() * 40)::int) END,
       CASE WHEN random() < 0.05 THEN NULL
            ELSE 'C-' || upper(substr(md5((i * 31)::text), 1, 6 + (random() * 8)::int)) END,
       timestamp '2019-01-01' + random() * interval '1826 days',
       CASE WHEN random() < 0.05 THEN NULL ELSE date '2019-01-01' + (random() * 1900)::int END,
       CASE WHEN random() < 0.05 THEN NULL ELSE random() < 0.7 END
FROM generate_series(1, :rows) AS g(i);
VACUUM (ANALYZE, FREEZE) bench.orders;
