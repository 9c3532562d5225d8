-- Complaint workflow enforced by crm.workflow_guard(), SLA deadlines, events,
-- escalation and the SLA views
SET search_path = crm, public;
SET timezone = 'UTC';

-- Prints the SQLSTATE, message and hint of a failing statement.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || coalesce(' / ' || nullif(hint, ''), '');
END $$;

-- The default workflow and policies.
SELECT from_status, string_agg(to_status, ', ' ORDER BY to_status) AS next
  FROM crm.workflow_transition WHERE workflow = 'complaint'
 GROUP BY from_status ORDER BY from_status NULLS FIRST;
SELECT priority, first_response, resolution, calendar FROM crm.sla_policy ORDER BY rank;
SELECT category, default_priority FROM crm.complaint_category ORDER BY category;

-- Insert: status defaults to received, priority comes from the category,
-- deadlines from the policy.
INSERT INTO crm.complaint (channel, category, subject, created_at)
VALUES ('phone', 'food_safety', 'hair in the soup', '2026-01-05 08:00+00'),
       ('email', 'delivery_delay', 'order 17 late', '2026-01-05 08:00+00'),
       ('store', 'app', 'app crashes', '2026-01-05 08:00+00');
INSERT INTO crm.complaint (channel, category, priority, subject, created_at)
VALUES ('online', 'delivery_delay', 'critical', 'cold meal, party waiting', '2026-01-05 08:00+00');
SELECT id, category, priority, status, response_due, resolution_due, sla_paused,
       response_due = crm.business_add(created_at, p.first_response, p.calendar) AS response_ok,
       resolution_due = crm.business_add(created_at, p.resolution, p.calendar) AS resolution_ok
  FROM crm.complaint c JOIN crm.sla_policy p USING (priority) ORDER BY id;

-- Invalid starts and moves are rejected with SQLSTATE WF001 and the allowed moves in the hint.
SELECT pg_temp.try($$INSERT INTO crm.complaint (channel, subject, status) VALUES ('phone', 'x', 'resolved')$$);
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'resolved' WHERE id = 1$$);
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'nonsense' WHERE id = 1$$);
SELECT pg_temp.try($$UPDATE crm.complaint SET status = NULL WHERE id = 1$$);
SELECT pg_temp.try($$INSERT INTO crm.complaint (channel, subject, priority) VALUES ('phone', 'x', 'urgent')$$);
SELECT count(*) AS complaints, (SELECT count(*) FROM crm.complaint_event) AS events FROM crm.complaint;

-- A valid path with assignment and notes.
UPDATE crm.complaint SET status = 'classified', assignee = 'li', status_note = 'photo received' WHERE id = 1;
UPDATE crm.complaint SET status = 'investigating' WHERE id = 1;
UPDATE crm.complaint SET status_note = 'called the store' WHERE id = 1;
SELECT id, status, assignee, status_note, first_response_at IS NOT NULL AS responded FROM crm.complaint WHERE id = 1;
-- The deadlines belong to the engine: a direct change is ignored...
UPDATE crm.complaint SET response_due = '2030-01-01', resolution_due = NULL, sla_paused = '5 hours' WHERE id = 1;
SELECT response_due, resolution_due, sla_paused FROM crm.complaint WHERE id = 1;
-- ...and a priority change recomputes them.
UPDATE crm.complaint SET priority = 'low' WHERE id = 2;
SELECT id, priority, response_due, resolution_due FROM crm.complaint WHERE id = 2;

-- Closing needs the customer's confirmation (SQLSTATE WF002).
UPDATE crm.complaint SET status = 'resolved' WHERE id = 1;
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'closed' WHERE id = 1$$);
UPDATE crm.complaint SET status = 'closed', customer_confirmed = true, satisfaction = 4 WHERE id = 1;
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'reopened' WHERE id = 1$$);
SELECT status, resolved_at IS NOT NULL AS resolved, closed_at >= resolved_at AS closed_after FROM crm.complaint WHERE id = 1;
-- Explicit timestamps given with the move are kept (for loading history).
UPDATE crm.complaint SET status = 'classified', first_response_at = '2026-01-05 09:10+00' WHERE id = 2;
UPDATE crm.complaint SET status = 'investigating' WHERE id = 2;
UPDATE crm.complaint SET status = 'resolved', resolved_at = '2026-01-05 11:00+00' WHERE id = 2;
UPDATE crm.complaint SET status = 'reopened' WHERE id = 2;
SELECT status, first_response_at, resolved_at, closed_at, customer_confirmed FROM crm.complaint WHERE id = 2;

