-- psql -v tbl=schema.table -f checksum.sql: one '|'-separated line of count and per-column sums.
-- Type-robust (survives int->bigint, numeric->double, timestamp->timestamptz, bool->int widening).
SELECT count(*)                                                     AS n,
       coalesce(sum(id), 0)                                         AS sum_id,
       coalesce(sum(customer_id), 0)                                AS sum_cust,
       coalesce(round(sum(amount)::numeric, 2), 0)                  AS sum_amount,
       count(amount)                                                AS n_amount,
       count(note)                                                  AS n_note,
       coalesce(sum(length(note)), 0)                               AS len_note,
       coalesce(sum(length(code)), 0)                               AS len_code,
       coalesce(sum((extract(epoch FROM created_at) * 1000000)::bigint), 0) AS sum_epoch_us,
       coalesce(sum(ship_date::date - date '2000-01-01'), 0)        AS sum_ship,
       coalesce(sum(is_paid::int), 0)                               AS n_paid,
       count(is_paid)                                               AS n_is_paid
FROM :tbl;
