#!/usr/bin/env bash
# pg_dump | pg_restore round trip of the sales, marketing and service tables:
# leads in the pool and assigned, rules with their round-robin position,
# opportunities with their stage history, expired and used-up coupons with
# their redemptions, loyalty ledger and balances.  Every row comes back
# identical (the triggers keep restored rows as they are and move no balance
# twice), and the restored database keeps working: the next lead takes the
# next turn and points move the restored balance.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS crm_sales_src" -c "DROP DATABASE IF EXISTS crm_sales_dst" >/dev/null 2>&1 || true' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q -d postgres -c "DROP DATABASE IF EXISTS crm_sales_src" -c "DROP DATABASE IF EXISTS crm_sales_dst" \
  -c "CREATE DATABASE crm_sales_src" -c "CREATE DATABASE crm_sales_dst"
q -d crm_sales_src <<'SQL'
CREATE EXTENSION crm;
SET search_path = crm, public;
INSERT INTO team (name) VALUES ('north');
INSERT INTO staff (login, display_name, team) VALUES ('ann', 'Ann', 'north'), ('bob', 'Bob', 'north'), ('cy', 'Cy', 'north');
UPDATE lead_grade SET first_contact = interval '10 minutes' WHERE grade = 'A';
INSERT INTO lead (source_channel, name) VALUES ('online', 'waiting in the pool');
INSERT INTO lead_assignment_rule (name, method, team) VALUES ('north in turn', 'round_robin', 'north');
INSERT INTO lead (source_channel, name, grade, created_at) SELECT 'online', 'lead ' || i, 'A', now() - i * interval '1 hour' FROM generate_series(1, 4) i;
UPDATE lead SET status = 'contacted' WHERE name = 'lead 1';
INSERT INTO customer (name, phone) VALUES ('Zhao Lei', '+86 138 0000 7777');
SELECT convert_lead((SELECT id FROM lead WHERE name = 'lead 2')) \g /dev/null
UPDATE opportunity SET stage = 'proposal', stage_note = 'sent the offer' WHERE lead_id IS NOT NULL;
INSERT INTO opportunity (name, customer_id, owner, stage, amount, cost) VALUES ('won deal', 1, 'bob', 'qualified', 900, 400);
UPDATE opportunity SET stage = 'proposal' WHERE name = 'won deal';
UPDATE opportunity SET stage = 'won' WHERE name = 'won deal';
INSERT INTO commission_plan (name, base_rate, thresholds, rates) VALUES ('flat', 0.05, '{}', '{}');
UPDATE commission_plan SET base_rate = 0.04 WHERE name = 'standard';
INSERT INTO sales_target (staff, period, period_start, revenue_target) VALUES ('bob', 'month', date_trunc('month', now())::date, 1000);
INSERT INTO campaign (name, kind, starts_at, ends_at, budget) VALUES ('old coupons', 'coupon', '2025-01-01', '2025-02-01', 100);
INSERT INTO campaign_member (campaign_id, customer_id) SELECT 1, id FROM customer;
INSERT INTO coupon (code, campaign_id, value, issued_at, expires_at, max_redemptions) VALUES ('OLD', 1, 5, '2025-01-01', '2025-02-01', 1);
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('OLD', 1, '2025-01-15');
INSERT INTO touchpoint (customer_id, campaign_id, channel) SELECT id, 1, 'sms' FROM customer;
SELECT earn_points(1, 100) \g /dev/null
SELECT redeem_points(1, 60) \g /dev/null
SELECT earn_points(2, 5) \g /dev/null
INSERT INTO care_contact (customer_id, plan, channel, due_on) VALUES (1, 'revisit_bronze', 'app', current_date);
UPDATE care_plan SET cadence = interval '45 days' WHERE name = 'revisit_silver';
SQL

fingerprint() {
    for t in $(q -d "$1" -At -c "SELECT c.oid::regclass FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'crm'::regnamespace ORDER BY 1"); do
        q -d "$1" -At -c "SELECT '$t', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $t t"
    done
}
fingerprint crm_sales_src >"$work/src.txt"
pg_dump -Fc -d crm_sales_src -f "$work/dump.pgc"
pg_restore --exit-on-error -d crm_sales_dst "$work/dump.pgc"
fingerprint crm_sales_dst >"$work/dst.txt"
if ! diff -u "$work/src.txt" "$work/dst.txt"; then
    echo "FAIL: the restored database differs from the original"
    exit 1
fi
for t in crm.lead crm.lead_event crm.opportunity crm.opportunity_event crm.coupon_redemption crm.loyalty_ledger crm.loyalty_account crm.care_contact crm.sales_target; do
    n=$(q -d crm_sales_dst -At -c "SELECT count(*) FROM $t")
    [ "$n" -gt 0 ] || { echo "FAIL: $t is empty after restore"; exit 1; }
done
n=$(q -d crm_sales_dst -At -c "SELECT count(*) FROM crm.lead WHERE owner IS NULL")
[ "$n" = 1 ] || { echo "FAIL: $n leads in the pool after restore, expected 1"; exit 1; }
# The restored database keeps working the same way as the original.
for d in crm_sales_src crm_sales_dst; do
    q -d $d -At -c "INSERT INTO crm.lead (source_channel, name) VALUES ('online', 'after') RETURNING owner" >"$work/$d.next"
    q -d $d -At -c "SELECT crm.redeem_points(1, 40)" >>"$work/$d.next"
    q -d $d -At -c "SELECT balance FROM crm.loyalty_account WHERE customer_id = 2" >>"$work/$d.next"
done
cat "$work/crm_sales_dst.next"
diff -u "$work/crm_sales_src.next" "$work/crm_sales_dst.next" || { echo "FAIL: the restored database behaves differently"; exit 1; }
echo "restored sales, marketing and service tables are identical"
