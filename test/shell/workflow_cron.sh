#!/usr/bin/env bash
# crm.escalate_overdue() run every minute by pg_cron, in a cluster of its own
# with pg_cron preloaded: the overdue complaint gets escalated by the job.
source "$(dirname "$0")/../lib.sh"
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control" ]; then
    echo "pg_cron is not installed (postgresql-15-cron): run make deps as root" >&2
    exit 1
fi
CRM_EXTRA_CONF="shared_preload_libraries = 'pg_cron'"$'\n'"cron.database_name = 'postgres'"$'\n'"cron.use_background_workers = on"
crm_start
crm_psql -d postgres <<'SQL'
CREATE EXTENSION pg_cron;
CREATE EXTENSION crm;
INSERT INTO crm.complaint (channel, category, subject, created_at)
VALUES ('phone', 'food_safety', 'overdue for three hours', now() - interval '3 hours'),
       ('phone', 'billing', 'not yet due', now());
SELECT cron.schedule('crm-escalate', '* * * * *', 'SELECT count(*) FROM crm.escalate_overdue()');
SQL
for _ in $(seq 1 100); do
    level=$(crm_psql -d postgres -At -c "SELECT escalation_level FROM crm.complaint WHERE subject = 'overdue for three hours'")
    [ "$level" = 2 ] && break
    sleep 1
done
crm_psql -d postgres -At <<'SQL' | tee "$CRM_TMP/cron.out"
SELECT 'levels ' || string_agg(escalation_level::text, ',' ORDER BY id) FROM crm.complaint;
SELECT 'job ' || status FROM cron.job_run_details ORDER BY runid LIMIT 1;
SELECT 'events ' || count(*) FROM crm.complaint_event WHERE note LIKE 'escalated to level 2%';
SQL
grep -qx 'levels 2,0' "$CRM_TMP/cron.out" && grep -qx 'job succeeded' "$CRM_TMP/cron.out" \
    && grep -qx 'events 1' "$CRM_TMP/cron.out"
