-- RFM: the crm.rfm type, crm.rfm_stats, crm.rfm_breaks, crm.rfm_score,
-- segments and crm.rfm_analyze
SET search_path = crm, public;
SET TimeZone = 'UTC';

-- Text forms: 543 and 5-4-3, blanks around allowed; output is three digits.
SELECT '543'::rfm, ' 5-4-3 '::rfm, E'\t111\n'::rfm, '555'::rfm, crm.rfm(1, 2, 3);
SELECT r('543'), f('543'), m('543'), r('1-5-2'), f('1-5-2'), m('1-5-2');

-- Bad input and its messages.
\set VERBOSITY default
SELECT ''::rfm;
SELECT '54'::rfm;
SELECT '5432'::rfm;
SELECT '5-43'::rfm;
SELECT '54-3'::rfm;
SELECT '5--4-3'::rfm;
SELECT 'abc'::rfm;
SELECT '603'::rfm;
SELECT '5-0-3'::rfm;
SELECT crm.rfm(6, 1, 1);
SELECT crm.rfm(1, 0, 1);
\set VERBOSITY terse

-- Order is r, then f, then m; equality, hashing.
SELECT '543'::rfm > '455'::rfm AS gt, '543'::rfm < '544'::rfm AS lt, '543'::rfm = '5-4-3'::rfm AS eq,
       '543'::rfm <> '543'::rfm AS ne, '111'::rfm <= '111'::rfm AS le, '111'::rfm >= '112'::rfm AS ge,
       rfm_cmp('123', '321') AS cmp_neg, rfm_cmp('321', '321') AS cmp0,
       rfm_hash('543') = rfm_hash('5-4-3') AS same_hash,
       rfm_hash_extended('543', 3) = rfm_hash_extended('5-4-3', 3) AS same_hash64;

-- Every one of the 125 scores: accessors invert the constructor, text round trips,
-- and the order equals the order of (r, f, m).
CREATE TEMP TABLE all_scores AS
SELECT r, f, m, crm.rfm(r, f, m) AS s
  FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m;
SELECT count(*) AS scores,
       bool_and(crm.r(s) = r AND crm.f(s) = f AND crm.m(s) = m) AS accessors,
       bool_and(s::text::rfm = s AND s::text = r::text || f || m) AS text_round_trip
  FROM all_scores;
SELECT (SELECT array_agg(s ORDER BY s) FROM all_scores) = (SELECT array_agg(s ORDER BY r, f, m) FROM all_scores) AS ordered;

-- Indexes: btree and hash give the same answers as a sequential scan.
CREATE TEMP TABLE scored AS SELECT g AS id, crm.rfm(1 + g % 5, 1 + (g / 5) % 5, 1 + (g / 25) % 5) AS s
  FROM generate_series(1, 2000) g;
CREATE INDEX scored_btree ON scored (s);
CREATE INDEX scored_hash ON scored USING hash (s);
ANALYZE scored;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM scored WHERE s = '543';
SELECT count(*) FROM scored WHERE s >= '443' AND s < '512';
SET enable_indexscan = off;
SET enable_bitmapscan = on;
DROP INDEX scored_btree;
EXPLAIN (COSTS OFF) SELECT count(*) FROM scored WHERE s = '543';
SELECT count(*) FROM scored WHERE s = '543';
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT count(*) FILTER (WHERE s = '543') AS eq, count(*) FILTER (WHERE s >= '443' AND s < '512') AS range FROM scored;
SELECT amname, opcname, amvalidate(c.oid)
  FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
 WHERE opcname IN ('rfm_ops', 'rfm_hash_ops') ORDER BY 1;

-- Binary COPY round trip.
\getenv abs_builddir PG_ABS_BUILDDIR
\set f :abs_builddir '/results/rfm.bin'
COPY (SELECT s FROM all_scores) TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE scores_back (s rfm);
COPY scores_back FROM :'f' WITH (FORMAT binary);
SELECT count(*), count(*) FILTER (WHERE s IN (SELECT s FROM all_scores)) FROM scores_back;

-- ---------------------------------------------------------------------------
-- crm.rfm_stats: per-customer figures against plain SQL
-- ---------------------------------------------------------------------------
CREATE TABLE buys (cust bigint, at timestamptz, amount numeric);
INSERT INTO buys
SELECT 1 + (g * 7919) % 300,
       timestamptz '2023-01-01' + ((g * 104729) % 1000) * interval '1 day' + (g % 86400) * interval '1 second',
       round(((g * 31) % 997) / 7.0 + (g % 3) * 0.001, 1 + g % 3)
  FROM generate_series(1, 20000) g;
INSERT INTO buys VALUES (1, NULL, 5), (2, '2024-01-01', NULL), (NULL, '2024-01-01', 7),
                        (301, '2024-05-05', 1e-10), (301, '2024-05-06', 123456789012345678901234.5),
                        (302, '2024-05-05', -3.25), (302, '2024-06-05', 0);
CREATE TEMP TABLE plain AS
SELECT cust, min(at) AS first_purchase, max(at) AS last_purchase, count(*) AS purchases, sum(amount) AS spend
  FROM buys WHERE at IS NOT NULL AND amount IS NOT NULL GROUP BY cust;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (x.s).first_purchase = p.first_purchase AND (x.s).last_purchase = p.last_purchase
                          AND (x.s).purchases = p.purchases AND (x.s).spend::text = p.spend::text) AS equal
  FROM (SELECT cust, rfm_stats(at, amount) AS s FROM buys GROUP BY cust) x
  JOIN plain p USING (cust);
