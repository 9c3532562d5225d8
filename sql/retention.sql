SET search_path = crm, public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- ---------------------------------------------------------------------------
-- crm.retention_collect: the state, by hand
-- ---------------------------------------------------------------------------
-- Customer 1: Jan 5, Feb 10, Apr 1; 2: Jan 20; 3: Jan 31 23:00, Mar 1, Mar 15;
-- 4: Feb 1, Feb 20, Mar 3; rows with a NULL are skipped.
CREATE TEMP TABLE rb (who bigint, at timestamptz);
INSERT INTO rb VALUES
    (1, '2024-01-05'), (1, '2024-02-10'), (1, '2024-04-01'),
    (2, '2024-01-20'),
    (3, '2024-01-31 23:00'), (3, '2024-03-01'), (3, '2024-03-15'),
    (4, '2024-02-01'), (4, '2024-02-20'), (4, '2024-03-03'),
    (5, NULL), (NULL, '2024-01-01');
-- Months: 1 {Jan, Feb, Apr}, 2 {Jan}, 3 {Jan, Mar}, 4 {Feb, Mar}.
SELECT retention_collect(who, at) FROM rb;
-- ISO weeks start on Mondays: Jan 5 (Fri) -> Jan 1, Feb 10 (Sat) -> Feb 5, Apr 1 (Mon) -> Apr 1;
-- Jan 31 (Wed) and Feb 1 (Thu) -> Jan 29; Mar 3 (Sun) -> Feb 26.
SELECT retention_collect(who, at, 'week') FROM rb;
SELECT retention_collect(who, at, 'quarter') FROM rb;
-- The session time zone decides the period: Jan 31 23:00 UTC is Feb 1 in Berlin.
SET TimeZone = 'Europe/Berlin';
SELECT retention_collect(who, at, 'month') FROM rb WHERE who = 3;
SET TimeZone = 'UTC';
-- Empty input, only NULLs, one row.
SELECT retention_collect(who, at) IS NULL AS empty FROM rb WHERE false;
SELECT retention_collect(who, at) IS NULL AS only_nulls FROM rb WHERE who IS NULL OR at IS NULL;
SELECT retention_collect(42, '2024-05-06 07:08:09.123456+00'::timestamptz, 'day');
SELECT * FROM retention_kpis(NULL);
SELECT * FROM retention_cohorts(NULL);
SELECT * FROM retention_kpis((SELECT retention_collect(42, '2024-05-06'::timestamptz)));
SELECT * FROM retention_cohorts((SELECT retention_collect(42, '2024-05-06'::timestamptz)));
-- Cohort table and figures (the same numbers as crm.cohort_retention in the analytics test).
SELECT * FROM retention_cohorts((SELECT retention_collect(who, at) FROM rb), 12);
SELECT * FROM retention_cohorts((SELECT retention_collect(who, at, 'quarter') FROM rb), 0);
-- cycle: (87 + 43 + 1/24 + 31) / 6 = 26.840278 days.
SELECT customers, repeat_customers, repeat_purchase_rate, purchases, purchases_per_customer,
       round(mean_purchase_cycle_days::numeric, 6) AS cycle_days
  FROM retention_kpis((SELECT retention_collect(who, at) FROM rb));
-- Bad arguments.
SELECT retention_collect(who, at, 'fortnight') FROM rb;
SELECT retention_collect(who, at, NULL) FROM rb;
SELECT retention_collect(who, at, CASE WHEN who = 3 THEN 'week' ELSE 'month' END) FROM rb;
SELECT retention_collect(1, 'infinity'::timestamptz);
-- At most 2^20 periods from a customer's first to last: 2,870 years of days
-- (later, then earlier purchase: the bitmap would have to grow, then shift).
SELECT retention_collect(1, t, 'day') FROM (VALUES ('2000-01-01'::timestamptz), ('4900-01-01')) v(t);
SELECT retention_collect(1, t, 'day') FROM (VALUES ('4900-01-01'::timestamptz), ('2000-01-01')) v(t);
SELECT retention_collect(1, t, 'year') FROM (VALUES ('4900-01-01'::timestamptz), ('2000-01-01')) v(t);
SELECT * FROM retention_cohorts((SELECT retention_collect(who, at) FROM rb), -1);

