#!/usr/bin/env bash
# crm.workflow_guard sends NOTIFY crm_complaint with a small JSON payload for
# every new complaint and every status move, delivered at commit only.
set -euo pipefail
db=crm_wf_notify
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
out=$(psql -X -q -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
CREATE EXTENSION crm;
LISTEN crm_complaint;
INSERT INTO crm.complaint (channel, category, subject) VALUES ('phone', 'food_safety', 'x');
UPDATE crm.complaint SET status = 'classified';
UPDATE crm.complaint SET assignee = 'li';
BEGIN;
UPDATE crm.complaint SET status = 'investigating';
ROLLBACK;
SQL
)
echo "$out"
got=$(echo "$out" | sed -n 's/^Asynchronous notification "crm_complaint" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p')
expected='{"table":"complaint","id":1,"from":null,"to":"received","priority":"critical"}
{"table":"complaint","id":1,"from":"received","to":"classified","priority":"critical"}'
[ "$got" = "$expected" ] || { echo "FAILED: expected"; echo "$expected"; exit 1; }