SELECT (rfm_stats(at, amount)).* FROM buys WHERE cust IN (301, 302) GROUP BY cust ORDER BY cust;
SELECT rfm_stats(at, amount) IS NULL AS empty_is_null FROM buys WHERE false;
SELECT rfm_stats(at, amount) IS NULL AS all_null_is_null FROM buys WHERE cust = 1 AND at IS NULL;

-- The state's text and binary forms round trip exactly.
SELECT '(2024-01-01 10:00:00+00,2024-02-01 12:30:00.123456+00,3,12.50)'::rfm_state;
SELECT '(2024-01-01 10:00:00+00,2024-02-01 12:30:00.123456+00,3,12.50)'::rfm_state::text::rfm_state::text;
-- The text form is ISO 8601 at UTC whatever DateStyle and TimeZone say.
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SELECT '(2024-05-05 00:00:00+00,2024-06-05 00:00:00.5+00,2,-3.25)'::rfm_state;
SELECT '(05/05/2024 02:00:00 CEST,infinity,2,-3.25)'::rfm_state;
SELECT '(2024-05-05 00:00:00+00,2024-06-05 00:00:00.5+00,2,-3.25)'::rfm_state::text::rfm_state::text;
RESET DateStyle;
SET TimeZone = 'UTC';
SELECT '(2024-01-01,2023-01-01,3,1)'::rfm_state;
SELECT '(2024-01-01,2024-01-01,0,1)'::rfm_state;
SELECT '(2024-01-01,2024-01-01,1)'::rfm_state;
SELECT 'junk'::rfm_state;
CREATE TEMP TABLE states AS
SELECT cust, rfm_stats_trans_state AS st FROM (
    SELECT cust, '(' || min(at) || ',' || max(at) || ',' || count(*) || ',' || sum(amount) || ')' AS rfm_stats_trans_state
      FROM buys WHERE at IS NOT NULL AND amount IS NOT NULL GROUP BY cust) x;
ALTER TABLE states ALTER st TYPE rfm_state USING st::rfm_state;
\set f :abs_builddir '/results/rfm_state.bin'
COPY states TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE states_back (cust bigint, st rfm_state);
COPY states_back FROM :'f' WITH (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE a.st::text = b.st::text) AS equal
  FROM states a JOIN states_back b USING (cust);

-- Forced parallel plan: Partial Aggregate, same result as the serial plan.
CREATE TABLE big_buys AS SELECT * FROM buys, generate_series(1, 10) k;
ANALYZE big_buys;
CREATE TEMP TABLE serial_stats AS
SELECT cust, rfm_stats(at, amount) AS s FROM big_buys GROUP BY cust;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) CREATE TABLE parallel_stats AS
SELECT cust, rfm_stats(at, amount) AS s FROM big_buys GROUP BY cust;
CREATE TABLE parallel_stats AS
SELECT cust, rfm_stats(at, amount) AS s FROM big_buys GROUP BY cust;
EXPLAIN (COSTS OFF) SELECT rfm_stats(at, amount) FROM big_buys;
SELECT (SELECT rfm_stats(at, amount) FROM big_buys) = (
        SELECT ROW(min(at), max(at), count(*), sum(amount))::purchase_stats
          FROM big_buys WHERE at IS NOT NULL AND amount IS NOT NULL) AS whole_table_parallel_equal;
RESET enable_hashagg;
SELECT count(*) AS customers, count(*) FILTER (WHERE a.s::text = b.s::text) AS equal
  FROM serial_stats a JOIN parallel_stats b USING (cust);

-- ---------------------------------------------------------------------------
-- Quantile breaks and scores
-- ---------------------------------------------------------------------------
-- Ten customers: break k is the value at sorted position ceil(k * 10 / 5).
SELECT rfm_breaks(x, 11 - x, x * 10) FROM generate_series(1, 10) x;
-- Seven: positions ceil(1.4) = 2, ceil(2.8) = 3, ceil(4.2) = 5, ceil(5.6) = 6.
SELECT rfm_breaks(x, x, x) FROM generate_series(1, 7) x;
-- Fewer than five distinct values: breaks repeat, some scores are never given.
SELECT rfm_breaks(recency, freq, spend)
  FROM (VALUES (3, 1, 10), (3, 1, 10), (3, 1, 10), (40, 1, 10), (40, 2, 99)) v(recency, freq, spend);
SELECT rfm_score(recency, freq, spend, b) AS score, count(*)
  FROM (VALUES (3, 1, 10), (3, 1, 10), (3, 1, 10), (40, 1, 10), (40, 2, 99)) v(recency, freq, spend),
       (SELECT rfm_breaks(recency, freq, spend) AS b
          FROM (VALUES (3, 1, 10), (3, 1, 10), (3, 1, 10), (40, 1, 10), (40, 2, 99)) v(recency, freq, spend)) bb
 GROUP BY 1 ORDER BY 1;
-- One customer: every break is its value; it scores 5 on recency, 1 on the others.
SELECT rfm_breaks(12, 3, 40.5), rfm_score(12, 3, 40.5, rfm_breaks(12, 3, 40.5)) FROM (SELECT 1) x;
SELECT rfm_breaks(r, f, m) IS NULL AS no_rows FROM (VALUES (1.0, 1.0, 1.0)) v(r, f, m) WHERE false;
SELECT rfm_breaks(r, f, m) FROM (VALUES (1.0, NULL, 1.0), (2.0, 2.0, 2.0)) v(r, f, m);
SELECT rfm_breaks(r, f, m) FROM (VALUES ('NaN'::float8, 1.0, 1.0)) v(r, f, m);
SELECT rfm_quintile(7, '{2,4,6,8}'), rfm_quintile(8, '{2,4,6,8}'), rfm_quintile(9, '{2,4,6,8}'),
       rfm_quintile(1, '{2,4,6,8}', true), rfm_quintile(2, '{2,4,6,8}', true), rfm_quintile(9, '{2,4,6,8}', true);