-- ---------------------------------------------------------------------------
-- Text form: exact round trip, and values from outside are checked
-- ---------------------------------------------------------------------------
SELECT s::text = s::text::retention_state::text AS round_trip, p
  FROM (SELECT p, retention_collect(who, at, p) AS s
          FROM rb, (VALUES ('day'), ('week'), ('month'), ('quarter'), ('year')) v(p) GROUP BY p) x
 ORDER BY p;
-- Binary round trip.
CREATE TEMP TABLE rstates (id int, s retention_state);
INSERT INTO rstates VALUES
    (1, (SELECT retention_collect(who, at, 'day') FROM rb)),
    (2, (SELECT retention_collect(who, at, 'week') FROM rb)),
    (3, '{year:}'), (4, NULL);
\getenv abs_builddir PG_ABS_BUILDDIR
\set f :abs_builddir '/results/retention_state.bin'
COPY rstates TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE rstates_back (id int, s retention_state);
COPY rstates_back FROM :'f' WITH (FORMAT binary);
SELECT a.id, a.s::text IS NOT DISTINCT FROM b.s::text AS equal FROM rstates a JOIN rstates_back b USING (id) ORDER BY 1;
SELECT '{year:}'::retention_state;
SELECT '{month:(7,2,2023-12-31 23:59:59.999999+00,2024-01-01 00:00:00+00,{2023-12-01,2024-01-01})}'::retention_state;
SELECT '{month:(7,2,0044-03-15 12:00:00+00 BC,2024-01-01 00:00:00+00,{0044-03-01 BC,2024-01-01})}'::retention_state;
SELECT * FROM retention_cohorts('{year:(7,2,0044-03-15 12:00:00+00 BC,2024-01-01 00:00:00+00,{0044-01-01 BC,2024-01-01})}', 0);
SELECT '{fortnight:}'::retention_state;
SELECT '{month:(7,2,2024-01-01 00:00:00+00,2024-01-02 00:00:00+00,{2024-01-02})}'::retention_state;
SELECT '{month:(7,1,2024-01-01 00:00:00+00,2024-02-02 00:00:00+00,{2024-01-01,2024-02-01})}'::retention_state;
SELECT '{month:(7,0,2024-01-01 00:00:00+00,2024-01-01 00:00:00+00,{2024-01-01})}'::retention_state;
SELECT '{month:(7,2,2024-02-01 00:00:00+00,2024-01-01 00:00:00+00,{2024-01-01})}'::retention_state;
SELECT '{month:(7,1,2024-01-01 00:00:00+00,2024-01-01 00:00:00+00,{})}'::retention_state;
SELECT '{month:(7,1,2024-01-01 00:00:00+00,2024-01-01 00:00:00+00,{2024-01-01}),(7,1,2024-01-01 00:00:00+00,2024-01-01 00:00:00+00,{2024-01-01})}'::retention_state;
SELECT '{month:(7,1,2024-01-01 00:00:00+00,2024-01-01 00:00:00+00,{2024-01-01})'::retention_state;

-- ---------------------------------------------------------------------------
-- Partial states merge exactly, whatever rows each one saw
-- ---------------------------------------------------------------------------
CREATE AGGREGATE pg_temp.ret_merge(retention_state) (SFUNC = retention_collect_combine, STYPE = retention_state);
-- 2,000 customers over four years, purchases in no particular order; some
-- customers span more than 64 weeks and 64 days, so their bitmaps have
-- several words and get rebased when an earlier purchase comes in.
CREATE TABLE ret_big AS
SELECT g, (g * 7919) % 2000 AS who,
       '2021-01-01 00:00:00+00'::timestamptz + ((g * 104729) % 1461) * interval '1 day'
         + ((g * 31) % 86400) * interval '1 second' AS at
  FROM generate_series(1::bigint, 40000) g;
