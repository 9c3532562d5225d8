-- Tour: RFM scores, segments, value tiers, ABC classes and lifecycle
SET search_path = crm, public;
\pset null '-'

\echo
\echo '== 5. RFM in one call: every customer scored on recency, frequency and monetary'
SELECT refresh_rfm() AS customers_scored;
SELECT customer_id, recency_days, frequency, monetary, rfm, segment
  FROM rfm_analyze() ORDER BY monetary DESC, customer_id LIMIT 5;
\echo 'Scores are exact quintiles; equal values always share a score. The cut points:'
SELECT customers, recency AS recency_days, frequency, monetary
  FROM (SELECT (rfm_breaks(recency_days, frequency, monetary)).* FROM customer_rfm_score) b;

\echo
\echo '== 6. Segments, with what to do about each (crm.rfm_segment_map is editable)'
SELECT segment, customers, customer_pct, revenue_pct, avg_recency_days, avg_frequency, avg_monetary, action
  FROM rfm_segment_summary;

\echo
\echo '== 7. Value tiers from the policy table; every change is recorded'
SELECT tier, min_r, min_purchases, max_revenue_rank FROM tier_policy ORDER BY tier DESC;
SELECT classify_tiers() AS tier_changes;
SELECT tier, customers, customer_pct, revenue, revenue_pct, avg_frequency, avg_recency_days FROM tier_summary;
SELECT new_tier, count(*) AS changes FROM tier_history GROUP BY new_tier ORDER BY new_tier DESC;

\echo
\echo '== 8. ABC classes: Pareto (80/15/5 of revenue) and the distributor rule'
SELECT abc, count(*) AS customers, round(sum(revenue_share) * 100, 1) AS revenue_pct
  FROM abc_pareto() GROUP BY abc ORDER BY abc;
\echo 'Three customers are made agents for the distributor rule.'
\set QUIET on
UPDATE customer SET partner_role = 'agent' WHERE id IN (SELECT id FROM customer ORDER BY id LIMIT 3);
\set QUIET off
SELECT abc, reason, count(*) AS customers
  FROM abc_distributor(extract(year FROM now())::int - 1) GROUP BY abc, reason ORDER BY abc, reason;

\echo
\echo '== 9. Lifecycle stage, from each customer''s own purchase rhythm'
SELECT stage, customers, customer_pct FROM lifecycle_summary;
