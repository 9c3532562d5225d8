#!/usr/bin/env bash
# Security survives a backup: after crm.create_roles(), crm.enable_row_security()
# and crm.enable_audit(), a pg_dump | pg_restore round trip brings back the
# policies, row security flags and audit triggers (pg_dump does not dump them
# for extension tables: restoring crm.security_setting makes them again), the
# grants, the configuration, the audit log and the erasure record; also with
# the restore in replica mode or in a single transaction.  pg_dump by a role that row-level
# security restricts fails instead of writing a partial backup.
# A bulk export sends NOTIFY crm_alert to a listening session.
# Runs against the cluster started by test/run.sh (PGHOST, PGPORT, PGUSER are set).
set -euo pipefail
top=${CRM_TOP:?}
work=$(mktemp -d)
src=crm_secdump_src_$$
dst=crm_secdump_dst_$$
agent=crm_secdump_agent_$$
cleanup() {
    rm -rf "$work"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" -c "DROP DATABASE IF EXISTS ${dst}_r" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $agent" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
q -d "$src" -c "CREATE EXTENSION crm"
q -d "$src" -v customers=300 -f "$top/test/demo/00_data.sql" >/dev/null
q -d "$src" <<SQL
SELECT crm.create_roles() \g /dev/null
SELECT crm.enable_row_security() \g /dev/null
SELECT crm.enable_audit() \g /dev/null
CREATE ROLE $agent LOGIN IN ROLE crm_agent;
INSERT INTO crm.team (name) VALUES ('dump_team');
INSERT INTO crm.staff (login, display_name, team) VALUES ('$agent', 'Agent', 'dump_team');
UPDATE crm.customer SET owner = '$agent' WHERE id <= 10;
UPDATE crm.protected_table SET on_erase = 'delete' WHERE table_name = 'crm.customer_identity';
SELECT crm.erase_customer(11, 'dump test request') \g /dev/null
INSERT INTO crm.complaint (customer_id, channel, subject) SELECT id, 'phone', 'complaint ' || id FROM crm.customer WHERE id BETWEEN 20 AND 24;
SQL

# What must come back: policies, row security flags, grants, audit and erasure rows.
state() {
    q -d "$1" -At <<'SQL'
SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' ' || polroles::regrole[]::text
       || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')
  FROM pg_policy ORDER BY 1;
SELECT 'rls ' || oid::regclass FROM pg_class WHERE relrowsecurity ORDER BY 1;
SELECT 'acl ' || oid::regclass || ' ' || relacl::text FROM pg_class
 WHERE relnamespace = 'crm'::regnamespace AND relacl IS NOT NULL ORDER BY 1;
SELECT 'colacl ' || attrelid::regclass || '.' || attname || ' ' || attacl::text FROM pg_attribute
 WHERE attacl IS NOT NULL AND attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'crm'::regnamespace) ORDER BY 1;
SELECT 'audit_log ' || count(*) || ' ' || md5(string_agg(l::text, '|' ORDER BY l.id)) FROM crm.audit_log l;
SELECT 'erasure ' || customer_id || ' ' || reason FROM crm.erasure ORDER BY id;
SELECT 'config ' || p::text FROM crm.protected_table p ORDER BY table_name;
SELECT 'setting ' || s::text FROM crm.security_setting s ORDER BY name;
SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE tgname = 'crm_audit' ORDER BY 1;
SQL
}
state "$src" >"$work/src.txt"
grep -q '^policy crm.customer crm_agent_read' "$work/src.txt" || { echo "FAIL: no policies to compare"; exit 1; }
grep -q '^colacl crm.purchase' "$work/src.txt" || { echo "FAIL: no column privileges to compare"; exit 1; }

# A role restricted by row-level security cannot take a silently partial backup.
if pg_dump -U "$agent" -d "$src" -t crm.customer -f "$work/partial.sql" 2>"$work/partial.err"; then
    echo "FAIL: pg_dump as an agent succeeded"; exit 1