SELECT rfm_quintile(1, '{2,4,6}');
SELECT rfm_quintile(1, '{4,2,6,8}');
SELECT rfm_score(1, 1, 1, ROW(1, '{1,2,3}', '{1,2,3,4}', '{1,2,3,4}')::rfm_cuts);

-- The sample state round trips exactly (shortest exact float text).
SELECT '{(1,2,3.5),(0.1,1e+300,-4)}'::rfm_sample;
SELECT '{(1,2,3.5),(0.1,1e+300,-4)}'::rfm_sample::text::rfm_sample::text;
SELECT '{}'::rfm_sample, ' { ( 1 , 2 , 3 ) } '::rfm_sample;
SELECT '{(1,2)}'::rfm_sample;
SELECT '{(1,2,NaN)}'::rfm_sample;

-- Parallel breaks equal serial breaks.
CREATE TEMP TABLE per_cust AS
SELECT cust, extract(day FROM timestamptz '2026-01-01' - max(at))::int AS recency, count(*) AS freq, sum(amount) AS spend
  FROM big_buys WHERE at IS NOT NULL AND amount IS NOT NULL GROUP BY cust;
CREATE TABLE per_cust_big AS SELECT p.* FROM per_cust p, generate_series(1, 50);
ANALYZE per_cust_big;
EXPLAIN (COSTS OFF) CREATE TABLE par_breaks AS SELECT rfm_breaks(recency, freq, spend) AS b FROM per_cust_big;
CREATE TABLE par_breaks AS SELECT rfm_breaks(recency, freq, spend) AS b FROM per_cust_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT (SELECT b::text FROM par_breaks) = (SELECT rfm_breaks(recency, freq, spend)::text FROM per_cust_big) AS parallel_equal;
RESET max_parallel_workers_per_gather;

-- Independent check of the rule over 300 customers: break k is the
-- ceil(k*N/5)-th smallest value (plain SQL with row_number).
WITH b AS (SELECT rfm_breaks(recency, freq, spend) AS b FROM per_cust),
     n AS (SELECT count(*) AS n FROM per_cust),
     ranked AS (SELECT recency, freq, spend::float8 AS spend,
                       row_number() OVER (ORDER BY recency) AS rr,
                       row_number() OVER (ORDER BY freq) AS rf,
                       row_number() OVER (ORDER BY spend) AS rm FROM per_cust)
SELECT k,
       (SELECT recency FROM ranked WHERE rr = ceil(k * n / 5.0)) = (b).recency[k] AS r_ok,
       (SELECT freq FROM ranked WHERE rf = ceil(k * n / 5.0)) = (b).frequency[k] AS f_ok,
       (SELECT spend FROM ranked WHERE rm = ceil(k * n / 5.0)) = (b).monetary[k] AS m_ok
  FROM b, n, generate_series(1, 4) k ORDER BY k;

-- ---------------------------------------------------------------------------
-- Segments
-- ---------------------------------------------------------------------------
SELECT priority, segment, r_min, r_max, f_min, f_max, m_min, m_max FROM rfm_segment_map ORDER BY priority;
SELECT s, rfm_segment(s), rfm_segment_action(s) FROM (VALUES ('555'::rfm), ('511'), ('411'), ('333'), ('155'),
       ('244'), ('323'), ('311'), ('212'), ('232'), ('111'), ('425')) v(s);
-- Every score has a segment with the default map.
SELECT count(*) FILTER (WHERE rfm_segment(s) IS NULL) AS unmapped FROM all_scores;
SELECT rfm_segment(s) AS segment, count(*) FROM all_scores GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------------
-- crm.rfm_collect: every customer of a table in one state
-- ---------------------------------------------------------------------------
-- Amounts it cannot sum exactly in 128 bits of 10^-8 units are refused.
\set VERBOSITY default
SELECT rfm_collect(cust, at, amount) FROM buys WHERE cust = 301;
SELECT rfm_collect(1, now(), 'NaN');
SELECT rfm_collect(1, now(), 1e20);
\set VERBOSITY terse
SELECT rfm_collect(c, t, a) FROM (VALUES (1, timestamptz '2024-01-01', 99999999999999999999.99999999),
                                         (1, '2024-01-02', -0.00000001), (2, '2024-01-01', 0)) v(c, t, a);
DELETE FROM buys WHERE cust = 301;
SELECT rfm_collect(cust, at, amount) FROM buys WHERE cust IN (302, 7, 8);
SELECT * FROM rfm_table_customers((SELECT rfm_collect(cust, at, amount) FROM buys WHERE cust IN (302, 7, 8)));
SELECT rfm_collect(cust, at, amount) IS NULL AS empty_is_null FROM buys WHERE false;
-- Spend is built directly in numeric's stored form: the same digits, weight, sign and
-- display scale (numeric_send shows them all) as the amount itself.
SELECT x::text AS amount, numeric_send(s.spend) = numeric_send(x) AS same_digits,
       s.spend::text = x::text AS same_text
  FROM (VALUES ('0'::numeric), ('0.00'), ('-0.000'), ('-0.5'), ('0.00000001'), ('-123456789012.12345678'),
               ('10000'), ('1e19'), ('0.10'), ('12.3400'), ('99999999999999999999.99999999')) v(x),
       LATERAL rfm_table_customers((SELECT rfm_collect(1, timestamptz '2024-01-01', y) FROM (SELECT x) w(y))) s;
-- Against plain SQL, serial.
CREATE TEMP TABLE collected AS SELECT rfm_collect(cust, at, amount) AS t FROM buys;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE x.purchases = p.purchases AND x.last_purchase = p.last_purchase AND x.spend::text = p.spend::text) AS equal
  FROM rfm_table_customers((SELECT t FROM collected)) x JOIN plain p ON p.cust = x.customer_id;
