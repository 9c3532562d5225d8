#!/usr/bin/env bash
# pg_dump round trip of complaints, events and workflow/SLA configuration, restored
# twice: by a plain pg_restore (the owner's COPY is an import of history, so the
# workflow trigger keeps the rows as they are and writes no events) and with
# session_replication_role = replica (triggers off; the configuration upsert
# triggers fire anyway).
set -euo pipefail
src=crm_wf_dump_src
dst=crm_wf_dump_dst
dst2=crm_wf_dump_plain
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
for d in $src $dst $dst2; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" 2>/dev/null; done
trap 'for d in $src $dst $dst2; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d $src <<'SQL'
CREATE EXTENSION crm;
SELECT FROM crm.define_calendar('desk', 'Asia/Shanghai', 'mon-fri 09:00-18:00');
SELECT FROM crm.add_holiday('desk', '2027-01-01');
INSERT INTO crm.sla_policy (priority, rank, first_response, resolution, calendar) VALUES ('vip', 0, '10 minutes', '1 hour', 'desk');
INSERT INTO crm.complaint_category (category, description, default_priority) VALUES ('vip_care', 'VIP line', 'vip');
INSERT INTO crm.workflow_transition (workflow, from_status, to_status) VALUES ('complaint', 'closed', 'reopened');
UPDATE crm.sla_policy SET first_response = interval '20 minutes' WHERE priority = 'critical';
INSERT INTO crm.complaint (channel, category, subject, created_at)
SELECT 'phone', (ARRAY['vip_care', 'billing', 'food_safety'])[1 + i % 3], 'c' || i, timestamptz '2026-03-02 08:00+08' + i * interval '7 hours'
  FROM generate_series(1, 9) i;
UPDATE crm.complaint SET status = 'classified', assignee = 'li' WHERE id <= 6;
UPDATE crm.complaint SET status = 'waiting_customer' WHERE id <= 3;
UPDATE crm.complaint SET status = 'investigating' WHERE id = 1;
UPDATE crm.complaint SET status = 'resolved' WHERE id = 1;
UPDATE crm.complaint SET status = 'closed', customer_confirmed = true WHERE id = 1;
SQL
"$bindir/pg_dump" -Fc -f "$PGHOST/wf_dump.bin" $src
PGOPTIONS='-c session_replication_role=replica' "$bindir/pg_restore" --exit-on-error -d $dst "$PGHOST/wf_dump.bin"
"$bindir/pg_restore" --exit-on-error -d $dst2 "$PGHOST/wf_dump.bin"
rm -f "$PGHOST/wf_dump.bin"
q_complaints="SELECT c FROM crm.complaint c ORDER BY id"
q_events="SELECT e FROM crm.complaint_event e ORDER BY id"
q_config="SELECT (SELECT string_agg(t::text, ';' ORDER BY t::text) FROM crm.workflow_transition t) ||
                 (SELECT string_agg(p::text, ';' ORDER BY p::text) FROM crm.sla_policy p) ||
                 (SELECT string_agg(k::text, ';' ORDER BY k::text) FROM crm.complaint_category k) ||
                 (SELECT string_agg(b::text, ';' ORDER BY b::text) FROM crm.business_calendar b) ||
                 (SELECT string_agg(h::text, ';' ORDER BY h::text) FROM crm.calendar_holiday h)"
ok=true
for target in $dst $dst2; do
    for q in "$q_complaints" "$q_events" "$q_config"; do
        a=$(psql -X -At -d $src -c "$q"); b=$(psql -X -At -d $target -c "$q")
        if [ "$a" != "$b" ] || [ -z "$a" ]; then echo "FAILED: $target differs after restore: $q"; diff <(echo "$a") <(echo "$b") || true; ok=false; fi
    done
done
# A role that does not own the table cannot use COPY to slip rows past the workflow.
psql -X -q -d $dst2 -c "CREATE ROLE crm_wf_clerk" 2>/dev/null || true
psql -X -q -d $dst2 -c "GRANT USAGE ON SCHEMA crm TO crm_wf_clerk; GRANT INSERT, SELECT ON crm.complaint TO crm_wf_clerk; GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_wf_clerk" >/dev/null
if printf 'phone\tother\tnormal\tclosed\tforged\n' | psql -X -q -d $dst2 -c "SET ROLE crm_wf_clerk" \
     -c "COPY crm.complaint (channel, category, priority, status, subject) FROM STDIN" 2>"$PGHOST/wf_copy.err"; then
    echo "FAILED: a non-owner inserted a closed complaint with COPY"; ok=false
elif ! grep -q 'WF001' "$PGHOST/wf_copy.err" && ! grep -q 'invalid initial status' "$PGHOST/wf_copy.err"; then
    echo "FAILED: unexpected error for a non-owner COPY:"; cat "$PGHOST/wf_copy.err"; ok=false
fi
rm -f "$PGHOST/wf_copy.err"
psql -X -q -d $dst2 -c "DROP OWNED BY crm_wf_clerk" -c "DROP ROLE crm_wf_clerk" >/dev/null 2>&1 || true
# The restored database works on: sequences continue, the engine runs.
psql -X -q -v ON_ERROR_STOP=1 -d $dst <<'SQL' || ok=false
INSERT INTO crm.complaint (channel, category, subject) VALUES ('email', 'vip_care', 'after restore');
UPDATE crm.complaint SET status = 'reopened' WHERE id = 1;
UPDATE crm.complaint SET status = 'investigating' WHERE id = 2;
SELECT CASE WHEN id = 10 AND priority = 'vip' THEN 'ok' ELSE 'bad ' || id END
  FROM crm.complaint WHERE subject = 'after restore';
SQL
$ok