fi
grep -q 'row-level security\|permission denied' "$work/partial.err" || { echo "FAIL: unexpected pg_dump error:"; cat "$work/partial.err"; exit 1; }
echo "pg_dump by an agent refused: $(head -1 "$work/partial.err")"

pg_dump -Fc -d "$src" -f "$work/dump.pgc"
pg_restore --exit-on-error -d "$dst" "$work/dump.pgc"
state "$dst" >"$work/dst.txt"
if ! diff -u "$work/src.txt" "$work/dst.txt"; then
    echo "FAIL: security state differs after restore"; exit 1
fi
q -d postgres -c "CREATE DATABASE ${dst}_r"
PGOPTIONS='-c session_replication_role=replica' pg_restore --exit-on-error -d "${dst}_r" "$work/dump.pgc"
state "${dst}_r" >"$work/dst_r.txt"
q -d postgres -c "DROP DATABASE ${dst}_r"
if ! diff -u "$work/src.txt" "$work/dst_r.txt"; then
    echo "FAIL: security state differs after a restore in replica mode"; exit 1
fi
# In one transaction, deferred checks of complaint events are pending when row security is switched on.
q -d postgres -c "CREATE DATABASE ${dst}_r"
pg_restore --single-transaction --exit-on-error -d "${dst}_r" "$work/dump.pgc"
state "${dst}_r" >"$work/dst_r.txt"
q -d postgres -c "DROP DATABASE ${dst}_r"
if ! diff -u "$work/src.txt" "$work/dst_r.txt"; then
    echo "FAIL: security state differs after a single-transaction restore"; exit 1
fi
echo "restored: $(grep -c '^policy' "$work/dst.txt") policies, $(grep -c '^rls' "$work/dst.txt") tables with row security, $(grep -c 'acl' "$work/dst.txt") grants, audit log identical"

# The agent sees the same rows in both databases.
a=$(q -d "$src" -At -c "SET ROLE $agent" -c "SELECT count(*) || ' ' || sum(id) FROM crm.customer")
b=$(q -d "$dst" -At -c "SET ROLE $agent" -c "SELECT count(*) || ' ' || sum(id) FROM crm.customer")
[ "$a" = "$b" ] && [ "${a%% *}" = 10 ] || { echo "FAIL: agent sees '$a' before and '$b' after restore (want 10 rows)"; exit 1; }

# Triggers on extension tables are not dumped: restoring crm.security_setting attaches them again.
n=$(q -d "$src" -At -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'crm_audit'")
m=$(q -d "$dst" -At -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'crm_audit'")
[ "$n" -gt 0 ] && [ "$n" = "$m" ] || { echo "FAIL: $n audit triggers before the dump, $m after the restore"; exit 1; }
before=$(q -d "$dst" -At -c "SELECT count(*) FROM crm.audit_log")
q -d "$dst" -c "UPDATE crm.customer SET city = 'Restored' WHERE id = 1"
after=$(q -d "$dst" -At -c "SELECT count(*) FROM crm.audit_log")
[ "$after" = $((before + 1)) ] || { echo "FAIL: audit after restore: $before -> $after"; exit 1; }

# A bulk export raises NOTIFY crm_alert, seen by a listener in another session.
{
    echo "LISTEN crm_alert;"
    sleep 2
    echo "SELECT 1;"
} | psql -X -d "$dst" >"$work/listen.txt" 2>&1 &
listener=$!
sleep 1
q -d "$dst" -c "SET crm.export_alert_rows = 50" -c "SELECT count(*) FROM crm.export_customers()" >/dev/null
wait "$listener"
grep -q 'Asynchronous notification "crm_alert" with payload .*bulk_read.*crm.customer.* received' "$work/listen.txt" \
    || { echo "FAIL: no crm_alert notification:"; cat "$work/listen.txt"; exit 1; }
echo "bulk export alert received: $(grep -o 'payload .*received' "$work/listen.txt" | head -1)"