-- Text and binary round trips.
SELECT count(*) AS round_trips FROM collected WHERE t::text::rfm_table::text = t::text;
SELECT rfm_collect_final(t)::text = t::text AS final_on_stored_value FROM collected;
SELECT '{2:(5,2,2024-01-01 00:00:00+00,1.50)}'::rfm_table, '{0:}'::rfm_table;
SELECT '{2:(5,2,2024-01-01 00:00:00+00,1.50),(5,1,2024-01-01 00:00:00+00,1)}'::rfm_table;
SELECT '{2:(5,0,2024-01-01 00:00:00+00,1.50)}'::rfm_table;
SELECT '{2:(5,1,2024-01-01 00:00:00+00,1.123456789)}'::rfm_table;
SELECT '{2:(5,1,2024-01-01)}'::rfm_table;
\set f :abs_builddir '/results/rfm_table.bin'
COPY collected TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE collected_back (t rfm_table);
COPY collected_back FROM :'f' WITH (FORMAT binary);
SELECT (SELECT t::text FROM collected) = (SELECT t::text FROM collected_back) AS binary_round_trip;
-- Forced parallel plan equals the serial one.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) CREATE TABLE par_collected AS SELECT rfm_collect(cust, at, amount) AS t FROM big_buys WHERE cust <> 301;
CREATE TABLE par_collected AS SELECT rfm_collect(cust, at, amount) AS t FROM big_buys WHERE cust <> 301;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT (SELECT t::text FROM par_collected) = (SELECT rfm_collect(cust, at, amount)::text FROM big_buys WHERE cust <> 301) AS parallel_equal;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS customers, sum(purchases) AS purchases FROM rfm_table_customers((SELECT t FROM par_collected));

-- ---------------------------------------------------------------------------
-- crm.rfm_analyze
-- ---------------------------------------------------------------------------
-- On a user's table with its own column names; NULL rows skipped; the
-- period counts purchases in (as_of - period, as_of].
CREATE TEMP TABLE analyzed AS
SELECT * FROM rfm_analyze('2026-01-01', 'buys', 'cust', 'at', 'amount');
CREATE TEMP TABLE expected_rfm AS
SELECT cust AS customer_id, floor(extract(epoch FROM timestamptz '2026-01-01' - max(at)) / 86400)::int AS recency_days,
       count(*) AS frequency, sum(amount) AS monetary
  FROM buys WHERE cust IS NOT NULL AND at IS NOT NULL AND amount IS NOT NULL AND at <= '2026-01-01'
 GROUP BY cust;
SELECT (SELECT count(*) FROM analyzed) AS customers, (SELECT count(*) FROM expected_rfm) AS expected,
       count(*) FILTER (WHERE a.recency_days = e.recency_days AND a.frequency = e.frequency
                          AND a.monetary::text = e.monetary::text) AS equal
  FROM analyzed a JOIN expected_rfm e USING (customer_id);
SELECT customer_id, recency_days, frequency, monetary FROM analyzed WHERE customer_id IN (7, 302) ORDER BY 1;
-- Scores follow the documented rule: the same as crm.rfm_score with crm.rfm_breaks.
WITH b AS (SELECT rfm_breaks(recency_days, frequency, monetary) AS b FROM analyzed)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE a.rfm = rfm_score(a.recency_days, a.frequency, a.monetary, b.b)) AS same_score,
       count(*) FILTER (WHERE a.r = crm.r(a.rfm) AND a.f = crm.f(a.rfm) AND a.m = crm.m(a.rfm)) AS same_parts,
       count(*) FILTER (WHERE a.segment = rfm_segment(a.rfm)) AS same_segment
  FROM analyzed a, b;
-- Recency spread over more days than a table of counts covers (breaks by
-- selection instead): the same rule.
CREATE TEMP TABLE wide_buys AS
SELECT c AS cust, timestamptz '2026-01-01' - c * 1000 * interval '1 day' AS at, c::numeric AS amount
  FROM generate_series(1, 9) c;
WITH a AS (SELECT * FROM rfm_analyze('2026-01-01', 'wide_buys', 'cust', 'at', 'amount')),
     b AS (SELECT rfm_breaks(recency_days, frequency, monetary) AS b FROM a)
SELECT count(*) AS customers, min(recency_days) AS min_days, max(recency_days) AS max_days,
       count(*) FILTER (WHERE a.rfm = rfm_score(a.recency_days, a.frequency, a.monetary, b.b)) AS same_score,
       string_agg(crm.r(a.rfm)::text, '' ORDER BY a.customer_id) AS r_by_customer
  FROM a, b;
-- Equal values, equal scores; a more recent purchase never scores lower.
SELECT count(*) AS tie_violations FROM analyzed a JOIN analyzed b
    ON (a.recency_days = b.recency_days AND a.r <> b.r) OR (a.frequency = b.frequency AND a.f <> b.f)
    OR (a.monetary = b.monetary AND a.m <> b.m);
SELECT count(*) AS order_violations FROM analyzed a JOIN analyzed b
    ON (a.recency_days < b.recency_days AND a.r < b.r) OR (a.frequency < b.frequency AND a.f > b.f)
    OR (a.monetary < b.monetary AND a.m > b.m);
