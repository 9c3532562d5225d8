# Bench section: sales, marketing and service.  Lead inserts with rule-based
# assignment, the workflow engine and its event rows against a bare insert;
# loyalty movements against a bare ledger insert; the customer 360, care list
# and campaign results views against the plain scans under them.
# Sourced by test/bench.sh (bench_ms, bench_row and a running database "bench").
# shellcheck shell=bash

leads=${SALES_BENCH_LEADS:-20000}
custs=${SALES_BENCH_CUSTOMERS:-100000}
buys=${SALES_BENCH_PURCHASES:-1000000}
runs=${SALES_BENCH_RUNS:-3}
echo "Sales: $leads leads per insert; $custs customers with $buys purchases for the views. Best of $runs."

crm_psql -q <<SQL
SET client_min_messages = warning;
TRUNCATE crm.lead, crm.lead_event, crm.loyalty_ledger, crm.loyalty_account, crm.care_contact,
         crm.campaign_member, crm.coupon_redemption, crm.coupon, crm.campaign, crm.touchpoint CASCADE;
INSERT INTO crm.team (name) VALUES ('bench') ON CONFLICT DO NOTHING;
INSERT INTO crm.staff (login, display_name, team)
SELECT 'bench_' || i, 'Bench ' || i, 'bench' FROM generate_series(1, 20) i ON CONFLICT DO NOTHING;
DELETE FROM crm.lead_assignment_rule;
INSERT INTO crm.lead_assignment_rule (name, method, team) VALUES ('bench in turn', 'round_robin', 'bench');
DROP TABLE IF EXISTS bench_lead, bench_ledger;
CREATE TABLE bench_lead (LIKE crm.lead INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE bench_lead ALTER COLUMN status SET DEFAULT 'new';
CREATE TABLE bench_ledger (LIKE crm.loyalty_ledger INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
-- Customers and purchases for the views (only when not there yet).
INSERT INTO crm.customer (id, name, birth_date, tier, phone, created_at) OVERRIDING SYSTEM VALUE
SELECT 5000000 + i, 'bench ' || i, date '1970-01-01' + (i % 15000),
       (ARRAY['iron', 'bronze', 'silver', 'diamond'])[1 + i % 4]::crm.tier,
       ('+86 139' || lpad(i::text, 8, '0'))::crm.phone, now() - (i % 900) * interval '1 day'
  FROM generate_series(1, $custs) i
    ON CONFLICT DO NOTHING;
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount)
SELECT 5000000 + 1 + (g * 7919) % $custs, now() - (g % 1000) * interval '1 day', 'store', 'tea', 10 + g % 20
  FROM generate_series(1, $buys - (SELECT count(*) FROM crm.purchase WHERE customer_id > 5000000)) g;
INSERT INTO crm.campaign (id, name, kind, starts_at, ends_at, budget) OVERRIDING SYSTEM VALUE
VALUES (1, 'bench', 'discount', now() - interval '200 days', now() - interval '170 days', 1000);
INSERT INTO crm.campaign_member (campaign_id, customer_id) SELECT 1, 5000000 + i FROM generate_series(1, $custs, 10) i;
VACUUM ANALYZE crm.customer; VACUUM ANALYZE crm.purchase; VACUUM ANALYZE crm.campaign_member;
SQL

t_plain=$(bench_ms "$runs" "INSERT INTO bench_lead (source_channel, name, owner) SELECT 'online', 'lead ' || g, 'bench_' || (1 + g % 20) FROM generate_series(1, $leads) g")
t_crm=$(bench_ms "$runs" "INSERT INTO crm.lead (source_channel, name) SELECT 'online', 'lead ' || g FROM generate_series(1, $leads) g")
echo "  leads: assignment (round robin, row lock on the rule), workflow, 2 events per lead"
bench_row "bare INSERT with the owner given ($leads rows)" "$t_plain" "$t_plain"
bench_row "INSERT INTO crm.lead: assigned, guarded, events" "$t_crm" "$t_plain"
t_assign=$(bench_ms 1 "UPDATE crm.lead SET owner = NULL, assignment_rule = NULL; SELECT count(*) FROM crm.assign_leads()")
bench_row "unassign all and crm.assign_leads() (all leads so far)" "$t_assign" "$t_plain"

t_lplain=$(bench_ms "$runs" "INSERT INTO bench_ledger (customer_id, points, kind) SELECT 5000000 + 1 + g % 1000, 10, 'earn' FROM generate_series(1, $leads) g")
t_learn=$(bench_ms "$runs" "INSERT INTO crm.loyalty_ledger (customer_id, points, kind) SELECT 5000000 + 1 + g % 1000, 10, 'earn' FROM generate_series(1, $leads) g")
t_lredeem=$(bench_ms "$runs" "INSERT INTO crm.loyalty_ledger (customer_id, points, kind) SELECT 5000000 + 1 + g % 1000, -1, 'redeem' FROM generate_series(1, $leads) g")
echo "  loyalty points: balance moved per row, never negative"
bench_row "bare ledger INSERT ($leads rows)" "$t_lplain" "$t_lplain"
bench_row "crm.loyalty_ledger earn" "$t_learn" "$t_lplain"
bench_row "crm.loyalty_ledger redeem (balance checked)" "$t_lredeem" "$t_lplain"

t_scan=$(bench_ms "$runs" "SELECT count(*), sum(p.amount) FROM crm.customer c LEFT JOIN crm.purchase p ON p.customer_id = c.id")
t_360=$(bench_ms "$runs" "SELECT count(*), sum(total_spend), count(next_care_on) FROM crm.customer_360")
t_360one=$(bench_ms "$runs" "SELECT * FROM crm.customer_360 WHERE customer_id = 5000077")
t_one=$(bench_ms "$runs" "SELECT c.*, (SELECT sum(amount) FROM crm.purchase p WHERE p.customer_id = c.id) FROM crm.customer c WHERE c.id = 5000077")
t_due=$(bench_ms "$runs" "SELECT count(*) FROM crm.care_due")
t_res=$(bench_ms "$runs" "SELECT * FROM crm.campaign_results WHERE campaign_id = 1")
echo "  views"
bench_row "customers joined to purchases (plain scan)" "$t_scan" "$t_scan"
bench_row "crm.customer_360, every customer" "$t_360" "$t_scan"
bench_row "crm.care_due, today's list" "$t_due" "$t_scan"
bench_row "crm.campaign_results, one campaign" "$t_res" "$t_scan"
bench_row "one customer and spend (plain)" "$t_one" "$t_one"
bench_row "crm.customer_360 for one customer" "$t_360one" "$t_one"