INSERT INTO ret_big VALUES (40001, NULL, now()), (40002, 5, NULL);
ANALYZE ret_big;
SELECT p,
       (SELECT pg_temp.ret_merge(s::text::retention_state) FROM (
            SELECT retention_collect(who, at, p) AS s FROM ret_big GROUP BY g % 7) x)::text
         = (SELECT retention_collect(who, at, p) FROM ret_big)::text AS merged_equals_whole
  FROM (VALUES ('day'), ('week'), ('month'), ('quarter'), ('year')) v(p) ORDER BY p;
SELECT pg_temp.ret_merge(s) FROM (VALUES ('{month:}'::retention_state), ('{week:}')) v(s);

-- ---------------------------------------------------------------------------
-- Forced parallel plans give the serial results
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE ret_serial AS
SELECT retention_collect(who, at)::text AS m, retention_collect(who, at, 'day')::text AS d FROM ret_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT retention_collect(who, at)::text AS m, retention_collect(who, at, 'day')::text AS d FROM ret_big;
CREATE TEMP TABLE ret_parallel AS
SELECT retention_collect(who, at)::text AS m, retention_collect(who, at, 'day')::text AS d FROM ret_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT s.m = p.m AS months, s.d = p.d AS days, length(s.d) > 100000 AS not_trivial
  FROM ret_serial s, ret_parallel p;

-- ---------------------------------------------------------------------------
-- The same numbers as the former SQL versions of crm.cohort_retention and
-- crm.purchase_kpis (kept here as the reference)
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.ref_cohort_retention(source regclass, customer_col name, time_col name, period text, periods integer)
    RETURNS TABLE (cohort date, cohort_size bigint, period_number integer, active bigint, retention double precision)
    LANGUAGE plpgsql AS $$
DECLARE
    off text;
BEGIN
    off := CASE period
        WHEN 'day' THEN '(%1$s - %2$s)'
        WHEN 'week' THEN '((%1$s - %2$s) / 7)'
        ELSE '(((extract(year FROM %1$s) - extract(year FROM %2$s)) * 12 + extract(month FROM %1$s) - extract(month FROM %2$s))::integer / '
             || CASE period WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END || ')'
        END;
    RETURN QUERY EXECUTE format(
        'WITH act AS (SELECT %1$I AS cust, date_trunc(%4$L, %2$I)::date AS p
                        FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY 1, 2),
              firsts AS (SELECT cust, min(p) AS cohort FROM act GROUP BY cust),
              sizes AS (SELECT cohort, count(*) AS size FROM firsts GROUP BY cohort),
              counts AS (SELECT f.cohort, %5$s AS k, count(*) AS active
                           FROM act a JOIN firsts f USING (cust) GROUP BY 1, 2),
              last AS (SELECT max(p) AS p FROM act)
         SELECT s.cohort, s.size, g.k, coalesce(c.active, 0)::bigint,
                coalesce(c.active, 0)::double precision / s.size
           FROM sizes s CROSS JOIN last l
          CROSS JOIN LATERAL generate_series(0, least($1, %6$s)) g(k)
           LEFT JOIN counts c ON c.cohort = s.cohort AND c.k = g.k
          ORDER BY 1, 3',
        customer_col, time_col, source, period,
        format(off, 'a.p', 'f.cohort'), format(off, 'l.p', 's.cohort'))
        USING periods;
END
$$;
CREATE FUNCTION pg_temp.ref_purchase_kpis(source regclass, customer_col name, time_col name)
    RETURNS TABLE (customers bigint, repeat_customers bigint, repeat_purchase_rate double precision,
                   purchases bigint, purchases_per_customer double precision, mean_purchase_cycle_days double precision)
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT count(*)::bigint, count(*) FILTER (WHERE n > 1)::bigint,
                (count(*) FILTER (WHERE n > 1))::double precision / nullif(count(*), 0),
                coalesce(sum(n), 0)::bigint, sum(n)::double precision / nullif(count(*), 0),
                sum(extract(epoch FROM (l - f)) / 86400)::double precision / nullif(sum(n - 1), 0)
           FROM (SELECT count(*) AS n, min(%2$I) AS f, max(%2$I) AS l
                   FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY %1$I) per_customer',
        customer_col, time_col, source);