-- A period and an as_of in the past.
SELECT count(*) AS customers,
       count(*) FILTER (WHERE a.frequency = e.frequency AND a.monetary = e.monetary AND a.recency_days = e.recency_days) AS equal
  FROM rfm_analyze('2024-06-30 12:00', 'buys', 'cust', 'at', 'amount', '6 months') a
  FULL JOIN (SELECT cust AS customer_id, count(*) AS frequency, sum(amount) AS monetary,
                    floor(extract(epoch FROM timestamptz '2024-06-30 12:00' - max(at)) / 86400)::int AS recency_days
               FROM buys WHERE at > timestamptz '2024-06-30 12:00' - interval '6 months' AND at <= '2024-06-30 12:00'
                AND amount IS NOT NULL AND cust IS NOT NULL GROUP BY cust) e USING (customer_id);
-- The scan inside crm.rfm_analyze may run in parallel workers (its query is
-- planned like this one): forced, it gives exactly the serial result.
CREATE VIEW big_buys_exact AS SELECT * FROM big_buys WHERE cust IS DISTINCT FROM 301;
CREATE TEMP TABLE serial_analyzed AS SELECT * FROM rfm_analyze('2026-01-01', 'big_buys_exact', 'cust', 'at', 'amount');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT rfm_collect(cust::int8, at::timestamptz, amount) FROM big_buys_exact WHERE at <= timestamptz '2026-01-01';
CREATE TEMP TABLE parallel_analyzed AS SELECT * FROM rfm_analyze('2026-01-01', 'big_buys_exact', 'cust', 'at', 'amount');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT (SELECT count(*) FROM serial_analyzed) AS customers,
       count(*) FILTER (WHERE a.recency_days = b.recency_days AND a.frequency = b.frequency AND a.monetary::text = b.monetary::text
                          AND a.rfm = b.rfm AND a.segment IS NOT DISTINCT FROM b.segment) AS equal
  FROM serial_analyzed a JOIN parallel_analyzed b USING (customer_id);
-- A plain table is read directly, without a query: alone, or with parallel
-- workers filling one shared hash table (forced here on a small table).  The
-- table is sized from the statistics; told that there is a single customer,
-- it fills up, and the customers that did not fit are counted in each
-- process's private table, with parallel workers or alone.  Each way gives
-- exactly what the query path gives on a view of the same rows.  The debug
-- line says which way ran.
CREATE TABLE many_buys AS
SELECT CASE WHEN g % 997 = 0 THEN NULL ELSE 1 + (g * 7919) % 3000 END AS cust,
       timestamptz '2023-01-01' + ((g * 104729) % 1200) * interval '1 day' + (g % 86400) * interval '1 second' AS at,
       round(((g * 31) % 997) / 7.0 + (g % 3) * 0.001, (1 + g % 3)::int) AS amount
  FROM generate_series(1::bigint, 60000) g;
-- Spends too large for a shared slot's 64 bits of units (10^-8): customer 42's
-- sum passes 2^63 units on its second purchase, customer 43's single amounts
-- are past it already.  Those purchases are counted in private tables.
INSERT INTO many_buys
SELECT 42 + g % 2, timestamptz '2025-01-01' + g * interval '1 day',
       CASE WHEN g % 2 = 0 THEN 60000000000.5 ELSE 123456789012.25 END
  FROM generate_series(1, 6) g;
-- Every row in ANALYZE's sample, so that the statistics (and the debug lines) do not vary.
ALTER TABLE many_buys ALTER COLUMN cust SET STATISTICS 1000;
ANALYZE many_buys;
CREATE VIEW many_buys_view AS SELECT * FROM many_buys;
CREATE TEMP TABLE by_query AS SELECT * FROM rfm_analyze('2025-06-30', 'many_buys_view', 'cust', 'at', 'amount', '2 years');
CREATE TEMP TABLE direct_alone (LIKE by_query);
CREATE TEMP TABLE direct_parallel (LIKE by_query);
CREATE TEMP TABLE direct_filled (LIKE by_query);
CREATE TEMP TABLE direct_filled_alone (LIKE by_query);
SET client_min_messages = debug1;
INSERT INTO direct_alone SELECT * FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
INSERT INTO direct_parallel SELECT * FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
RESET client_min_messages;
ALTER TABLE many_buys ALTER COLUMN cust SET (n_distinct = 1);
ANALYZE many_buys;
SET client_min_messages = debug1;
INSERT INTO direct_filled SELECT * FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
SET max_parallel_workers_per_gather = 0;
INSERT INTO direct_filled_alone SELECT * FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
RESET client_min_messages;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT w.way, (SELECT count(*) FROM by_query) AS customers, count(*) AS found,
       count(*) FILTER (WHERE a.recency_days = b.recency_days AND a.frequency = b.frequency AND a.monetary::text = b.monetary::text
                          AND a.rfm = b.rfm AND a.segment IS NOT DISTINCT FROM b.segment) AS equal
  FROM (VALUES ('alone'), ('parallel'), ('filled'), ('filled alone')) w(way)
  CROSS JOIN LATERAL (SELECT * FROM direct_alone WHERE w.way = 'alone'
                      UNION ALL SELECT * FROM direct_parallel WHERE w.way = 'parallel'
                      UNION ALL SELECT * FROM direct_filled WHERE w.way = 'filled'
                      UNION ALL SELECT * FROM direct_filled_alone WHERE w.way = 'filled alone') a
  LEFT JOIN by_query b USING (customer_id)
 GROUP BY w.way ORDER BY w.way;
-- Their scores follow the documented rule on these 3000 customers too.
WITH b AS (SELECT rfm_breaks(recency_days, frequency, monetary) AS b FROM by_query)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE a.rfm = rfm_score(a.recency_days, a.frequency, a.monetary, b.b)) AS same_score
  FROM by_query a, b;
