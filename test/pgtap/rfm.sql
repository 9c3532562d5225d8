-- RFM and tiers: catalogue, labels, partitioned sources, window use, pg_dump registration
BEGIN;
SELECT plan(16);
SET search_path = crm, public;

SELECT has_type('crm', 'rfm', 'crm.rfm exists');
SELECT has_type('crm', 'tier', 'crm.tier exists');
SELECT enum_has_labels('crm', 'tier', ARRAY['iron', 'bronze', 'silver', 'diamond'], 'tiers in MISSION order');
SELECT enum_has_labels('crm', 'lifecycle_stage', ARRAY['lead', 'new', 'active', 'at_risk', 'dormant', 'churned'], 'lifecycle stages');
SELECT has_view('crm', 'customer_rfm', 'customer_rfm view');
SELECT has_view('crm', 'rfm_segment_summary', 'rfm_segment_summary view');
SELECT has_view('crm', 'tier_summary', 'tier_summary view');
SELECT has_view('crm', 'customer_lifecycle', 'customer_lifecycle view');

-- Every object of the two modules carries a comment.
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'crm'::regnamespace
       AND (p.proname LIKE 'rfm%' OR p.proname IN ('r', 'f', 'm', 'refresh_rfm', 'classify_tiers', 'abc_class',
            'abc_pareto', 'abc_distributor', 'lifecycle_stage', 'lifecycle'))
       AND obj_description(p.oid, 'pg_proc') IS NULL $$, 'every RFM and tier function has a comment');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v')
       AND (c.relname LIKE '%rfm%' OR c.relname LIKE 'tier%' OR c.relname LIKE '%lifecycle%' OR c.relname = 'customer_value')
       AND obj_description(c.oid, 'pg_class') IS NULL $$, 'every RFM and tier table and view has a comment');
-- Aggregates are parallel safe with a combine function and no internal state.
SELECT results_eq($$
    SELECT a.aggfnoid::regproc::text, p.proparallel::text, a.aggcombinefn <> 0, a.aggtranstype::regtype::text
      FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
     WHERE p.pronamespace = 'crm'::regnamespace AND p.proname IN ('rfm_stats', 'rfm_breaks', 'rfm_collect')
     ORDER BY 1 $$,
    $$ VALUES ('rfm_breaks', 's', true, 'rfm_sample'), ('rfm_collect', 's', true, 'rfm_table'),
              ('rfm_stats', 's', true, 'rfm_state') $$,
    'aggregates: parallel safe, combinable, real state types');
-- User data tables are registered for pg_dump.
SELECT bag_eq($$ SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'crm' $$ ||
              $$ INTERSECT SELECT unnest('{crm.rfm_segment_map,crm.customer_rfm_score,crm.tier_policy,crm.tier_history,crm.tier_history_id_seq}'::regclass[]) $$,
              $$ SELECT unnest('{crm.rfm_segment_map,crm.customer_rfm_score,crm.tier_policy,crm.tier_history,crm.tier_history_id_seq}'::regclass[]) $$,
              'RFM and tier tables are dumped by pg_dump');

-- A time-partitioned purchase table works like a plain one.
CREATE TABLE sales (client int, sold_at timestamptz, total numeric(10, 2)) PARTITION BY RANGE (sold_at);
CREATE TABLE sales_2024 PARTITION OF sales FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales_2025 PARTITION OF sales FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO sales SELECT 1 + g % 37, timestamptz '2024-01-01' + (g * 3571 % 700) * interval '1 day', (g % 91) * 1.25
  FROM generate_series(1, 3000) g;
SELECT results_eq($$ SELECT customer_id, recency_days, frequency, monetary
                       FROM rfm_analyze('2026-01-01', 'sales', 'client', 'sold_at', 'total') ORDER BY 1 $$,
                  $$ SELECT client::bigint, floor(extract(epoch FROM timestamptz '2026-01-01' - max(sold_at)) / 86400)::int,
                            count(*), sum(total)
                       FROM sales GROUP BY client ORDER BY 1 $$,
                  'rfm_analyze on a partitioned table equals plain SQL');
SELECT results_eq($$ SELECT customer_id, frequency, monetary
                       FROM rfm_analyze('2026-01-01', 'sales', 'client', 'sold_at', 'total', '6 months') ORDER BY 1 $$,
                  $$ SELECT client::bigint, count(*), sum(total) FROM sales_2025
                      WHERE sold_at > '2025-07-01' GROUP BY client ORDER BY 1 $$,
                  'a period counts only the purchases in it');
-- As a window aggregate the state is reused across rows: running figures stay right.
SELECT results_eq($$ SELECT (rfm_stats(sold_at, total) OVER w).purchases, (rfm_stats(sold_at, total) OVER w).spend
                       FROM sales WHERE client = 5 WINDOW w AS (ORDER BY sold_at, total) ORDER BY sold_at, total $$,
                  $$ SELECT count(*) OVER w, sum(total) OVER w
                       FROM sales WHERE client = 5 WINDOW w AS (ORDER BY sold_at, total) ORDER BY sold_at, total $$,
                  'rfm_stats as a window aggregate');
SELECT throws_ok($$ SELECT * FROM rfm_analyze('2026-01-01', 'sales', 'client', 'sold_at', 'nope') $$,
                 '42703', NULL, 'a missing column is an error');

SELECT * FROM finish();
ROLLBACK;
