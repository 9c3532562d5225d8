#!/usr/bin/env bash
# pg_dump | pg_restore round trip of a populated database: every row of every
# extension table comes back identical, identity sequences continue where they
# were, and user tables with crm types survive too.  Runs against the cluster
# started by test/run.sh (PGHOST, PGPORT, PGUSER are set).
set -euo pipefail
top=${CRM_TOP:?}
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS crm_dump_src" -c "DROP DATABASE IF EXISTS crm_dump_dst" >/dev/null 2>&1 || true' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q -d postgres -c "CREATE DATABASE crm_dump_src" -c "CREATE DATABASE crm_dump_dst"
q -d crm_dump_src -c "CREATE EXTENSION crm"
q -d crm_dump_src -v customers=800 -f "$top/test/demo/00_data.sql" >/dev/null
q -d crm_dump_src <<'SQL'
-- Some of everything: a user-defined channel, edits to shipped configuration rows,
-- a merge, and a user table using our types.
INSERT INTO crm.channel (code, description) VALUES ('kiosk', 'self-service kiosk');
UPDATE crm.channel SET description = 'flagship and franchise stores' WHERE code = 'store';
UPDATE crm.tier_policy SET min_purchases = 5 WHERE tier = 'diamond';
UPDATE crm.sla_policy SET first_response = interval '20 minutes' WHERE priority = 'critical';
UPDATE crm.rfm_segment_map SET action = 'Call them this week' WHERE segment = 'At Risk';
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount) VALUES (1, '2025-06-01', 'kiosk', 'Tea', 9.99);
SELECT crm.merge_customers(1, (SELECT max(id) FROM crm.customer)) \g /dev/null
CREATE TABLE public.contact_list (id serial PRIMARY KEY, email crm.email UNIQUE, phone crm.phone);
INSERT INTO public.contact_list (email, phone) SELECT email, phone FROM crm.customer WHERE email IS NOT NULL ORDER BY id LIMIT 50;
SQL

# A fingerprint of every table: row count and an md5 of all rows in key order.
fingerprint() {
    for t in $(q -d "$1" -At -c "SELECT c.oid::regclass FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace IN ('crm'::regnamespace, 'public'::regnamespace) ORDER BY 1"); do
        q -d "$1" -At -c "SELECT '$t', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $t t"
    done
    q -d "$1" -At -c "SELECT 'sequence', string_agg(s.relname || '=' || pg_sequence_last_value(s.oid::regclass), ',' ORDER BY s.relname) FROM pg_class s WHERE s.relkind = 'S' AND s.relnamespace IN ('crm'::regnamespace, 'public'::regnamespace)"
}

fingerprint crm_dump_src >"$work/src.txt"
pg_dump -Fc -d crm_dump_src -f "$work/dump.pgc"
pg_restore --exit-on-error -d crm_dump_dst "$work/dump.pgc"
fingerprint crm_dump_dst >"$work/dst.txt"

echo "tables and sequences compared:"
cat "$work/src.txt"
if ! diff -u "$work/src.txt" "$work/dst.txt"; then
    echo "FAIL: the restored database differs from the original"
    exit 1
fi
# Nothing is empty that should not be, so the comparison above means something.
for t in crm.customer crm.purchase crm.interaction crm.customer_identity crm.customer_merge crm.channel public.contact_list; do
    n=$(q -d crm_dump_dst -At -c "SELECT count(*) FROM $t")
    [ "$n" -gt 0 ] || { echo "FAIL: $t is empty after restore"; exit 1; }
done
# Built-in channels are not duplicated and the user's channel is back.
n=$(q -d crm_dump_dst -At -c "SELECT count(*) FROM crm.channel")
[ "$n" = 12 ] || { echo "FAIL: crm.channel has $n rows, expected 11 built-in + 1"; exit 1; }
# Edits to shipped configuration rows survive (the fingerprints compare them too).
v=$(q -d crm_dump_dst -At -c "SELECT description FROM crm.channel WHERE code = 'store'")
[ "$v" = "flagship and franchise stores" ] || { echo "FAIL: edited channel came back as '$v'"; exit 1; }
v=$(q -d crm_dump_dst -At -c "SELECT min_purchases FROM crm.tier_policy WHERE tier = 'diamond'")
[ "$v" = 5 ] || { echo "FAIL: edited tier policy came back as '$v'"; exit 1; }
v=$(q -d crm_dump_dst -At -c "SELECT first_response FROM crm.sla_policy WHERE priority = 'critical'")
[ "$v" = "00:20:00" ] || { echo "FAIL: edited SLA policy came back as '$v'"; exit 1; }
# Identity sequences continue after the restored rows.
src_next=$(q -d crm_dump_src -At -c "INSERT INTO crm.customer (name) VALUES ('Next') RETURNING id")
dst_next=$(q -d crm_dump_dst -At -c "INSERT INTO crm.customer (name) VALUES ('Next') RETURNING id")
[ "$src_next" = "$dst_next" ] || { echo "FAIL: next customer id $dst_next after restore, $src_next before"; exit 1; }
echo "restored database is identical; next id $dst_next in both"