-- The query path itself against plain SQL, so that the comparison above means something.
SELECT count(*) AS customers,
       count(*) FILTER (WHERE b.frequency = e.frequency AND b.monetary = e.monetary AND b.recency_days = e.recency_days) AS equal
  FROM by_query b
  FULL JOIN (SELECT cust AS customer_id, count(*) AS frequency, sum(amount) AS monetary,
                    floor(extract(epoch FROM timestamptz '2025-06-30' - max(at)) / 86400)::int AS recency_days
               FROM many_buys WHERE at > timestamptz '2025-06-30' - interval '2 years' AND at <= '2025-06-30'
                AND cust IS NOT NULL GROUP BY cust) e USING (customer_id);
-- The ids in the range the statistics show (and an eighth more) have a slot
-- each; other ids are hashed into the slots after them.  Here ids added
-- after ANALYZE lie above and below the range, more of them than the hashed
-- slots take, so the rest go to the private tables: alone and with parallel
-- workers, each way gives what the query path gives.
CREATE TABLE dense_buys AS
SELECT 1000 + g % 2000 AS cust, timestamptz '2025-01-01' + (g % 300) * interval '1 day' AS at, (g % 50) + 0.25 AS amount
  FROM generate_series(1, 20000) g;
ANALYZE dense_buys;
INSERT INTO dense_buys
SELECT CASE WHEN g % 2 = 0 THEN 5000 + g ELSE -g END, timestamptz '2025-02-01' + (g % 200 + k) * interval '1 day', g % 7 + 0.5 * k
  FROM generate_series(1, 3000) g, generate_series(1, 2) k;
CREATE VIEW dense_view AS SELECT * FROM dense_buys;
CREATE TEMP TABLE dense_query AS SELECT * FROM rfm_analyze('2026-01-01', 'dense_view', 'cust', 'at', 'amount');
CREATE TEMP TABLE dense_alone (LIKE dense_query);
CREATE TEMP TABLE dense_parallel (LIKE dense_query);
SET client_min_messages = debug1;
INSERT INTO dense_alone SELECT * FROM rfm_analyze('2026-01-01', 'dense_buys', 'cust', 'at', 'amount');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
INSERT INTO dense_parallel SELECT * FROM rfm_analyze('2026-01-01', 'dense_buys', 'cust', 'at', 'amount');
RESET client_min_messages;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT w.way, (SELECT count(*) FROM dense_query) AS customers,
       (SELECT count(*) FILTER (WHERE customer_id NOT BETWEEN 1000 AND 3249) FROM dense_query) AS hashed,
       count(*) AS found,
       count(*) FILTER (WHERE (a.recency_days, a.frequency, a.monetary::text, a.rfm, a.segment)
                              IS NOT DISTINCT FROM (b.recency_days, b.frequency, b.monetary::text, b.rfm, b.segment)) AS equal
  FROM (VALUES ('alone'), ('parallel')) w(way)
  CROSS JOIN LATERAL (SELECT * FROM dense_alone WHERE w.way = 'alone'
                      UNION ALL SELECT * FROM dense_parallel WHERE w.way = 'parallel') a
  LEFT JOIN dense_query b USING (customer_id)
 GROUP BY w.way ORDER BY w.way;
-- Who may read which columns: a reader granted only the three columns is
-- read directly too; one without them gets the query's permission error.
CREATE ROLE rfm_columns;
GRANT USAGE ON SCHEMA crm TO rfm_columns;
GRANT SELECT ON rfm_segment_map TO rfm_columns;
GRANT SELECT (cust, at, amount) ON many_buys TO rfm_columns;
SET ROLE rfm_columns;
SELECT count(*) AS customers FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
RESET ROLE;
REVOKE SELECT (amount) ON many_buys FROM rfm_columns;
SET ROLE rfm_columns;
SELECT count(*) FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
RESET ROLE;
REVOKE ALL ON many_buys FROM rfm_columns;
REVOKE ALL ON rfm_segment_map FROM rfm_columns;
REVOKE ALL ON SCHEMA crm FROM rfm_columns;
DROP ROLE rfm_columns;
-- A table with inheritance children takes the query path, which reads the children too.
CREATE TABLE many_buys_child () INHERITS (many_buys);
INSERT INTO many_buys_child VALUES (99999, '2025-06-01', 1.5);
SELECT count(*) - (SELECT count(*) FROM direct_alone) AS more_customers,
       sum(frequency) FILTER (WHERE customer_id = 99999) AS child_purchases
  FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
DROP TABLE many_buys_child;
-- A materialized view is read directly once populated; before, the query path reports it.
CREATE MATERIALIZED VIEW many_buys_mv AS SELECT * FROM many_buys WITH NO DATA;
SELECT count(*) FROM rfm_analyze('2025-06-30', 'many_buys_mv', 'cust', 'at', 'amount', '2 years');
REFRESH MATERIALIZED VIEW many_buys_mv;
SELECT count(*) AS customers FROM rfm_analyze('2025-06-30', 'many_buys_mv', 'cust', 'at', 'amount', '2 years');
DROP MATERIALIZED VIEW many_buys_mv;
-- Integer amounts, integer customer ids, date times, quoted column names.
CREATE TABLE "Odd Table" ("Client ID" integer, "When" date, "Paid" integer);
INSERT INTO "Odd Table" VALUES (1, '2025-12-01', 10), (1, '2025-12-20', 5), (2, '2025-01-01', 100), (3, '2025-12-31', 1);
SELECT * FROM rfm_analyze('2026-01-01', '"Odd Table"', 'Client ID', 'When', 'Paid') ORDER BY 1;
-- The direct scan finds the three columns wherever they are: at a fixed
-- place after other fixed-width columns (one of them dropped later), behind
-- text columns short and long (one- and four-byte headers), in rows with
-- NULLs in other columns, and in a column added later with a default, which
-- rows written before lack (the default counts for them).  Each call gives
-- what plain SQL gives.
CREATE TABLE layout_buys (id bigint, flag boolean, cust bigint, note text, amount numeric, extra int2, at timestamptz, tail text);
INSERT INTO layout_buys
SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END, 1 + g % 50,
       CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('x', g % 200) END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE round((g % 97) * 1.25, 2) END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g % 300 END,
       timestamptz '2025-01-01' + g * interval '1 hour', 'tail'
  FROM generate_series(1, 3000) g;
