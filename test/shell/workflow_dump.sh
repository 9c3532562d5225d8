#!/usr/bin/env bash
# pg_dump round trip of complaints, events and workflow/SLA configuration.
# The data is loaded with session_replication_role = replica so that the
# workflow trigger does not run again on restored rows (doc/workflow.md).
set -euo pipefail
src=crm_wf_dump_src
dst=crm_wf_dump_dst
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
for d in $src $dst; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" 2>/dev/null; done
trap 'for d in $src $dst; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d $src <<'SQL'
CREATE EXTENSION crm;
SELECT FROM crm.define_calendar('desk', 'Asia/Shanghai', 'mon-fri 09:00-18:00');
SELECT FROM crm.add_holiday('desk', '2027-01-01');
INSERT INTO crm.sla_policy (priority, rank, first_response, resolution, calendar) VALUES ('vip', 0, '10 minutes', '1 hour', 'desk');
INSERT INTO crm.complaint_category (category, description, default_priority) VALUES ('vip_care', 'VIP line', 'vip');
INSERT INTO crm.workflow_transition (workflow, from_status, to_status) VALUES ('complaint', 'closed', 'reopened');
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
rm -f "$PGHOST/wf_dump.bin"
q_complaints="SELECT c FROM crm.complaint c ORDER BY id"
q_events="SELECT e FROM crm.complaint_event e ORDER BY id"
q_config="SELECT (SELECT string_agg(t::text, ';' ORDER BY t::text) FROM crm.workflow_transition t) ||
                 (SELECT string_agg(p::text, ';' ORDER BY p::text) FROM crm.sla_policy p) ||
                 (SELECT string_agg(k::text, ';' ORDER BY k::text) FROM crm.complaint_category k) ||
                 (SELECT string_agg(b::text, ';' ORDER BY b::text) FROM crm.business_calendar b) ||
                 (SELECT string_agg(h::text, ';' ORDER BY h::text) FROM crm.calendar_holiday h)"
ok=true
for q in "$q_complaints" "$q_events" "$q_config"; do
    a=$(psql -X -At -d $src -c "$q"); b=$(psql -X -At -d $dst -c "$q")
    if [ "$a" != "$b" ] || [ -z "$a" ]; then echo "FAILED: differs after restore: $q"; diff <(echo "$a") <(echo "$b") || true; ok=false; fi
done
# The restored database works on: sequences continue, the engine runs.
psql -X -q -v ON_ERROR_STOP=1 -d $dst <<'SQL' || ok=false
INSERT INTO crm.complaint (channel, category, subject) VALUES ('email', 'vip_care', 'after restore');
UPDATE crm.complaint SET status = 'reopened' WHERE id = 1;
UPDATE crm.complaint SET status = 'investigating' WHERE id = 2;
SELECT CASE WHEN id = 10 AND priority = 'vip' THEN 'ok' ELSE 'bad ' || id END
  FROM crm.complaint WHERE subject = 'after restore';
SQL
$ok