-- Every move, assignment and note is an event.
SELECT complaint_id, from_status, to_status, actor = current_user AS by_me, note
  FROM crm.complaint_event ORDER BY id;

-- The SLA clock stops in waiting_customer and resumes after it.
UPDATE crm.complaint SET status = 'classified' WHERE id = 3;
UPDATE crm.complaint SET status = 'waiting_customer' WHERE id = 3;
SELECT status, sla_paused_at IS NOT NULL AS paused FROM crm.complaint WHERE id = 3;
SELECT pg_sleep(0.2);
UPDATE crm.complaint SET status = 'investigating' WHERE id = 3;
SELECT c.sla_paused >= interval '0.2 s' AS paused_long_enough,
       c.sla_paused_at IS NULL AS running_again,
       c.sla_paused = crm.business_diff(w.at, r.at, p.calendar) AS paused_matches_events,
       c.resolution_due = crm.business_add(c.created_at, p.resolution + c.sla_paused, p.calendar) AS deadline_moved,
       c.response_due = crm.business_add(c.created_at, p.first_response, p.calendar) AS response_unchanged
  FROM crm.complaint c JOIN crm.sla_policy p USING (priority)
  JOIN crm.complaint_event w ON w.complaint_id = c.id AND w.to_status = 'waiting_customer'
  JOIN crm.complaint_event r ON r.complaint_id = c.id AND r.from_status = 'waiting_customer'
 WHERE c.id = 3;

-- Policies follow a business calendar; changes apply at once.
SELECT crm.define_calendar('office', 'Europe/Paris', 'mon-fri 09:00-18:00');
UPDATE crm.sla_policy SET calendar = 'office' WHERE priority = 'normal';
INSERT INTO crm.complaint (channel, category, subject, created_at)
VALUES ('phone', 'billing', 'charged twice', '2026-01-09 16:00 Europe/Paris');
SELECT id, priority, response_due AT TIME ZONE 'Europe/Paris' AS response_due_paris,
       resolution_due AT TIME ZONE 'Europe/Paris' AS resolution_due_paris
  FROM crm.complaint WHERE subject = 'charged twice';
UPDATE crm.sla_policy SET calendar = NULL WHERE priority = 'normal';

-- Role-restricted moves: only members of the role may make them.
CREATE ROLE crm_wf_supervisor;
CREATE ROLE crm_wf_agent;
GRANT USAGE ON SCHEMA crm TO crm_wf_agent;
GRANT SELECT, UPDATE ON crm.complaint TO crm_wf_agent;
GRANT SELECT, INSERT ON crm.complaint_event TO crm_wf_agent;
GRANT USAGE ON SEQUENCE crm.complaint_event_id_seq TO crm_wf_agent;
UPDATE crm.workflow_transition SET role = 'crm_wf_supervisor'
 WHERE workflow = 'complaint' AND from_status = 'classified' AND to_status = 'escalated';
SET ROLE crm_wf_agent;
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'classified' WHERE id = 4$$);
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'escalated' WHERE id = 4$$);
RESET ROLE;
SELECT status FROM crm.complaint WHERE id = 4;
GRANT crm_wf_supervisor TO crm_wf_agent;
SET ROLE crm_wf_agent;
SELECT pg_temp.try($$UPDATE crm.complaint SET status = 'escalated' WHERE id = 4$$);
RESET ROLE;
SELECT status FROM crm.complaint WHERE id = 4;
SELECT actor FROM crm.complaint_event WHERE complaint_id = 4 ORDER BY id DESC LIMIT 1;
UPDATE crm.workflow_transition SET role = NULL WHERE workflow = 'complaint';
DROP OWNED BY crm_wf_agent;
DROP ROLE crm_wf_agent;
DROP ROLE crm_wf_supervisor;

-- Escalation: marks breaches once, raises the level, records events.
SELECT complaint_id, status, priority, breach, escalation_level FROM crm.escalate_overdue('2026-02-01 12:00+00');
INSERT INTO crm.complaint (channel, category, subject, created_at)
VALUES ('social', 'food_safety', 'sick after lunch', '2026-02-01 12:00+00');
SELECT * FROM crm.escalate_overdue('2026-02-01 12:29+00');
SELECT * FROM crm.escalate_overdue('2026-02-01 12:45+00');
SELECT * FROM crm.escalate_overdue('2026-02-01 12:45+00');
SELECT * FROM crm.escalate_overdue('2026-02-01 15:00+00');
SELECT count(*) AS second_run FROM crm.escalate_overdue('2026-02-01 15:00+00');
SELECT subject, status, escalation_level FROM crm.complaint ORDER BY id;
SELECT c.subject, e.from_status, e.to_status, e.at, regexp_replace(e.note, '\.\d+', '') AS note
  FROM crm.complaint_event e JOIN crm.complaint c ON c.id = e.complaint_id
 WHERE e.note LIKE 'escalated%' ORDER BY e.id;