ALTER TABLE layout_buys DROP COLUMN flag;
ALTER TABLE layout_buys ADD COLUMN shop integer NOT NULL DEFAULT 7;
INSERT INTO layout_buys (id, cust, note, amount, extra, at, tail, shop)
SELECT g, 1 + g % 40, repeat('y', g % 150), round(g * 0.5, 1), g % 9, timestamptz '2025-06-01' + g * interval '1 day', NULL, g % 4
  FROM generate_series(1, 200) g;
CREATE TEMP TABLE layout_a (LIKE by_query);
CREATE TEMP TABLE layout_b (LIKE by_query);
SET client_min_messages = debug1;
INSERT INTO layout_a SELECT * FROM rfm_analyze('2026-01-01', 'layout_buys', 'cust', 'at', 'amount');
INSERT INTO layout_b SELECT * FROM rfm_analyze('2026-01-01', 'layout_buys', 'shop', 'at', 'extra');
RESET client_min_messages;
SELECT count(*) AS customers, count(a.customer_id) AS found,
       count(*) FILTER (WHERE a.frequency = e.frequency AND a.monetary = e.monetary AND a.recency_days = e.recency_days) AS equal
  FROM layout_a a
  FULL JOIN (SELECT cust AS customer_id, count(*) AS frequency, sum(amount) AS monetary,
                    floor(extract(epoch FROM timestamptz '2026-01-01' - max(at)) / 86400)::int AS recency_days
               FROM layout_buys WHERE amount IS NOT NULL GROUP BY cust) e USING (customer_id);
SELECT customer_id, frequency, monetary, recency_days,
       (frequency, monetary, recency_days) = (SELECT count(*), sum(extra), floor(extract(epoch FROM timestamptz '2026-01-01' - max(at)) / 86400)::int
                                                FROM layout_buys WHERE shop = customer_id AND extra IS NOT NULL) AS as_sql
  FROM layout_b ORDER BY customer_id;
-- Recency and frequency too spread out to be counted (last purchases
-- centuries apart, one customer with 20000 purchases): their breaks are
-- selected from the values instead, by the same rule.
CREATE TABLE spread_buys AS
SELECT k AS cust, timestamptz '2026-01-01' - (k * 5000 + g) * interval '1 day' AS at, 1.5 * k AS amount
  FROM generate_series(1, 12) k, generate_series(1, CASE WHEN k = 1 THEN 20000 ELSE k END) g;
ANALYZE spread_buys;
CREATE TEMP TABLE spread AS SELECT * FROM rfm_analyze('2026-01-01', 'spread_buys', 'cust', 'at', 'amount');
WITH b AS (SELECT rfm_breaks(recency_days, frequency, monetary) AS b FROM spread)
SELECT count(*) AS customers, max(recency_days) AS max_recency, max(frequency) AS max_frequency,
       count(*) FILTER (WHERE s.rfm = rfm_score(s.recency_days, s.frequency, s.monetary, b.b)) AS same_score,
       string_agg(s.rfm::text, ' ' ORDER BY s.customer_id) AS scores
  FROM spread s, b;
-- The segment map is read at each call.
UPDATE rfm_segment_map SET segment = 'Sleepers' WHERE segment = 'Hibernating';
SELECT count(*) FILTER (WHERE segment = 'Sleepers') = count(*) FILTER (WHERE crm.r(rfm) = 2 AND crm.f(rfm) >= 3 AND crm.m(rfm) <= 2) AS renamed
  FROM rfm_analyze('2026-01-01', 'buys', 'cust', 'at', 'amount');
UPDATE rfm_segment_map SET segment = 'Hibernating' WHERE segment = 'Sleepers';
-- Scores that no segment covers get a NULL segment, and a segment name of
-- any length comes out whole; every other column is unchanged by either.
CREATE TEMP TABLE seg_before AS SELECT * FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years');
BEGIN;
DELETE FROM rfm_segment_map WHERE segment = 'Lost';
UPDATE rfm_segment_map SET segment = repeat('Champions ', 20) WHERE segment = 'Champions';
SELECT count(*) AS customers,
       count(*) FILTER (WHERE b.segment = 'Lost') AS were_lost,
       count(*) FILTER (WHERE a.segment IS NULL) AS no_segment,
       count(*) FILTER (WHERE b.segment = 'Champions') AS were_champions,
       count(*) FILTER (WHERE a.segment = repeat('Champions ', 20)) AS long_name,
       count(*) FILTER (WHERE a.segment IS NOT DISTINCT FROM b.segment) AS same_segment,
       count(*) FILTER (WHERE (a.recency_days, a.frequency, a.monetary::text, a.r, a.f, a.m, a.rfm)
                            = (b.recency_days, b.frequency, b.monetary::text, b.r, b.f, b.m, b.rfm)) AS same_figures
  FROM rfm_analyze('2025-06-30', 'many_buys', 'cust', 'at', 'amount', '2 years') a
  JOIN seg_before b USING (customer_id);
