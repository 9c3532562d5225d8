-- Tiers, ABC classes and lifecycle stages
SET search_path = crm, public;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
TRUNCATE customer_rfm_score;
TRUNCATE purchase, customer CASCADE;
RESET client_min_messages;

SELECT enum_range(NULL::tier), 'iron'::tier < 'bronze' AND 'bronze'::tier < 'silver' AND 'silver'::tier < 'diamond' AS ordered;
SELECT tier, min_r, min_f, min_m, max_revenue_rank, min_purchases, min_spend FROM tier_policy ORDER BY tier DESC;

-- Twelve customers; 1..10 buy, 11 and 12 never do.
INSERT INTO customer (id, name) SELECT g, 'Customer ' || g FROM generate_series(1, 12) g;
SELECT DISTINCT tier FROM customer;
-- Customer k buys k times, the last time k days before 2026-01-01 for odd k and
-- 200 + k days before for even k, 10 * k each time.
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount)
SELECT k, timestamptz '2026-01-01' - (CASE WHEN k % 2 = 1 THEN k ELSE 200 + k END + 7 * (i - 1)) * interval '1 day',
       'online', 'item', 10 * k
  FROM generate_series(1, 10) k, generate_series(1, k) i;
SELECT refresh_rfm('2026-01-01');
SELECT customer_id, recency_days, frequency, monetary, rfm, segment FROM customer_rfm ORDER BY customer_id;

-- Independent computation of the default policy: diamond needs r >= 3,
-- 3 purchases and the customers above it bringing less than 50% of revenue;
-- silver r >= 2, 2 purchases, less than 80% above; bronze any purchase.
CREATE TEMP TABLE want AS
WITH s AS (
    SELECT customer_id, r, frequency, monetary,
           coalesce((SELECT sum(o.monetary) FROM customer_rfm_score o WHERE o.monetary > x.monetary), 0)
               / (SELECT sum(monetary) FROM customer_rfm_score) AS above
      FROM customer_rfm_score x)
SELECT c.id,
       CASE WHEN s.customer_id IS NULL THEN 'iron'
            WHEN s.r >= 3 AND s.frequency >= 3 AND s.above < 0.5 THEN 'diamond'
            WHEN s.r >= 2 AND s.frequency >= 2 AND s.above < 0.8 THEN 'silver'
            ELSE 'bronze' END::tier AS tier
  FROM customer c LEFT JOIN s ON s.customer_id = c.id;
SELECT classify_tiers(false) AS changed;
SELECT c.id, c.tier, w.tier = c.tier AS as_expected, round(v.revenue_share_above, 4) AS share_above
  FROM customer c JOIN want w USING (id) LEFT JOIN customer_value v ON v.customer_id = c.id ORDER BY c.id;
SELECT customer_id, old_tier, new_tier FROM tier_history ORDER BY customer_id;
SELECT * FROM tier_summary;

-- Nothing changes on a second run; a change is recorded with its time.
SELECT classify_tiers(false) AS changed_again, (SELECT count(*) FROM tier_history) AS history_rows;
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES (11, '2025-12-31', 'store', 'x', 5);
SELECT classify_tiers(false) AS stale_scores;
BEGIN;
SELECT classify_tiers() AS after_refresh;
SELECT customer_id, old_tier, new_tier, changed_at = now() AS stamped FROM tier_history WHERE customer_id = 11;
COMMIT;
-- Policy is data: raising the diamond bar demotes.
UPDATE tier_policy SET min_purchases = 10 WHERE tier = 'diamond';
SELECT classify_tiers(false) AS demoted;
SELECT id, tier FROM customer WHERE tier = 'diamond' ORDER BY id;
UPDATE tier_policy SET min_purchases = 3 WHERE tier = 'diamond';
\set VERBOSITY default
INSERT INTO tier_policy (tier) VALUES ('iron');
\set VERBOSITY terse

-- Pareto ABC against an independent computation (correlated subqueries).
SELECT customer_id, revenue, revenue_share, share_above, abc FROM abc_pareto() ORDER BY revenue DESC, customer_id;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE a.abc = CASE WHEN x.above < 0.80 THEN 'A' WHEN x.above < 0.95 THEN 'B' ELSE 'C' END) AS as_expected
  FROM abc_pareto() a
  JOIN (SELECT customer_id, coalesce((SELECT sum(p2.amount) FROM purchase p2 WHERE p2.customer_id IN (
                   SELECT q.customer_id FROM purchase q GROUP BY q.customer_id HAVING sum(q.amount) > t.total)), 0)
                   / (SELECT sum(amount) FROM purchase) AS above
          FROM (SELECT customer_id, sum(amount) AS total FROM purchase GROUP BY customer_id) t) x USING (customer_id);