-- The board lists open complaints; stats summarise all of them.
SELECT c.subject, b.status, b.priority, paused, response_breached, resolution_breached,
       b.escalation_level, response_left IS NULL AS responded
  FROM crm.complaint_sla_board b JOIN crm.complaint c ON c.id = b.complaint_id ORDER BY b.complaint_id;
SELECT month, category, channel, priority, complaints, responded, resolved, breached,
       breach_rate, mean_first_response, p90_first_response
  FROM crm.complaint_stats WHERE month = '2026-01-01' AND category IN ('delivery_delay', 'billing') AND channel <> 'online' ORDER BY channel, category;

-- The same engine on a user's own table with other column names and its own workflow.
INSERT INTO crm.workflow_transition (workflow, from_status, to_status) VALUES
    ('ticket', NULL, 'new'), ('ticket', 'new', 'open'), ('ticket', 'open', 'done'), ('ticket', 'open', 'on_hold'),
    ('ticket', 'on_hold', 'open');
CREATE TABLE public.ticket_event (complaint_id bigint, from_status text, to_status text, actor text, at timestamptz, note text);
CREATE TABLE public.ticket (
    ticket_no integer PRIMARY KEY, state text, urgency text, opened timestamptz DEFAULT now(),
    answered timestamptz, done_at timestamptz, reply_by timestamptz, fix_by timestamptz,
    hold_since timestamptz, on_hold interval
);
CREATE TRIGGER ticket_guard BEFORE INSERT OR UPDATE ON public.ticket FOR EACH ROW
    EXECUTE FUNCTION crm.workflow_guard('ticket', 'id=ticket_no', 'status=state', 'priority=urgency',
        'created_at=opened', 'first_response_at=answered', 'resolved_at=done_at', 'response_due=reply_by',
        'resolution_due=fix_by', 'paused_at=hold_since', 'paused=on_hold', 'pause_status=on_hold',
        'resolved_status=done', 'events=public.ticket_event', 'notify=none');
INSERT INTO public.ticket (ticket_no, urgency, opened) VALUES (1, 'high', '2026-03-02 10:00+00'), (2, NULL, '2026-03-02 10:00+00');
SELECT * FROM public.ticket ORDER BY ticket_no;
SELECT pg_temp.try($$UPDATE public.ticket SET state = 'done' WHERE ticket_no = 1$$);
UPDATE public.ticket SET state = 'open' WHERE ticket_no = 1;
UPDATE public.ticket SET state = 'done' WHERE ticket_no = 1;
SELECT ticket_no, state, answered IS NOT NULL AS answered, done_at IS NOT NULL AS done FROM public.ticket ORDER BY ticket_no;
SELECT complaint_id, from_status, to_status FROM public.ticket_event ORDER BY complaint_id, from_status NULLS FIRST;
-- A new transition is usable at once (the cached workflow is invalidated).
SELECT pg_temp.try($$UPDATE public.ticket SET state = 'open' WHERE ticket_no = 1$$);
INSERT INTO crm.workflow_transition (workflow, from_status, to_status) VALUES ('ticket', 'done', 'open');
SELECT pg_temp.try($$UPDATE public.ticket SET state = 'open' WHERE ticket_no = 1$$);
DELETE FROM crm.workflow_transition WHERE workflow = 'ticket' AND from_status = 'done';
SELECT pg_temp.try($$UPDATE public.ticket SET state = 'done' WHERE ticket_no = 1$$);
SELECT pg_temp.try($$UPDATE public.ticket SET state = 'open' WHERE ticket_no = 1$$);

-- Events go through the event table's own defaults, constraints and foreign keys.
CREATE TABLE public.tk (id bigint PRIMARY KEY, status text);
CREATE TABLE public.tk_parent (id bigint PRIMARY KEY);
CREATE TABLE public.tk_event (id bigint GENERATED ALWAYS AS IDENTITY, complaint_id bigint REFERENCES public.tk_parent,
    from_status text, to_status text CHECK (to_status <> 'open'), actor text, at timestamptz, note text,
    source text DEFAULT 'engine:' || current_user);
