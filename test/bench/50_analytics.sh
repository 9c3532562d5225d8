# Bench section: the analytics aggregates against the plain SQL a user would
# write for the same numbers.  Sourced by test/bench.sh (bench_ms, bench_row
# and a running database "bench").
# shellcheck shell=bash

rows=${ANALYTICS_BENCH_ROWS:-10000000}
runs=${ANALYTICS_BENCH_RUNS:-3}
echo "Analytics: $rows survey answers / leads / test units / journeys in one table. Best of $runs."

crm_psql -q <<SQL
DROP TABLE IF EXISTS bench_analytics;
CREATE TABLE bench_analytics (
    score     integer,
    csat      integer,
    dimension text,
    rating    integer,
    stage     text,
    variant   text,
    converted boolean,
    spend     double precision,
    path      text[],
    conv      bigint,
    nulls     bigint
);
\o /dev/null
SELECT setseed(0.42);
\o
INSERT INTO bench_analytics
SELECT (random() * 10.49)::int,
       1 + (random() * 4)::int,
       (ARRAY['taste', 'service', 'delivery'])[1 + g % 3],
       1 + (random() * 4)::int,
       (ARRAY['lead', 'lead', 'qualified', 'proposal', 'won'])[1 + (random() * 4)::int],
       (ARRAY['A', 'B', 'C'])[1 + g % 3],
       random() < 0.1 + 0.01 * (g % 3),
       20 + 30 * random() + g % 3,
       string_to_array((ARRAY['social', 'social>app', 'search>online>app', 'email>app', 'search>social>store>app'])[1 + g % 5], '>'),
       (random() < 0.2)::int,
       0
  FROM generate_series(1, $rows) g;
UPDATE bench_analytics SET nulls = 1 - conv;
VACUUM ANALYZE bench_analytics;
SQL
crm_psql -At -c "SELECT 'table: ' || pg_size_pretty(pg_table_size('bench_analytics'))"

t_scan=$(bench_ms "$runs" "SELECT count(*) FROM bench_analytics")
bench_row "SELECT count(*) (bare scan)" "$t_scan" "$t_scan"

# Each pair: the plain SQL first, then the aggregate; the ratio column is
# against the plain SQL of the pair.
pair() {
    local label_plain=$1 sql_plain=$2 label_crm=$3 sql_crm=$4 tp tc
    tp=$(bench_ms "$runs" "$sql_plain")
    tc=$(bench_ms "$runs" "$sql_crm")
    bench_row "$label_plain" "$tp" "$tp"
    bench_row "$label_crm" "$tc" "$tp"
}

pair "plain SQL: NPS with count FILTER" \
     "SELECT 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(score) FROM bench_analytics" \
     "crm.nps(score)" "SELECT crm.nps(score) FROM bench_analytics"
pair "plain SQL: CSAT with count FILTER" \
     "SELECT 100.0 * count(*) FILTER (WHERE csat >= 4) / count(csat) FROM bench_analytics" \
     "crm.csat(csat, 5)" "SELECT crm.csat(csat, 5) FROM bench_analytics"
pair "plain SQL: GROUP BY dimension, count, avg" \
     "SELECT jsonb_object_agg(dimension, jsonb_build_object('count', n, 'mean', m)) FROM (SELECT dimension, count(*) AS n, avg(rating) AS m FROM bench_analytics GROUP BY dimension) s" \
     "crm.rating_summary(dimension, rating)" "SELECT crm.rating_summary(dimension, rating) FROM bench_analytics"
pair "plain SQL: GROUP BY stage, running sums" \
     "SELECT stage, sum(n) OVER (ORDER BY array_position('{lead,qualified,proposal,won}'::text[], stage) DESC) FROM (SELECT stage, count(*) AS n FROM bench_analytics GROUP BY stage) s" \
     "crm.funnel(stage, stages)" "SELECT crm.funnel(stage, '{lead,qualified,proposal,won}') FROM bench_analytics"
pair "plain SQL: GROUP BY variant, count, sum (then z by hand)" \
     "SELECT variant, count(*), count(*) FILTER (WHERE converted) FROM bench_analytics GROUP BY variant" \
     "crm.ab_test(variant, converted, 'A')" "SELECT crm.ab_test(variant, converted, 'A') FROM bench_analytics"
pair "plain SQL: GROUP BY variant, count, avg, var_samp" \
     "SELECT variant, count(*), avg(spend), var_samp(spend) FROM bench_analytics GROUP BY variant" \
     "crm.welch_test(variant, spend, 'A')" "SELECT crm.welch_test(variant, spend, 'A') FROM bench_analytics"
