# Bench section: RFM scoring of a whole purchase table.
# Sourced by test/bench.sh (bench_ms, bench_row and a running database "bench").
# shellcheck shell=bash

rows=${RFM_BENCH_ROWS:-10000000}
custs=${RFM_BENCH_CUSTOMERS:-1000000}
runs=${RFM_BENCH_RUNS:-3}
echo "RFM: $rows purchases of up to $custs customers over three years, skewed (few customers buy"
echo "often, recent months busier); the same shape as crm.purchase, no foreign keys. Best of $runs"
echo "runs (best of ${RFM_BENCH_PAIR_RUNS:-5} turns for the bare scan and crm.rfm_analyze, timed in alternation)."

# One INSERT ... SELECT builds the table: customer ids follow a power law
# (id 1 buys most), purchase times lean towards the as_of date.
crm_psql -q <<SQL
DROP TABLE IF EXISTS bench_purchase;
CREATE TABLE bench_purchase (
    id           bigint,
    customer_id  bigint NOT NULL,
    purchased_at timestamptz NOT NULL,
    channel      text NOT NULL,
    product      text NOT NULL,
    quantity     integer NOT NULL,
    amount       numeric(14, 2) NOT NULL,
    store        text
);
SELECT setseed(0.42);
INSERT INTO bench_purchase
SELECT g,
       1 + floor($custs * power(random(), 2.5))::bigint,
       timestamptz '2026-01-01' - power(random(), 1.5) * interval '1095 days',
       (ARRAY['store', 'online', 'app', 'mini_program'])[1 + (g % 4)],
       'SKU-' || (g % 5000),
       1 + (g % 3),
       round((2 + 400 * power(random(), 3))::numeric, 2),
       CASE WHEN g % 4 = 0 THEN 'store-' || (g % 120) END
  FROM generate_series(1, $rows) g;
VACUUM ANALYZE bench_purchase;
SQL
crm_psql -At -c "SELECT 'table: ' || pg_size_pretty(pg_table_size('bench_purchase')) || ', ' || count(DISTINCT customer_id) || ' customers' FROM bench_purchase"

asof="timestamptz '2026-01-01'"
# Every variant ends in the same small aggregate over its per-customer rows,
# so none ships a million rows to the client and each computes r, f, m and a segment.
outer="count(*), sum(r * 100 + f * 10 + m), max(segment)"
seg="CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'Champions'
          WHEN r >= 3 AND f >= 3 AND m >= 3 THEN 'Loyal Customers'
          WHEN r = 1 AND f >= 4 AND m >= 4 THEN 'Can''t Lose Them'
          WHEN r <= 2 AND f >= 3 AND m >= 3 THEN 'At Risk'
          WHEN r = 5 AND f = 1 THEN 'New Customers'
          WHEN r = 4 AND f = 1 THEN 'Promising'
          WHEN r >= 4 THEN 'Potential Loyalists'
          WHEN r = 3 AND f >= 2 THEN 'Need Attention'
          WHEN r IN (2, 3) AND f <= 2 THEN 'About to Sleep'
          WHEN r = 2 THEN 'Hibernating'
          ELSE 'Lost' END AS segment"

q_scan="SELECT count(*) FROM bench_purchase"
q_floor="SELECT count(*), max(l), sum(n), sum(s) FROM (
    SELECT customer_id, max(purchased_at) AS l, count(*) AS n, sum(amount) AS s
      FROM bench_purchase GROUP BY customer_id) g"
q_ntile="SELECT $outer FROM (
    SELECT r, f, m, $seg FROM (
        SELECT customer_id,
               ntile(5) OVER (ORDER BY last_purchase) AS r,
               ntile(5) OVER (ORDER BY frequency) AS f,
               ntile(5) OVER (ORDER BY monetary) AS m
          FROM (SELECT customer_id, max(purchased_at) AS last_purchase, count(*) AS frequency, sum(amount) AS monetary
                  FROM bench_purchase WHERE purchased_at <= $asof GROUP BY customer_id) agg) scored) s"
q_pct="WITH agg AS (
    SELECT customer_id, extract(epoch FROM $asof - max(purchased_at)) / 86400 AS recency,
           count(*) AS frequency, sum(amount) AS monetary
      FROM bench_purchase WHERE purchased_at <= $asof GROUP BY customer_id),
  b AS (SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency) AS br,
               percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency) AS bf,
               percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary) AS bm FROM agg)
SELECT $outer FROM (
    SELECT r, f, m, $seg FROM (
        SELECT 5 - (recency > br[1])::int - (recency > br[2])::int - (recency > br[3])::int - (recency > br[4])::int AS r,
               1 + (frequency > bf[1])::int + (frequency > bf[2])::int + (frequency > bf[3])::int + (frequency > bf[4])::int AS f,
               1 + (monetary > bm[1])::int + (monetary > bm[2])::int + (monetary > bm[3])::int + (monetary > bm[4])::int AS m
          FROM agg, b) scored) s"
q_crm="SELECT $outer FROM crm.rfm_analyze($asof, 'bench_purchase')"

# The results must agree where they should: same customers, same totals.
crm_psql -At -c "SELECT CASE WHEN (SELECT count(*) || '/' || sum(monetary) FROM crm.rfm_analyze($asof, 'bench_purchase'))
                              = (SELECT count(DISTINCT customer_id) || '/' || sum(amount) FROM bench_purchase)
                         THEN 'check: crm.rfm_analyze covers every customer and every cent'
                         ELSE 'CHECK FAILED: crm.rfm_analyze totals differ from plain SQL' END"

