-- Tour stop: complaints through the workflow, SLA deadlines in business time,
-- escalation, the SLA board and the statistics.
\pset null '-'
SET timezone = 'Asia/Shanghai';

\echo
\echo '== Complaints: workflow and SLA'
\echo '-- a service desk open 09:00-18:00 on weekdays and 10:00-16:00 at weekends, closed on New Year''s Day'
SELECT crm.define_calendar('service_desk', 'Asia/Shanghai', 'mon-fri 09:00-18:00; sat-sun 10:00-16:00') AS calendar;
SELECT crm.add_holiday('service_desk', '2027-01-01', 'New Year') AS holiday_added;
UPDATE crm.sla_policy SET calendar = 'service_desk' WHERE priority IN ('normal', 'low');
SELECT priority, first_response, resolution, coalesce(calendar, 'around the clock') AS counted_in
  FROM crm.sla_policy ORDER BY rank;

-- Three months of history: complaints moved through the workflow with the
-- times they really happened (the engine keeps explicit stamps).
CREATE TEMP TABLE demo_history AS
SELECT g AS n,
       (SELECT id FROM crm.customer ORDER BY id OFFSET (g * 37) % greatest((SELECT count(*) FROM crm.customer), 1) LIMIT 1) AS customer_id,
       (ARRAY['phone', 'email', 'online', 'store', 'social'])[1 + g % 5] AS channel,
       (ARRAY['food_safety', 'product_quality', 'delivery_delay', 'delivery_delay', 'service', 'billing', 'app', 'other'])[1 + (g * 7) % 8] AS category,
       date_trunc('minute', now() - interval '92 days' + (g * 9973 % (90 * 24 * 60)) * interval '1 minute') AS created_at,
       (g * 31 % 240) * interval '1 minute' AS response_after,
       (60 + g * 53 % 900) * interval '1 minute' AS resolve_after
  FROM generate_series(1, 400) g;
INSERT INTO crm.complaint (customer_id, channel, category, subject, created_at)
SELECT customer_id, channel, category, 'history ' || n, created_at FROM demo_history;
UPDATE crm.complaint c SET status = 'classified', first_response_at = h.created_at + h.response_after
  FROM demo_history h WHERE c.subject = 'history ' || h.n;
UPDATE crm.complaint SET status = 'investigating' WHERE subject LIKE 'history %';
UPDATE crm.complaint c SET status = 'resolved', resolved_at = h.created_at + h.response_after + h.resolve_after
  FROM demo_history h WHERE c.subject = 'history ' || h.n AND h.n % 10 <> 0;
UPDATE crm.complaint SET status = 'closed', customer_confirmed = true, satisfaction = 2 + id % 4
 WHERE subject LIKE 'history %' AND status = 'resolved' AND id % 3 <> 0;

\echo
\echo '-- a customer reports a foreign object in a drink: food safety is critical, picked up within 30 minutes'
INSERT INTO crm.complaint (customer_id, channel, category, subject, description)
VALUES ((SELECT min(id) FROM crm.customer), 'mini_program', 'food_safety', 'plastic piece in milk tea',
        'Found a hard plastic piece in a large milk tea, store 12.')
RETURNING id AS complaint_id, priority, status, created_at, response_due, resolution_due
\gset
SELECT :complaint_id AS complaint_id, :'priority' AS priority, :'status' AS status,
       :'response_due'::timestamptz - :'created_at'::timestamptz AS to_respond,
       :'resolution_due'::timestamptz - :'created_at'::timestamptz AS to_resolve;

\echo '-- the agent cannot skip steps: the engine names both statuses and lists the allowed ones'
DO $$
BEGIN
    UPDATE crm.complaint SET status = 'resolved' WHERE subject = 'plastic piece in milk tea';
EXCEPTION WHEN SQLSTATE 'WF001' THEN
    RAISE NOTICE 'rejected (%): %', SQLSTATE, SQLERRM;
END $$;

UPDATE crm.complaint SET status = 'classified', assignee = 'wang.li', status_note = 'photo and receipt received'
 WHERE id = :complaint_id;
UPDATE crm.complaint SET status = 'investigating', status_note = 'store 12 checks the sealing machine' WHERE id = :complaint_id;
UPDATE crm.complaint SET status = 'waiting_customer', status_note = 'asked for the batch number on the cup' WHERE id = :complaint_id;
UPDATE crm.complaint SET status = 'investigating', status_note = 'batch number received' WHERE id = :complaint_id;
UPDATE crm.complaint SET status = 'resolved', status_note = 'refund and voucher; machine repaired' WHERE id = :complaint_id;
UPDATE crm.complaint SET status = 'closed', customer_confirmed = true, satisfaction = 4,
       status_note = 'customer confirmed by phone' WHERE id = :complaint_id;

\echo '-- every step is an event: who, when, what'
SELECT from_status, to_status, actor, to_char(at, 'HH24:MI:SS') AS at, note
  FROM crm.complaint_event WHERE complaint_id = :complaint_id ORDER BY id;

\echo
\echo '-- new complaints arrive; the escalation job (every minute with pg_cron) flags overdue ones'
INSERT INTO crm.complaint (customer_id, channel, category, subject, created_at)
SELECT (SELECT min(id) FROM crm.customer), ch, cat, s, now() - ago
  FROM (VALUES ('phone', 'delivery_delay', 'lunch order 50 minutes late', interval '5 hours'),
               ('social', 'food_safety', 'stomach ache after the new dessert', interval '40 minutes'),
               ('email', 'billing', 'charged twice for one order', interval '10 minutes'),
               ('store', 'service', 'rude staff at the counter', interval '1 day'),
               ('online', 'app', 'coupon not applied', interval '2 hours')) v(ch, cat, s, ago);
UPDATE crm.complaint SET status = 'classified', assignee = 'zhao.min' WHERE subject = 'rude staff at the counter';
UPDATE crm.complaint SET status = 'waiting_customer' WHERE subject = 'rude staff at the counter';
SELECT complaint_id, priority, breach, escalation_level FROM crm.escalate_overdue()
 WHERE complaint_id > :complaint_id;

\echo
\echo '-- the SLA board: open complaints, business time left (negative: overdue)'
SELECT complaint_id, category, priority, status, assignee,
       date_trunc('minute', response_left) AS response_left,
       date_trunc('minute', resolution_left) AS resolution_left,
       paused, resolution_breached AS breached, escalation_level AS level
  FROM crm.complaint_sla_board WHERE complaint_id > :complaint_id ORDER BY resolution_left;

\echo
\echo '-- statistics by category over the last three months (business time)'
SELECT category, sum(complaints) AS complaints, round(sum(breached)::numeric / sum(complaints), 3) AS breach_rate,
       date_trunc('minute', justify_hours(sum(mean_first_response * responded) / nullif(sum(responded), 0))) AS mean_first_response,
       date_trunc('minute', max(p90_first_response)) AS worst_monthly_p90_response,
       date_trunc('minute', justify_hours(sum(mean_resolution * resolved) / nullif(sum(resolved), 0))) AS mean_resolution
  FROM crm.complaint_stats
 GROUP BY category ORDER BY breach_rate DESC;
RESET timezone;