SELECT abc, count(*) FROM abc_pareto(a_share => 0.5, b_share => 0.3) GROUP BY abc ORDER BY abc;
SELECT abc_class(0, 0.8, 0.15), abc_class(0.79, 0.8, 0.15), abc_class(0.8, 0.8, 0.15), abc_class(0.94), abc_class(0.95);

-- Distributor ABC for 2025: customer 1 is an agent; 2..12 franchisees with
-- sales in 2025 (top 20% of 11 = 3 by rank); 11 grew 10% twice with both
-- flags, 12 grew as much but lacks loyalty.
UPDATE customer SET partner_role = 'agent' WHERE id = 1;
UPDATE customer SET partner_role = 'franchisee' WHERE id BETWEEN 2 AND 12;
UPDATE customer SET high_cooperation = true, high_loyalty = true WHERE id = 11;
UPDATE customer SET high_cooperation = true WHERE id = 12;
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount)
SELECT c, y, 'distributor', 'x', a
  FROM (VALUES (11, timestamptz '2023-03-01', 100), (11, '2024-03-01', 110), (11, '2025-03-01', 121),
               (12, '2023-03-01', 100), (12, '2024-03-01', 110), (12, '2025-03-01', 121)) v(c, y, a);
SELECT customer_id, partner_role, sales, sales_prev, sales_prev2, abc, reason FROM abc_distributor(2025);
SELECT abc, count(*) FROM abc_distributor(2025, top_share => 0.5) GROUP BY abc ORDER BY abc;

-- Lifecycle: the rule on single cases.
SELECT lifecycle_stage(0, NULL, NULL, '2026-01-01') AS no_purchase,
       lifecycle_stage(1, '2025-12-01', '2025-12-01', '2026-01-01') AS recent_first,
       lifecycle_stage(10, '2025-01-01', '2025-12-20', '2026-01-01') AS active,
       lifecycle_stage(10, '2025-01-01', '2025-10-01', '2026-01-01') AS dormant_10,
       lifecycle_stage(1, '2025-09-01', '2025-09-01', '2026-01-01') AS single_old,
       lifecycle_stage(2, '2024-01-01', '2024-01-02', '2026-01-01') AS churned;
-- Cycle 36 days (11 purchases over 360 days): active up to 54 days, at risk
-- up to 108, dormant up to 216, churned after.
SELECT d, lifecycle_stage(11, timestamptz '2025-01-01', timestamptz '2025-12-27', timestamptz '2025-12-27' + d * interval '1 day')
  FROM unnest(ARRAY[54, 55, 108, 109, 216, 217]) d;
SELECT customer_id, purchases, first_purchase, last_purchase, stage FROM lifecycle('2026-01-01') ORDER BY 1;
SELECT count(*) FILTER (WHERE stage = 'lead') AS leads_before_any_purchase FROM lifecycle('2020-01-01');
SELECT (SELECT count(*) FROM customer_lifecycle) = (SELECT count(*) FROM customer) AS view_has_everyone,
       (SELECT sum(customers) FROM lifecycle_summary) AS summed;

-- Equal spend, equal class: customer 12 now spends as much as customer 6.
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES (12, '2025-06-01', 'store', 'x', 29);
SELECT customer_id, revenue FROM abc_pareto() WHERE customer_id IN (6, 12) ORDER BY 1;
SELECT a, count(*) AS mismatched_ties
  FROM unnest(ARRAY[0.5, 0.6, 0.7, 0.75, 0.8]) a,
       LATERAL (SELECT x.abc, x.revenue FROM abc_pareto(a_share => a) x) p
  JOIN LATERAL (SELECT y.abc, y.revenue FROM abc_pareto(a_share => a) y) q ON p.revenue = q.revenue AND p.abc <> q.abc
 GROUP BY a ORDER BY a;
SELECT abc, count(*) FROM abc_pareto(a_share => 0.75) WHERE customer_id IN (6, 12) GROUP BY abc;

-- Merging customers moves the tier history.
SELECT merge_customers(3, 5) IS NOT NULL AS merged;
SELECT customer_id, count(*) FROM tier_history WHERE customer_id IN (3, 5) GROUP BY 1 ORDER BY 1;

SET client_min_messages = warning;
TRUNCATE customer_rfm_score;
TRUNCATE purchase, customer CASCADE;
RESET client_min_messages;