# The bare scan and crm.rfm_analyze, whose ratio is a target, are timed in
# turns, so that both meet the machine in the same state; each the best of
# $pair_runs turns.
pair_runs=${RFM_BENCH_PAIR_RUNS:-5}
bench_pair() {
    local a b best_a="" best_b=""
    for _ in $(seq "$pair_runs"); do
        a=$(bench_ms 1 "$1")
        b=$(bench_ms 1 "$2")
        if [ -z "$best_a" ] || awk "BEGIN{exit !($a < $best_a)}"; then best_a=$a; fi
        if [ -z "$best_b" ] || awk "BEGIN{exit !($b < $best_b)}"; then best_b=$b; fi
    done
    echo "$best_a $best_b"
}
read -r t_scan t_crm <<<"$(bench_pair "$q_scan" "$q_crm")"
# The same two on one core: a busy server's nightly run, or max_parallel_workers_per_gather = 0.
serial="SET max_parallel_workers_per_gather = 0;"
read -r t_scan_s t_crm_s <<<"$(bench_pair "$serial $q_scan" "$serial $q_crm")"
t_floor=$(bench_ms "$runs" "$q_floor")
t_ntile=$(bench_ms "$runs" "$q_ntile")
t_pct=$(bench_ms "$runs" "$q_pct")
bench_row "SELECT count(*) (bare scan)" "$t_scan" "$t_scan"
bench_row "GROUP BY customer_id: max, count, sum (floor)" "$t_floor" "$t_scan"
bench_row "plain SQL: GROUP BY, NTILE(5) windows, CASE" "$t_ntile" "$t_scan"
bench_row "plain SQL: GROUP BY, percentile_cont breaks, CASE" "$t_pct" "$t_scan"
bench_row "crm.rfm_analyze (exact quintiles, segments)" "$t_crm" "$t_scan"
bench_row "SELECT count(*), serial" "$t_scan_s" "$t_scan"
bench_row "crm.rfm_analyze, serial" "$t_crm_s" "$t_scan"
# The same purchases with the customer ids scattered over a wide range
# (each id times 1000003): no slot per id, every customer hashed.
crm_psql -q <<'SQL'
DROP TABLE IF EXISTS bench_purchase_sparse;
CREATE TABLE bench_purchase_sparse AS
SELECT id, customer_id * 1000003 AS customer_id, purchased_at, channel, product, quantity, amount, store
  FROM bench_purchase;
VACUUM ANALYZE bench_purchase_sparse;
SQL
read -r t_scan_h t_crm_h <<<"$(bench_pair "SELECT count(*) FROM bench_purchase_sparse" \
    "SELECT $outer FROM crm.rfm_analyze($asof, 'bench_purchase_sparse')")"
bench_row "SELECT count(*), ids scattered" "$t_scan_h" "$t_scan_h"
bench_row "crm.rfm_analyze, ids scattered (all hashed)" "$t_crm_h" "$t_scan_h"
crm_psql -q -c "DROP TABLE bench_purchase_sparse"
awk -v n="$t_ntile" -v g="$t_floor" -v c="$t_crm" -v s="$t_scan" -v p="$t_pct" 'BEGIN {
    printf "  NTILE SQL / GROUP BY = %.2f; crm.rfm_analyze is %.1fx faster than the NTILE SQL, %.1fx than percentile_cont, %.2fx the bare scan\n",
           n / g, n / c, p / c, c / s }'
awk -v c="$t_crm_s" -v s="$t_scan_s" 'BEGIN { printf "  serially (no parallel workers for either): crm.rfm_analyze is %.2fx the bare scan\n", c / s }'

# Peak memory of each query: the private (anonymous) memory of the backend
# and of its parallel workers, plus the dynamic shared memory segments of
# the server (parallel query's, and the shared hash table of
# crm.rfm_analyze), summed, sampled every 20 ms while it runs.  Shared
# buffers are not counted; an idle session has a few MB.
peak_anon() {
    local pm qp max=0 sum pid a
    pm=$(head -1 "$CRM_DATA/postmaster.pid")
    psql -X -q -o /dev/null -c "$1" &
    qp=$!
    while kill -0 "$qp" 2>/dev/null; do
        sum=0
        for pid in $(pgrep -P "$pm"); do
            case "$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)" in
                *" $PGDATABASE "*|*"parallel worker"*)
                    a=$(sed -n 's/^Anonymous:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/smaps_rollup" 2>/dev/null)
                    sum=$((sum + ${a:-0})) ;;
            esac
        done
        for f in /dev/shm/PostgreSQL.*; do
            [ -e "$f" ] || continue
            a=$(stat -c %s "$f" 2>/dev/null)
            sum=$((sum + ${a:-0} / 1024))
        done
        if [ "$sum" -gt "$max" ]; then max=$sum; fi
        sleep 0.02
    done
    wait "$qp" || true
    echo "$max"
}
echo "  peak memory: private memory of the backend and its parallel workers, plus dynamic shared memory (MB, sampled every 20 ms):"
q_idle="SELECT pg_sleep(0.3)"
for v in idle scan floor ntile pct crm; do
    q_var="q_$v"
    kb=$(peak_anon "${!q_var}")
    awk -v l="$v" -v k="$kb" 'BEGIN { printf "    %-8s %8.0f MB\n", l, k / 1024 }'
done
psql -X -q -At -c "SET client_min_messages = debug2" -c "$q_crm" 2>&1 | sed -n 's/^DEBUG:  \(crm\.rfm_analyze[: ]\)/  \1/p'
crm_psql -q -c "DROP TABLE bench_purchase"
