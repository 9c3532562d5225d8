#!/usr/bin/env bash
# Many concurrent sessions (pgbench) move the same and different complaints
# through the workflow, create new ones and change priorities.  Afterwards:
# every complaint is in a valid status, each complaint's events form a valid
# chain ending in its status, the events equal the successful moves, and
# every deadline and paused time equals an independent computation.
set -euo pipefail
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
db=crm_wf_concurrency
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION crm;
SELECT FROM crm.define_calendar('allday', 'Europe/Paris', 'mon-sun 00:00-24:00');
UPDATE crm.sla_policy SET calendar = 'allday' WHERE priority IN ('normal', 'critical');
CREATE TABLE wf_success (complaint_id bigint, to_status text);
CREATE TABLE wf_rejected (complaint_id bigint, to_status text, sqlstate text);
INSERT INTO crm.complaint (channel, category, subject)
SELECT 'phone', (ARRAY['food_safety', 'billing', 'app'])[1 + i % 3], 'complaint ' || i FROM generate_series(1, 12) i;

-- Tries one move; expected refusals are counted, anything else fails the run.
CREATE FUNCTION wf_try(cid bigint, k int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    target text := (ARRAY['classified', 'investigating', 'waiting_customer', 'investigating', 'escalated',
                          'resolved', 'closed', 'reopened', 'waiting_customer', 'resolved', 'reopened',
                          'classified', 'investigating', 'cancelled', NULL, 'investigating', 'closed',
                          'investigating', 'resolved', 'waiting_customer', 'reopened', 'investigating',
                          'escalated', 'classified'])[k];
    st text;
BEGIN
    IF k = 15 THEN  -- a priority change instead of a move
        UPDATE crm.complaint SET priority = CASE priority WHEN 'critical' THEN 'normal' ELSE 'critical' END
         WHERE id = cid;
        RETURN FOUND;
    END IF;
    UPDATE crm.complaint SET status = target, customer_confirmed = customer_confirmed OR k = 17
     WHERE id = cid AND status <> target;
    IF FOUND THEN
        INSERT INTO wf_success VALUES (cid, target);
    END IF;
    RETURN FOUND;
EXCEPTION WHEN SQLSTATE 'WF001' OR SQLSTATE 'WF002' THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    INSERT INTO wf_rejected VALUES (cid, target, st);
    RETURN false;
END $$;
SQL

script=$(mktemp)
cat >"$script" <<'EOF2'
\set r random(1, 100)
\if :r <= 1
INSERT INTO crm.complaint (channel, category, subject) VALUES ('online', 'delivery_delay', 'late');
\else
\set id random(1, 16)
\set k random(1, 24)
SELECT wf_try(:id, :k);
\endif
EOF2
"$PGBENCH" -n -c 6 -j 2 -t 400 -f "$script" $db >"$script.out" 2>&1 || { cat "$script.out"; exit 1; }
rm -f "$script" "$script.out"
grep -E "processed|failed" "$script.out" || true

psql -X -q -v ON_ERROR_STOP=1 -d $db -At <<'SQL' >"$script.check"
WITH ev AS (
    SELECT e.*, lag(e.to_status) OVER w AS prev_to, row_number() OVER w AS n,
           count(*) OVER (PARTITION BY complaint_id) AS total
      FROM crm.complaint_event e
    WINDOW w AS (PARTITION BY complaint_id ORDER BY id)
), pauses AS (
    SELECT e.complaint_id, e.at AS began,
           (SELECT min(x.at) FROM crm.complaint_event x
             WHERE x.complaint_id = e.complaint_id AND x.id > e.id AND x.from_status = 'waiting_customer'
               AND x.to_status <> 'waiting_customer') AS ended
      FROM crm.complaint_event e WHERE e.to_status = 'waiting_customer' AND e.from_status <> 'waiting_customer'
), paused AS (
    SELECT c.id, coalesce(sum(crm.business_diff(p.began, p.ended, 'allday')) FILTER (WHERE p.ended IS NOT NULL), '0') AS total,
           max(p.began) FILTER (WHERE p.ended IS NULL) AS open_pause
      FROM crm.complaint c LEFT JOIN pauses p ON p.complaint_id = c.id GROUP BY c.id
)
SELECT 'complaints ' || (SELECT count(*) FROM crm.complaint)
UNION ALL SELECT 'moves ' || (SELECT count(*) FROM wf_success)
UNION ALL SELECT 'rejected ' || (SELECT count(*) FROM wf_rejected)
UNION ALL SELECT 'bad_status ' || count(*) FROM crm.complaint
  WHERE status NOT IN (SELECT to_status FROM crm.workflow_transition WHERE workflow = 'complaint')
UNION ALL SELECT 'events_vs_moves ' || ((SELECT count(*) FROM crm.complaint_event WHERE from_status IS DISTINCT FROM to_status)
                                        - (SELECT count(*) FROM wf_success) - (SELECT count(*) FROM crm.complaint))
UNION ALL SELECT 'broken_chain ' || count(*) FROM ev
  WHERE (n = 1 AND from_status IS NOT NULL) OR (n > 1 AND from_status IS DISTINCT FROM prev_to)
     OR NOT EXISTS (SELECT 1 FROM crm.workflow_transition t WHERE t.workflow = 'complaint'
                     AND t.from_status IS NOT DISTINCT FROM ev.from_status AND t.to_status = ev.to_status)
UNION ALL SELECT 'last_event_mismatch ' || count(*) FROM ev JOIN crm.complaint c ON c.id = ev.complaint_id
  WHERE ev.n = ev.total AND ev.to_status <> c.status
UNION ALL SELECT 'wrong_deadline ' || count(*) FROM crm.complaint c JOIN crm.sla_policy p USING (priority)
  WHERE c.response_due IS DISTINCT FROM crm.business_add(c.created_at, p.first_response, p.calendar)
     OR c.resolution_due IS DISTINCT FROM crm.business_add(c.created_at, p.resolution + c.sla_paused, p.calendar)
UNION ALL SELECT 'wrong_paused ' || count(*) FROM crm.complaint c JOIN paused x USING (id)
  WHERE c.sla_paused <> x.total OR c.sla_paused_at IS DISTINCT FROM x.open_pause
     OR (c.status = 'waiting_customer') <> (c.sla_paused_at IS NOT NULL)
UNION ALL SELECT 'paused_complaints ' || count(*) FROM crm.complaint WHERE sla_paused > '0'
UNION ALL SELECT 'bad_stamps ' || count(*) FROM crm.complaint
  WHERE (status = 'closed' AND (closed_at IS NULL OR NOT customer_confirmed))
     OR (status IN ('resolved', 'closed') AND resolved_at IS NULL)
     OR (status <> 'received' AND first_response_at IS NULL);
SQL
cat "$script.check"
ok=true
for k in bad_status events_vs_moves broken_chain last_event_mismatch wrong_deadline wrong_paused bad_stamps; do
    grep -qx "$k 0" "$script.check" || { echo "FAILED: $k"; ok=false; }
done
# The run must have exercised the interesting paths.
awk '$1 == "moves" && $2 < 30 { exit 1 }' "$script.check" || { echo "FAILED: too few moves"; ok=false; }
awk '$1 == "paused_complaints" && $2 < 1 { exit 1 }' "$script.check" || { echo "FAILED: no pause exercised"; ok=false; }
rm -f "$script.out" "$script.check"
$ok