END
$$;
-- Every period unit and a few horizons, in three time zones: UTC and Etc/GMT-9
-- (UTC+9) have a fixed offset, Sao Paulo had daylight saving time starting at
-- midnight until 2019 (local days of 23 hours).
-- (The time zone is set inside a function: a set_config() in the query could
-- run for all rows before the comparisons do.)
CREATE FUNCTION pg_temp.compare(tz text, p text, n int, OUT rows_new bigint, OUT rows_ref bigint, OUT same boolean)
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', tz, false);
    SELECT count(*) INTO rows_new FROM cohort_retention('ret_big', 'who', 'at', p, n);
    SELECT count(*) INTO rows_ref FROM pg_temp.ref_cohort_retention('ret_big', 'who', 'at', p, n);
    same := NOT EXISTS (SELECT * FROM cohort_retention('ret_big', 'who', 'at', p, n)
                        EXCEPT ALL SELECT * FROM pg_temp.ref_cohort_retention('ret_big', 'who', 'at', p, n))
        AND NOT EXISTS (SELECT * FROM pg_temp.ref_cohort_retention('ret_big', 'who', 'at', p, n)
                        EXCEPT ALL SELECT * FROM cohort_retention('ret_big', 'who', 'at', p, n));
END
$$;
-- Purchases start 2021-01-01 00:00 UTC, which is still December 2020 in Sao
-- Paulo (UTC-3): one more month, quarter and year cohort there.
SELECT tz, p, n, c.*
  FROM (VALUES ('UTC'), ('Etc/GMT-9'), ('America/Sao_Paulo')) z(tz),
       (VALUES ('day'), ('week'), ('month'), ('quarter'), ('year')) v(p),
       (VALUES (0), (3), (60)) k(n),
       LATERAL pg_temp.compare(tz, p, n) c
 ORDER BY tz, p, n;
SET TimeZone = 'UTC';
UPDATE ret_big SET at = at - interval '20 years' WHERE g % 97 = 0;
SELECT count(*) AS rows,
       bool_and(a IS NOT DISTINCT FROM b) AS same
  FROM (SELECT row_number() OVER () AS i, x AS a FROM cohort_retention('ret_big', 'who', 'at', 'month', 300) x) n
  FULL JOIN (SELECT row_number() OVER () AS i, y AS b FROM pg_temp.ref_cohort_retention('ret_big', 'who', 'at', 'month', 300) y) r USING (i);
-- Counts are exact; the cycle is summed in microseconds (exact) here and in
-- numeric there, so it agrees to 1e-12.
SELECT n.customers = r.customers AND n.repeat_customers = r.repeat_customers AND n.purchases = r.purchases
       AND n.repeat_purchase_rate = r.repeat_purchase_rate AND n.purchases_per_customer = r.purchases_per_customer AS counts_same,
       abs(n.mean_purchase_cycle_days / r.mean_purchase_cycle_days - 1) < 1e-12 AS cycle_same
  FROM purchase_kpis('ret_big', 'who', 'at') n, pg_temp.ref_purchase_kpis('ret_big', 'who', 'at') r;
SELECT * FROM purchase_kpis('ret_big', 'who', 'at') WHERE false;
DELETE FROM ret_big;
SELECT (SELECT row(k.*) FROM purchase_kpis('ret_big', 'who', 'at') k) IS NOT DISTINCT FROM
       (SELECT row(r.*) FROM pg_temp.ref_purchase_kpis('ret_big', 'who', 'at') r) AS empty_same;
DROP TABLE ret_big;
RESET TimeZone;
RESET DateStyle;
