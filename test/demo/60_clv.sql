-- Tour: customer lifetime value and churn risk (BG/NBD or Pareto/NBD with Gamma-Gamma)
SET search_path = crm, public;
\pset null '-'

\echo
\echo '== 16. Lifetime value: every customer''s purchase history summarised in weeks'
\echo 'The generated customers never stop buying; to show churn, in this stop (rolled back at its end)'
\echo 'one customer in three stopped coming some months ago: their later purchases are taken away.'
BEGIN;
\set QUIET on
DELETE FROM purchase p USING customer c
 WHERE c.id = p.customer_id AND c.id % 3 = 0
   AND p.purchased_at > now() - make_interval(days => (30 + (c.id * 7919) % 500)::int);
\set QUIET off
SELECT customer_id, x AS repeat_purchases, round(t_x::numeric, 1) AS last_purchase_week,
       round(t_cal::numeric, 1) AS weeks_since_first, round(mean_spend::numeric, 2) AS mean_repeat_spend
  FROM clv_summary() ORDER BY x DESC, customer_id LIMIT 5;
\echo 'The models, fitted by maximum likelihood inside the database (one aggregate each):'
SELECT 'BG/NBD' AS model, round(r::numeric, 4) AS r, round(alpha::numeric, 4) AS alpha,
       round(a::numeric, 4) AS a, round(b::numeric, 4) AS b, round(loglik::numeric, 1) AS loglik, n, converged
  FROM (SELECT (bgnbd_fit(x, t_x, t_cal)).* FROM clv_summary()) f;
SELECT 'Gamma-Gamma' AS spend_model, round(p::numeric, 4) AS p, round(q::numeric, 4) AS q, round(v::numeric, 4) AS v,
       round(loglik::numeric, 1) AS loglik, n, converged
  FROM (SELECT (gamma_gamma_fit(x, mean_spend)).* FROM clv_summary()) f;

\echo
\echo '== 17. Scores for every customer: P(alive), purchases in the next 90 days, one-year CLV at 10%/year'
SELECT refresh_clv(model => 'bgnbd', churn_threshold => 0.5) AS customers_scored;
SELECT count(*) AS customers, count(*) FILTER (WHERE churn_risk) AS at_risk,
       round(100.0 * count(*) FILTER (WHERE churn_risk) / count(*), 1) AS at_risk_pct,
       round(sum(expected_purchases_90d)::numeric, 0) AS purchases_next_90d, round(sum(clv)::numeric, 0) AS total_clv
  FROM customer_clv;
\echo 'Highest lifetime value:'
SELECT clv_rank, customer_id, name, owner, round(p_alive::numeric, 3) AS p_alive,
       round(expected_purchases_90d::numeric, 2) AS next_90d, round(expected_spend::numeric, 2) AS spend_per_purchase,
       round(clv::numeric, 2) AS clv
  FROM customer_clv_board ORDER BY clv_rank, customer_id LIMIT 8;
\echo 'Most at risk among valuable customers (flagged churn_risk, ranked by what they spent before):'
SELECT b.customer_id, b.name, b.owner, round(b.p_alive::numeric, 3) AS p_alive, s.x + 1 AS purchase_days,
       s.last_purchase, round((s.mean_spend * s.x)::numeric, 2) AS repeat_spend, round(b.clv::numeric, 2) AS clv
  FROM customer_clv_board b JOIN clv_summary() s USING (customer_id)
 WHERE b.churn_risk
 ORDER BY s.mean_spend * s.x DESC NULLS LAST, b.customer_id LIMIT 8;
ROLLBACK;
