#!/usr/bin/env bash
# Reference test on real data: the UCI Online Retail file (541,909 invoice
# lines, 2010-12-01 to 2011-12-09).  crm.rfm_analyze's recency, frequency and
# monetary per customer must equal what plain SQL gives, and every customer's
# scores must follow the documented quantile rule, computed here independently
# with row_number().  Skips (exit 0) when the data is absent.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
file=${CRM_DATA_DIR:-$top/../shared/data}/online_retail/online_retail.csv.gz
if [ ! -r "$file" ]; then
    echo "SKIP: $file not found; the Online Retail reference test needs ../shared/data"
    exit 0
fi

db=crm_rfm_reference
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT

out=$(psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" <<SQL
CREATE EXTENSION crm;
CREATE TABLE retail_raw (invoice text, stock_code text, description text, quantity text,
                         invoice_date text, unit_price text, customer text, country text);
\copy retail_raw FROM PROGRAM 'gzip -dc "$file"' WITH (FORMAT csv, HEADER true)
SELECT 'lines: ' || count(*) FROM retail_raw;

-- Invoice lines with a customer; cancellations (C...) carry negative quantities.
CREATE TABLE retail_line AS
SELECT invoice, customer::numeric::bigint AS customer_id, invoice_date::timestamp AT TIME ZONE 'UTC' AS at,
       quantity::integer * unit_price::numeric AS amount
  FROM retail_raw WHERE customer <> '';
-- One purchase per invoice, cancellations left out: the usual RFM input.
CREATE VIEW retail_invoice AS
SELECT invoice, customer_id, min(at) AS at, sum(amount) AS amount
  FROM retail_line WHERE invoice NOT LIKE 'C%' GROUP BY invoice, customer_id;
ANALYZE retail_line;

CREATE TABLE got AS SELECT * FROM crm.rfm_analyze('2011-12-10 00:00+00', 'retail_invoice', 'customer_id', 'at', 'amount');
CREATE TABLE want AS
SELECT customer_id,
       floor(extract(epoch FROM timestamptz '2011-12-10 00:00+00' - max(at)) / 86400)::integer AS recency_days,
       count(*) AS frequency, sum(amount) AS monetary
  FROM retail_invoice GROUP BY customer_id;
SELECT 'customers: ' || (SELECT count(*) FROM got) || ' scored, ' || (SELECT count(*) FROM want) || ' in plain SQL';
SELECT 'figures differing from plain SQL: ' || count(*)
  FROM got g FULL JOIN want w USING (customer_id)
 WHERE g.customer_id IS NULL OR w.customer_id IS NULL
    OR (g.recency_days, g.frequency, g.monetary) IS DISTINCT FROM (w.recency_days, w.frequency, w.monetary)
    OR g.monetary::text <> w.monetary::text;

-- The rule, independently: break k is the ceil(k*N/5)-th smallest value;
-- f and m score 1 + breaks below the value, r scores 5 - breaks below the days.
CREATE TABLE brk AS
WITH n AS (SELECT count(*) AS n FROM want),
     o AS (SELECT recency_days, frequency, monetary::float8 AS monetary,
                  row_number() OVER (ORDER BY recency_days) AS rr,
                  row_number() OVER (ORDER BY frequency) AS rf,
                  row_number() OVER (ORDER BY monetary) AS rm FROM want)
SELECT k, (SELECT recency_days FROM o WHERE rr = ceil(k * n / 5.0)) AS br,
          (SELECT frequency FROM o WHERE rf = ceil(k * n / 5.0)) AS bf,
          (SELECT monetary FROM o WHERE rm = ceil(k * n / 5.0)) AS bm
  FROM n, generate_series(1, 4) k;
SELECT 'breaks: recency ' || array_agg(br ORDER BY k)::text || ', frequency ' || array_agg(bf ORDER BY k)::text
       || ', monetary ' || array_agg(bm ORDER BY k)::text FROM brk;
SELECT 'scores differing from the rule: ' || count(*)
  FROM got g JOIN want w USING (customer_id)
 WHERE g.r <> 5 - (SELECT count(*) FROM brk WHERE w.recency_days > br)
    OR g.f <> 1 + (SELECT count(*) FROM brk WHERE w.frequency > bf)
    OR g.m <> 1 + (SELECT count(*) FROM brk WHERE w.monetary::float8 > bm)
    OR g.rfm OPERATOR(crm.<>) crm.rfm(g.r, g.f, g.m) OR g.segment IS DISTINCT FROM crm.rfm_segment(g.rfm);
SELECT 'segments: ' || string_agg(segment || ' ' || n, ', ' ORDER BY n DESC)
  FROM (SELECT segment, count(*) AS n FROM got GROUP BY segment) s;

-- Every line, cancellations included (negative amounts), and crm.rfm_stats.
SELECT 'line figures differing from plain SQL: ' || count(*)
  FROM crm.rfm_analyze('2011-12-10 00:00+00', 'retail_line', 'customer_id', 'at', 'amount') g
  FULL JOIN (SELECT customer_id, count(*) AS frequency, sum(amount) AS monetary FROM retail_line GROUP BY customer_id) w
       USING (customer_id)
 WHERE (g.frequency, g.monetary::text) IS DISTINCT FROM (w.frequency, w.monetary::text);
SELECT 'rfm_stats differing from plain SQL: ' || count(*)
  FROM (SELECT customer_id, crm.rfm_stats(at, amount) AS s FROM retail_line GROUP BY customer_id) x
  JOIN (SELECT customer_id, min(at) AS f, max(at) AS l, count(*) AS n, sum(amount) AS t FROM retail_line GROUP BY customer_id) p
       USING (customer_id)
 WHERE ((x.s).first_purchase, (x.s).last_purchase, (x.s).purchases, (x.s).spend::text) IS DISTINCT FROM (p.f, p.l, p.n, p.t::text);
SQL
)
echo "$out"
if echo "$out" | grep -q 'differing.*: [1-9]'; then
    echo "FAILED: crm.rfm_analyze disagrees with plain SQL or with the quantile rule"
    exit 1
fi
echo "ok: every customer's recency, frequency, monetary and scores as expected"