INSERT INTO crm.workflow_transition (workflow, from_status, to_status) VALUES ('tk', NULL, 'new'), ('tk', 'new', 'open');
CREATE TRIGGER g BEFORE INSERT OR UPDATE ON public.tk FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('tk', 'events=public.tk_event');
SELECT pg_temp.try($$INSERT INTO public.tk VALUES (1, NULL)$$);
INSERT INTO public.tk_parent VALUES (1);
INSERT INTO public.tk VALUES (1, NULL);
SELECT pg_temp.try($$UPDATE public.tk SET status = 'open'$$);
SELECT id, complaint_id, from_status, to_status, actor = current_user AS by_me, note, source FROM public.tk_event;
DROP TABLE public.tk, public.tk_event, public.tk_parent;
DELETE FROM crm.workflow_transition WHERE workflow = 'tk';

-- A deferred foreign key from the events to the guarded table, as on
-- crm.complaint_event.  The event of an UPDATE that keeps the row's id is
-- written without the key's check (the row is there and locked), so every
-- way the row could still go away must be caught by the key's other checks.
CREATE TABLE public.fk (id bigint PRIMARY KEY, status text);
CREATE TABLE public.fk_event (id bigint GENERATED ALWAYS AS IDENTITY, complaint_id bigint NOT NULL
    REFERENCES public.fk ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    from_status text, to_status text, actor text, at timestamptz, note text);
INSERT INTO crm.workflow_transition (workflow, from_status, to_status)
VALUES ('fk', NULL, 'new'), ('fk', 'new', 'open'), ('fk', 'open', 'new');
CREATE TRIGGER g BEFORE INSERT OR UPDATE ON public.fk FOR EACH ROW
    EXECUTE FUNCTION crm.workflow_guard('fk', 'events=public.fk_event');
INSERT INTO public.fk VALUES (1, NULL);
UPDATE public.fk SET status = 'open' WHERE id = 1;
-- Row 2 comes in without events (trigger off), so its only event will be the UPDATE's.
ALTER TABLE public.fk DISABLE TRIGGER g;
INSERT INTO public.fk VALUES (2, 'new');
ALTER TABLE public.fk ENABLE TRIGGER g;
-- Triggers named after g run after the engine: one moves the row to another id,
-- one drops new rows with id 3.
CREATE FUNCTION public.fk_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN NEW.id := NEW.id + 100; RETURN NEW; END IF;
    RETURN CASE WHEN NEW.id = 3 THEN NULL ELSE NEW END;
END $$;
CREATE TRIGGER h BEFORE INSERT OR UPDATE ON public.fk FOR EACH ROW EXECUTE FUNCTION public.fk_move();
-- The UPDATE's event names id 2, and the row moves to 102: caught at commit.
BEGIN;
UPDATE public.fk SET status = 'open' WHERE id = 2;
SELECT id, status FROM public.fk ORDER BY id;
COMMIT;
-- An INSERT whose row is dropped after its event was written: caught at commit.
BEGIN;
INSERT INTO public.fk VALUES (3, NULL);
SELECT count(*) AS rows_with_id_3 FROM public.fk WHERE id = 3;
COMMIT;
-- Nothing of either transaction is left.
SELECT id, status FROM public.fk ORDER BY id;
SELECT complaint_id, from_status, to_status FROM public.fk_event ORDER BY id;
-- Without the extra trigger, an UPDATE's event commits, and deleting the row removes its events.
DROP TRIGGER h ON public.fk;
UPDATE public.fk SET status = 'new' WHERE id = 1;
SELECT complaint_id, from_status, to_status FROM public.fk_event ORDER BY id;
DELETE FROM public.fk WHERE id = 1;
SELECT count(*) AS events_left FROM public.fk_event;
DROP TABLE public.fk_event, public.fk;
DROP FUNCTION public.fk_move();
DELETE FROM crm.workflow_transition WHERE workflow = 'fk';

-- Misconfigured triggers are clear errors.
CREATE TABLE public.t2 (id bigint, state text);
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard();
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('ticket');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('ticket', 'status=state', 'colour=red');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('ticket', 'status=state', 'events=none', 'created_at=id');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('nosuch', 'status=state', 'events=none');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g AFTER INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('ticket', 'status=state', 'events=none');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TRIGGER g ON public.t2;
CREATE TRIGGER g BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('ticket', 'status=state', 'events=public.nosuch');
SELECT pg_temp.try($$INSERT INTO public.t2 VALUES (1, 'new')$$);
DROP TABLE public.t2, public.ticket, public.ticket_event;
DELETE FROM crm.workflow_transition WHERE workflow = 'ticket';
