-- Workflow and SLA objects: catalog properties, dump registration, errors.
BEGIN;
SELECT plan(21);
SET search_path = crm, public;

SELECT has_table('crm', t, 'table crm.' || t || ' exists')
  FROM unnest(ARRAY['complaint', 'complaint_event', 'workflow_transition', 'complaint_category',
                    'sla_policy', 'business_calendar', 'calendar_holiday']) t;
SELECT has_view('crm', 'complaint_sla_board', 'the SLA board view exists');
SELECT has_view('crm', 'complaint_stats', 'the stats view exists');

SELECT is_empty($$
    SELECT c.relname || coalesce('.' || a.attname, '')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r'
     WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'v')
       AND c.relname IN ('complaint', 'complaint_event', 'workflow_transition', 'complaint_category', 'sla_policy',
                         'business_calendar', 'calendar_holiday', 'complaint_sla_board', 'complaint_stats')
       AND col_description(c.oid, coalesce(a.attnum, 0)) IS NULL
       AND (a.attnum IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)
$$, 'every workflow and SLA table, view and table column has a comment');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'crm'::regnamespace
       AND p.proname IN ('workflow_guard', 'config_changed', 'business_add', 'business_diff', 'define_calendar',
                         'add_holiday', 'escalate_overdue', 'parse_weekly_hours', 'check_time_zone')
       AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every workflow and SLA function has a comment');

SELECT is((SELECT string_agg(format('%s %s %s %s', proname, provolatile, proparallel, proisstrict), '; ' ORDER BY proname)
             FROM pg_proc WHERE pronamespace = 'crm'::regnamespace
              AND proname IN ('business_add', 'business_diff', 'parse_weekly_hours', 'escalate_overdue')),
          'business_add s s f; business_diff s s f; escalate_overdue v u t; parse_weekly_hours i s t',
          'volatility, parallel safety and strictness are labelled');

SELECT is_empty($$
    SELECT unnest(ARRAY['crm.complaint', 'crm.complaint_event', 'crm.complaint_id_seq', 'crm.complaint_event_id_seq',
                        'crm.workflow_transition', 'crm.complaint_category', 'crm.sla_policy',
                        'crm.business_calendar', 'crm.calendar_holiday'])
    EXCEPT
    SELECT n.nspname || '.' || r.relname FROM pg_extension e, unnest(e.extconfig) c
      JOIN pg_class r ON r.oid = c JOIN pg_namespace n ON n.oid = r.relnamespace WHERE e.extname = 'crm'
$$, 'workflow and SLA tables and sequences are registered for pg_dump');

INSERT INTO crm.complaint (channel, category, subject) VALUES ('email', 'billing', 'pgtap');
SELECT throws_ok($$UPDATE crm.complaint SET status = 'closed' WHERE subject = 'pgtap'$$, 'WF001',
                 'invalid transition from "received" to "closed" in workflow "complaint"',
                 'an invalid move raises WF001');
SELECT lives_ok($$UPDATE crm.complaint SET status = 'cancelled' WHERE subject = 'pgtap'$$, 'a valid move works');
SELECT throws_ok($$UPDATE crm.complaint SET status = 'received' WHERE subject = 'pgtap'$$, 'WF001',
                 NULL, 'cancelled is final');
SELECT is((SELECT array_agg(e.to_status ORDER BY e.id) FROM crm.complaint_event e
            JOIN crm.complaint c ON c.id = e.complaint_id WHERE c.subject = 'pgtap'),
          ARRAY['received', 'cancelled'], 'the events record the moves');
SELECT throws_ok($$SELECT crm.define_calendar('c', 'UTC', 'mon-fri 9-17')$$, '22023', NULL,
                 'bad weekly hours are an error');
SELECT is(crm.business_diff('2026-06-01 08:00+00', '2026-06-08 08:00+00', NULL), interval '168 hours',
          'a NULL calendar counts clock time');
SELECT lives_ok($$SELECT crm.define_calendar('tap', 'UTC', 'mon-fri 09:00-17:00')$$, 'a calendar can be defined');
SELECT is(crm.business_diff('2026-06-01 08:00+00', '2026-06-08 08:00+00', 'tap'), interval '40 hours',
          'a week of a 9-to-5 calendar is 40 business hours');

SELECT * FROM finish();
ROLLBACK;