pair "plain SQL: transition counts (unnest, lead, GROUP BY)" \
     "SELECT f, t, sum(w) FROM (SELECT coalesce(lag(c) OVER w, '(start)') AS f, c AS t, conv + nulls AS w FROM (SELECT row_number() OVER () AS j, conv, nulls, c, i FROM bench_analytics, unnest(path) WITH ORDINALITY u(c, i)) x WINDOW w AS (PARTITION BY j ORDER BY i)) y GROUP BY f, t" \
     "crm.markov_attribution(path, conv, nulls) (counts + solve)" "SELECT crm.markov_attribution(path, conv, nulls) FROM bench_analytics"
pair "plain SQL: first, last touch GROUP BY; linear by unnest" \
     "SELECT (SELECT jsonb_object_agg(c, n) FROM (SELECT path[1] AS c, sum(conv) AS n FROM bench_analytics GROUP BY 1) a), (SELECT jsonb_object_agg(c, n) FROM (SELECT path[cardinality(path)] AS c, sum(conv) AS n FROM bench_analytics GROUP BY 1) b), (SELECT jsonb_object_agg(c, n) FROM (SELECT c, sum(conv::float8 / cardinality(path)) AS n FROM bench_analytics, unnest(path) c GROUP BY 1) l)" \
     "crm.heuristic_attribution(path, conv)" "SELECT crm.heuristic_attribution(path, conv) FROM bench_analytics"

crm_psql -q -c "DROP TABLE bench_analytics"

# Retention: purchases of customers over three years, in no particular order.
ret_rows=${RETENTION_BENCH_ROWS:-$rows}
ret_customers=${RETENTION_BENCH_CUSTOMERS:-$((ret_rows / 10))}
echo
echo "Retention: $ret_rows purchases of $ret_customers customers over three years. Best of $runs."
crm_psql -q <<SQL
DROP TABLE IF EXISTS bench_retention;
CREATE TABLE bench_retention (customer_id bigint, purchased_at timestamptz);
\o /dev/null
SELECT setseed(0.42);
\o
INSERT INTO bench_retention
SELECT (random() * ($ret_customers - 1))::bigint,
       '2021-01-01 00:00:00+00'::timestamptz + random() * interval '1095 days'
  FROM generate_series(1, $ret_rows) g;
VACUUM ANALYZE bench_retention;
SQL
crm_psql -At -c "SELECT 'table: ' || pg_size_pretty(pg_table_size('bench_retention'))"
t_scan=$(bench_ms "$runs" "SELECT count(*) FROM bench_retention")
bench_row "SELECT count(*) (bare scan)" "$t_scan" "$t_scan"
pair "plain SQL: monthly cohort table (GROUP BY cohort, period)" \
     "WITH act AS (SELECT customer_id AS cust, date_trunc('month', purchased_at)::date AS p FROM bench_retention GROUP BY 1, 2),
           firsts AS (SELECT cust, min(p) AS cohort FROM act GROUP BY cust),
           sizes AS (SELECT cohort, count(*) AS size FROM firsts GROUP BY cohort),
           counts AS (SELECT f.cohort, ((extract(year FROM a.p) - extract(year FROM f.cohort)) * 12 + extract(month FROM a.p) - extract(month FROM f.cohort))::int AS k, count(*) AS active FROM act a JOIN firsts f USING (cust) GROUP BY 1, 2)
      SELECT s.cohort, s.size, c.k, c.active, c.active::float8 / s.size FROM sizes s JOIN counts c USING (cohort) WHERE c.k <= 12 ORDER BY 1, 3" \
     "crm.cohort_retention(..., 'month', 12)" \
     "SELECT * FROM crm.cohort_retention('bench_retention', 'customer_id', 'purchased_at', 'month', 12)"
pair "plain SQL: repeat rate and cycle (GROUP BY customer)" \
     "SELECT count(*), count(*) FILTER (WHERE n > 1), sum(n), sum(extract(epoch FROM l - f) / 86400) / nullif(sum(n - 1), 0) FROM (SELECT count(*) AS n, min(purchased_at) AS f, max(purchased_at) AS l FROM bench_retention GROUP BY customer_id) c" \
     "crm.purchase_kpis(...)" \
     "SELECT * FROM crm.purchase_kpis('bench_retention', 'customer_id', 'purchased_at')"
crm_psql -q -c "DROP TABLE bench_retention"
