#!/usr/bin/env bash
# crm.rfm_analyze's parallel direct scan in a cluster of its own whose
# dynamic shared memory comes from a preallocated area
# (min_dynamic_shared_memory): memory that earlier scans left dirty must be
# emptied before it holds the shared table again.  Several parallel calls in
# a row, each on new figures, must give what the query path gives.
source "$(dirname "$0")/../lib.sh"
CRM_EXTRA_CONF="min_dynamic_shared_memory = '64MB'"
crm_start
crm_psql -d postgres <<'SQL'
CREATE EXTENSION crm;
CREATE TABLE buys AS
SELECT 1 + g % 5000 AS cust, timestamptz '2025-01-01' + (g % 365) * interval '1 day' AS at, (g % 90) + 0.5 AS amount
  FROM generate_series(1, 100000) g;
ANALYZE buys;
CREATE VIEW buys_view AS SELECT * FROM buys;
SQL
fail=0
for round in 1 2 3; do
    # Each round changes every customer's figures, so stale slots would show.
    out=$(crm_psql -d postgres -At 2>&1 <<SQL
UPDATE buys SET amount = amount + $round, at = at - interval '1 day';
SET client_min_messages = debug1;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE direct AS SELECT * FROM crm.rfm_analyze('2026-01-01', 'buys', 'cust', 'at', 'amount');
RESET client_min_messages;
CREATE TEMP TABLE by_query AS SELECT * FROM crm.rfm_analyze('2026-01-01', 'buys_view', 'cust', 'at', 'amount');
SELECT 'round $round: ' || count(*) || ' customers, '
       || count(*) FILTER (WHERE (d.recency_days, d.frequency, d.monetary, d.rfm::text, d.segment)
                                 IS NOT DISTINCT FROM (q.recency_days, q.frequency, q.monetary, q.rfm::text, q.segment)) || ' equal'
  FROM direct d FULL JOIN by_query q USING (customer_id);
SQL
) || fail=1
    grep -v 'pg_toast' <<<"$out"
    grep -q "with parallel workers" <<<"$out" || { echo "round $round: no parallel workers ran"; fail=1; }
    grep -qx "round $round: 5000 customers, 5000 equal" <<<"$out" || fail=1
done
exit "$fail"