ROLLBACK;
-- Empty table, and bad arguments.
CREATE TABLE no_buys (LIKE buys);
SELECT count(*) FROM rfm_analyze('2026-01-01', 'no_buys', 'cust', 'at', 'amount');
\set VERBOSITY default
SELECT * FROM rfm_analyze('2026-01-01', 'buys', 'customer', 'at', 'amount');
SELECT * FROM rfm_analyze('2026-01-01', 'buys', 'at', 'at', 'amount');
SELECT * FROM rfm_analyze('2026-01-01', 'buys', 'cust', 'at', 'amount', '-1 day');
SELECT * FROM rfm_analyze('infinity', 'buys', 'cust', 'at', 'amount');
SELECT * FROM rfm_analyze(NULL, 'buys', 'cust', 'at', 'amount');
SELECT * FROM rfm_analyze('2026-01-01', 'no_such_table', 'cust', 'at', 'amount');
INSERT INTO no_buys VALUES (1, '2024-01-01', 'NaN');
SELECT * FROM rfm_analyze('2026-01-01', 'no_buys', 'cust', 'at', 'amount');
SELECT a FROM (SELECT rfm_analyze('2026-01-01', 'buys', 'cust', 'at', 'amount') AS a) s ORDER BY (a).customer_id LIMIT 1;
\set VERBOSITY terse
-- Row-level security of the source applies: the scan runs as the caller.
CREATE ROLE rfm_reader;
GRANT USAGE ON SCHEMA crm TO rfm_reader;
GRANT SELECT ON buys TO rfm_reader;
GRANT SELECT ON rfm_segment_map TO rfm_reader;
ALTER TABLE buys ENABLE ROW LEVEL SECURITY;
CREATE POLICY some_customers ON buys TO rfm_reader USING (cust <= 10);
SET ROLE rfm_reader;
SELECT count(*), max(customer_id) FROM rfm_analyze('2026-01-01', 'crm.buys', 'cust', 'at', 'amount');
RESET ROLE;
SET ROLE rfm_reader;
SELECT count(*) FROM rfm_analyze('2026-01-01', 'crm.big_buys', 'cust', 'at', 'amount');
RESET ROLE;
DROP POLICY some_customers ON buys;
ALTER TABLE buys DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON buys FROM rfm_reader;
REVOKE ALL ON rfm_segment_map FROM rfm_reader;
REVOKE ALL ON SCHEMA crm FROM rfm_reader;
DROP ROLE rfm_reader;

-- ---------------------------------------------------------------------------
-- crm.refresh_rfm and the views, on crm.customer and crm.purchase
-- ---------------------------------------------------------------------------
INSERT INTO customer (id, name) SELECT g, 'Customer ' || g FROM generate_series(1, 40) g;
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount)
SELECT 1 + (g * 13) % 30, timestamptz '2025-01-01' + ((g * 37) % 365) * interval '1 day', 'store', 'p', 5 + (g % 17) * 3.5
  FROM generate_series(1, 400) g;
SELECT refresh_rfm('2026-01-01');
SELECT count(*) AS customers, count(rfm) AS scored, count(*) FILTER (WHERE rfm IS NULL AND frequency IS NULL) AS without_purchases
  FROM customer_rfm;
SELECT count(*) AS equal FROM customer_rfm c
  JOIN rfm_analyze('2026-01-01') a USING (customer_id)
 WHERE c.rfm = a.rfm AND c.monetary = a.monetary AND c.segment = a.segment;
SELECT sum(customers) AS customers, sum(revenue) = (SELECT sum(amount) FROM purchase) AS revenue_ok,
       round(sum(revenue_pct)) AS pct FROM rfm_segment_summary;
SELECT refresh_rfm('2026-01-01', '3 months');
SELECT count(*) AS scored, count(*) FILTER (WHERE (s.frequency, s.monetary) = (x.c, x.total)) AS equal
  FROM customer_rfm_score s
  FULL JOIN (SELECT customer_id, count(*) AS c, sum(amount) AS total FROM purchase
              WHERE purchased_at > timestamptz '2026-01-01' - interval '3 months' GROUP BY customer_id) x USING (customer_id);

-- A customer merged into another, or deleted, takes its stored scores along,
-- so the summary never counts it again; the kept customer's scores stay as
-- they were until the next refresh.  A role that may delete customers but
-- not touch the score table can still delete.
SELECT refresh_rfm('2026-01-01');
SELECT customer_id, frequency FROM customer_rfm_score WHERE customer_id IN (1, 2, 3) ORDER BY 1;
SELECT merge_customers(1, 2) IS NOT NULL AS merged;
DELETE FROM purchase WHERE customer_id = 3;
CREATE ROLE rfm_deleter;
GRANT USAGE ON SCHEMA crm TO rfm_deleter;
GRANT SELECT, DELETE ON customer TO rfm_deleter;
SET ROLE rfm_deleter;
DELETE FROM crm.customer WHERE id = 3;
RESET ROLE;
SELECT customer_id, frequency FROM customer_rfm_score WHERE customer_id IN (1, 2, 3) ORDER BY 1;
SELECT (SELECT sum(customers) FROM rfm_segment_summary) AS summarised,
       (SELECT count(*) FROM customer_rfm_score s WHERE NOT EXISTS (SELECT 1 FROM customer c WHERE c.id = s.customer_id)) AS orphans;
REVOKE ALL ON customer FROM rfm_deleter;
REVOKE USAGE ON SCHEMA crm FROM rfm_deleter;
DROP ROLE rfm_deleter;

-- Leave the database as we found it for the next test.
SET client_min_messages = warning;
TRUNCATE customer_rfm_score;
TRUNCATE purchase, customer CASCADE;
DROP VIEW big_buys_exact, many_buys_view, dense_view;
DROP TABLE many_buys, buys, big_buys, no_buys, per_cust_big, parallel_stats, par_breaks, par_collected, "Odd Table", seg_before, dense_buys, layout_buys, spread_buys;
RESET client_min_messages;
