-- Tour: satisfaction, retention, funnel, A/B test and attribution
SET search_path = crm, public;
\pset null '-'

\echo
\echo '== Analytics 1. Surveys: NPS, CSAT and per-dimension ratings by month, tier and RFM segment'
-- Survey answers of a third of the customers; higher tiers answer a little more warmly.
\o /dev/null
SELECT setseed(0.5);
\o
INSERT INTO survey_response (customer_id, survey, channel, responded_at, nps_score, csat_score, csat_scale, ratings)
SELECT c.id, 'post_purchase', 'app', timestamptz '2025-10-01' + random() * interval '90 days',
       least(10, greatest(0, round(7 + (c.tier::text IN ('diamond', 'silver'))::int * 1.5 + random() * 5 - 3)))::int,
       1 + (random() * 4)::int, 5,
       jsonb_build_object('taste', 3 + (random() * 2)::int, 'service', 2 + (random() * 3)::int,
                          'delivery', 1 + (random() * 4)::int)
  FROM customer c WHERE c.id % 3 = 0;
SELECT month, tier, responses, promoters, passives, detractors, round(nps::numeric, 1) AS nps, round(csat::numeric, 1) AS csat
  FROM nps_monthly WHERE breakdown = 'tier' ORDER BY month, tier DESC NULLS LAST;
SELECT key AS dimension, (value->>'count')::int AS ratings, round((value->>'mean')::numeric, 2) AS mean
  FROM (SELECT rating_summary(ratings) AS r FROM survey_response) s, jsonb_each(s.r) ORDER BY 1;

\echo
\echo '== Analytics 2. Cohort retention: share of each month''s new customers buying again'
SELECT to_char(cohort, 'YYYY-MM') AS cohort, max(cohort_size) AS customers,
       round(100 * max(retention) FILTER (WHERE period_number = 1)) AS "m+1 %",
       round(100 * max(retention) FILTER (WHERE period_number = 2)) AS "m+2 %",
       round(100 * max(retention) FILTER (WHERE period_number = 3)) AS "m+3 %",
       round(100 * max(retention) FILTER (WHERE period_number = 6)) AS "m+6 %",
       round(100 * max(retention) FILTER (WHERE period_number = 12)) AS "m+12 %"
  FROM cohort_retention_monthly GROUP BY cohort ORDER BY cohort LIMIT 8;
SELECT customers, repeat_customers, round(repeat_purchase_rate::numeric, 3) AS repeat_rate,
       round(purchases_per_customer::numeric, 2) AS per_customer, round(mean_purchase_cycle_days::numeric, 1) AS cycle_days
  FROM purchase_kpi;

\echo
\echo '== Analytics 3. Sales funnel: furthest stage of each lead'
SELECT x->>'stage' AS stage, x->'reached' AS reached, round((x->>'conversion')::numeric, 3) AS from_previous,
       round((x->>'overall')::numeric, 3) AS from_first
  FROM (SELECT jsonb_array_elements(funnel(stage, ARRAY['lead', 'qualified', 'proposal', 'negotiation', 'won'])) AS x
          FROM (SELECT (ARRAY['lead', 'lead', 'lead', 'qualified', 'qualified', 'proposal', 'negotiation', 'won'])[1 + (g * 7919) % 8] AS stage
                  FROM generate_series(1, 2000) g) leads) f;

\echo
\echo '== Analytics 4. A/B test of a coupon: 3 yuan off (control) against 5 yuan off and a free topping'
CREATE TEMP TABLE coupon_test AS
SELECT c.id AS customer_id, v.variant,
       random() < CASE v.variant WHEN '3_off' THEN 0.18 WHEN '5_off' THEN 0.22 ELSE 0.19 END AS redeemed,
       round((20 + random() * 30 + CASE v.variant WHEN '5_off' THEN 2 ELSE 0 END)::numeric, 2) AS spend
  FROM customer c, LATERAL (SELECT (ARRAY['3_off', '5_off', 'topping'])[1 + c.id % 3] AS variant) v;
SELECT x->>'variant' AS variant, x->'n' AS n, x->'conversions' AS redeemed, round((x->>'rate')::numeric, 4) AS rate,
       round((x->>'control_rate')::numeric, 4) AS control, round((x->>'relative_lift')::numeric, 3) AS rel_lift,
       round((x->>'z')::numeric, 2) AS z, round((x->>'p_value')::numeric, 4) AS p,
       round((x->>'ci_low')::numeric, 4) AS ci_low, round((x->>'ci_high')::numeric, 4) AS ci_high
  FROM (SELECT jsonb_array_elements(ab_test(variant, redeemed, '3_off')) AS x FROM coupon_test) s;
\echo 'Spend per order of those who redeemed, Welch t test:'
SELECT x->>'variant' AS variant, round((x->>'mean')::numeric, 2) AS mean, round((x->>'control_mean')::numeric, 2) AS control,
       round((x->>'t')::numeric, 2) AS t, round((x->>'df')::numeric, 1) AS df, round((x->>'p_value')::numeric, 4) AS p,
       round((x->>'ci_low')::numeric, 2) AS ci_low, round((x->>'ci_high')::numeric, 2) AS ci_high
  FROM (SELECT jsonb_array_elements(welch_test(variant, spend::float8, '3_off')) AS x FROM coupon_test WHERE redeemed) s;

\echo
\echo '== Analytics 5. Channel attribution: Markov removal effects against first touch, last touch, linear'
CREATE TEMP TABLE journeys AS
SELECT p.path, (random() < p.conv)::int::bigint AS conversions, 0::bigint AS nulls, round((15 + random() * 30)::numeric, 2) AS value
  FROM generate_series(1, 5000) g,
       LATERAL (SELECT string_to_array((ARRAY['social > app > store', 'social > mini_program', 'search > online', 'app',
                                               'social', 'search > social > app', 'email > app', 'email'])[1 + g % 8], ' > ') AS path,
                       (ARRAY[0.35, 0.25, 0.2, 0.3, 0.05, 0.3, 0.28, 0.08])[1 + g % 8] AS conv) p;
UPDATE journeys SET nulls = 1 - conversions, value = CASE WHEN conversions = 1 THEN value ELSE 0 END;
WITH m AS (SELECT markov_attribution(path, conversions, nulls, value) AS m,
                  heuristic_attribution(path, conversions, value) AS h FROM journeys)
SELECT key AS channel, round((value->>'removal_effect')::numeric, 3) AS removal_effect,
       round((value->>'conversions')::numeric, 1) AS markov, round((h->key->>'first_touch')::numeric, 1) AS first_touch,
       round((h->key->>'last_touch')::numeric, 1) AS last_touch, round((h->key->>'linear')::numeric, 1) AS linear,
       round((value->>'value')::numeric, 0) AS markov_value
  FROM m, jsonb_each(m.m) ORDER BY markov DESC;
