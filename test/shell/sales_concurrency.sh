#!/usr/bin/env bash
# Concurrent sessions (pgbench) insert leads that a round-robin rule and a
# least-loaded rule assign, and earn and redeem loyalty points of the same few
# customers.  Afterwards: the round-robin members got their leads in exact turns, the least-loaded members differ by at most one, inactive staff got
# none; no balance is negative, every balance equals the sum of its ledger,
# and the refusal path was exercised.
set -euo pipefail
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
db=crm_sales_concurrency
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION crm;
INSERT INTO crm.team (name) VALUES ('inbound'), ('field');
INSERT INTO crm.staff (login, display_name, team, active) VALUES
    ('a1', 'A1', 'inbound', true), ('a2', 'A2', 'inbound', true), ('a3', 'A3', 'inbound', true),
    ('a4', 'A4', 'inbound', true), ('a5', 'A5', 'inbound', false),
    ('f1', 'F1', 'field', true), ('f2', 'F2', 'field', true), ('f3', 'F3', 'field', true), ('f0', 'F0', 'field', false);
INSERT INTO crm.lead_assignment_rule (name, rank, channel, method, team) VALUES
    ('online in turn', 1, 'online', 'round_robin', 'inbound'),
    ('store by load', 2, 'store', 'least_loaded', 'field');
INSERT INTO crm.customer (id, name) OVERRIDING SYSTEM VALUE SELECT i, 'c' || i FROM generate_series(1, 4) i;
SELECT crm.earn_points(i, 50) FROM generate_series(1, 4) i \g /dev/null
CREATE TABLE refused (customer_id bigint, points bigint);
CREATE FUNCTION try_redeem(c bigint, p bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm.redeem_points(c, p, 'bench');
    RETURN true;
EXCEPTION WHEN check_violation THEN
    INSERT INTO refused VALUES (c, p);
    RETURN false;
END $$;
SQL

cat >"$work/bench.sql" <<'EOF2'
\set r random(1, 100)
\set c random(1, 4)
\set p random(1, 40)
\if :r <= 40
INSERT INTO crm.lead (source_channel, name) VALUES ('online', 'web lead');
\elif :r <= 60
INSERT INTO crm.lead (source_channel, name) VALUES ('store', 'store lead');
\elif :r <= 80
SELECT crm.earn_points(:c, :p / 2 + 1, 'bench');
\else
SELECT try_redeem(:c, :p);
\endif
EOF2
"$PGBENCH" -n -c 6 -j 2 -t 300 -f "$work/bench.sql" $db >"$work/bench.out" 2>&1 || { cat "$work/bench.out"; exit 1; }
grep -E "processed|failed" "$work/bench.out" || true

psql -X -q -v ON_ERROR_STOP=1 -d $db -At >"$work/check.txt" <<'SQL'
SELECT 'online_leads ' || count(*) FROM crm.lead WHERE source_channel = 'online';
SELECT 'store_leads ' || count(*) FROM crm.lead WHERE source_channel = 'store';
SELECT 'unassigned ' || count(*) FROM crm.lead WHERE owner IS NULL;
SELECT 'to_inactive ' || count(*) FROM crm.lead WHERE owner IN ('a5', 'f0');
-- Exact turns: N leads over 4 members starting at a1 give a1..a(N mod 4) one more than the others.
SELECT 'rr_unfair ' || count(*) FROM (
    SELECT s.login, row_number() OVER (ORDER BY s.login) AS k, count(l.id) AS n,
           (SELECT count(*) FROM crm.lead WHERE source_channel = 'online') AS total
      FROM crm.staff s LEFT JOIN crm.lead l ON l.owner = s.login
     WHERE s.team = 'inbound' AND s.active GROUP BY s.login) x
 WHERE n <> total / 4 + (k <= total % 4)::int;
SELECT 'll_spread ' || CASE WHEN max(n) - min(n) <= 1 THEN 'ok' ELSE (max(n) - min(n))::text END FROM (
    SELECT s.login, count(l.id) AS n FROM crm.staff s LEFT JOIN crm.lead l ON l.owner = s.login
     WHERE s.team = 'field' AND s.active GROUP BY s.login) x;
-- The log has one row per assigned lead, numbered 1..n per rule without gaps.
SELECT 'log_mismatch ' || count(*) FROM crm.lead_assignment_rule r
 WHERE (SELECT count(*) FROM crm.lead l WHERE l.assignment_rule = r.id)
       <> (SELECT count(*) FROM crm.lead_assignment_log g JOIN crm.lead l ON l.id = g.lead_id AND l.owner = g.owner
            WHERE g.rule_id = r.id)
    OR (SELECT coalesce(max(seq), 0) FROM crm.lead_assignment_log g WHERE g.rule_id = r.id)
       <> (SELECT count(*) FROM crm.lead_assignment_log g WHERE g.rule_id = r.id);
SELECT 'negative ' || count(*) FROM crm.loyalty_account WHERE balance < 0;
SELECT 'ledger_mismatch ' || count(*) FROM crm.loyalty_account a
 WHERE a.balance <> (SELECT sum(points) FROM crm.loyalty_ledger l WHERE l.customer_id = a.customer_id)
    OR a.earned - a.redeemed <> a.balance;
SELECT 'negative_after ' || count(*) FROM crm.loyalty_ledger WHERE balance_after < 0;
SELECT 'redemptions ' || count(*) FROM crm.loyalty_ledger WHERE kind = 'redeem';
SELECT 'refused ' || count(*) FROM refused;
SQL
cat "$work/check.txt"
ok=true
for k in "unassigned 0" "to_inactive 0" "rr_unfair 0" "ll_spread ok" "log_mismatch 0" "negative 0" "ledger_mismatch 0" "negative_after 0"; do
    grep -qx "$k" "$work/check.txt" || { echo "FAILED: expected '$k'"; ok=false; }
done
# The run must have exercised both paths.
awk '$1 == "redemptions" && $2 < 20 { exit 1 }' "$work/check.txt" || { echo "FAILED: too few redemptions"; ok=false; }
awk '$1 == "refused" && $2 < 1 { exit 1 }' "$work/check.txt" || { echo "FAILED: no refusal exercised"; ok=false; }
$ok
