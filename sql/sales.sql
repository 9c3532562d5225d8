-- Sales: lead pool and assignment, first-contact SLA, conversion, opportunities,
-- funnel and pipeline, targets, attainment, commission, channel performance
SET search_path = crm, public;
-- A fresh extension: this test counts rows and uses fixed ids.
SET client_min_messages = warning;
DROP EXTENSION crm CASCADE;
CREATE EXTENSION crm;
RESET client_min_messages;
SET timezone = 'Asia/Shanghai';
\pset null '-'

INSERT INTO team (name, region) VALUES ('north', 'north'), ('south', 'south'), ('key_accounts', NULL);
INSERT INTO staff (login, display_name, team, region, active) VALUES
    ('ann', 'Ann', 'north', 'north', true),
    ('bob', 'Bob', 'north', 'north', true),
    ('cat', 'Cat', 'north', 'north', false),      -- inactive: never chosen
    ('dan', 'Dan', 'north', 'east', true),
    ('eve', 'Eve', 'south', 'south', true),
    ('fay', 'Fay', 'south', 'south', true),
    ('kim', 'Kim', 'key_accounts', NULL, true),
    ('old', 'Old', 'key_accounts', NULL, false);

-- No rule yet: leads wait in the pool.
INSERT INTO lead (source_channel, name, phone, region) VALUES ('online', 'Pool One', '+86 138 0000 1001', 'north');
SELECT id, owner, status, assigned_at, first_contact_due FROM lead;

-- Rules: agent leads to one person; the south team by load; the north team in turn, same region only.
INSERT INTO lead_assignment_rule (name, rank, channel, method, staff) VALUES ('agents to kim', 10, 'agent', 'staff', 'kim');
INSERT INTO lead_assignment_rule (name, rank, region, method, team) VALUES ('south by load', 20, 'south', 'least_loaded', 'south');
INSERT INTO lead_assignment_rule (name, rank, method, team, same_region) VALUES ('north in turn', 30, 'round_robin', 'north', true);
-- A rule naming an inactive person is skipped.
INSERT INTO lead_assignment_rule (name, rank, channel, method, staff) VALUES ('phone to old', 5, 'phone', 'staff', 'old');
-- Bad rules are refused by their constraints.
\set VERBOSITY terse
INSERT INTO lead_assignment_rule (name, method, team) VALUES ('no staff', 'staff', 'north');
INSERT INTO lead_assignment_rule (name, method) VALUES ('no team', 'round_robin');
\set VERBOSITY default

-- assign_leads() empties the pool.
SELECT * FROM assign_leads();
SELECT * FROM assign_leads();

-- On insert: north leads take turns after ann (who got the pool lead): bob, ann, bob...
-- (cat is inactive, dan works in another region).
INSERT INTO lead (source_channel, name, region) SELECT 'online', 'North ' || i, 'north' FROM generate_series(1, 5) i;
SELECT name, owner, assignment_rule IS NOT NULL AS by_rule FROM lead WHERE name LIKE 'North%' ORDER BY id;
-- The log numbers each rule's assignments; its last row is the rule's position.
SELECT r.name, g.seq, g.owner, l.name AS lead FROM lead_assignment_log g JOIN lead_assignment_rule r ON r.id = g.rule_id
  LEFT JOIN lead l ON l.id = g.lead_id ORDER BY g.rule_id, g.seq;
-- Agent leads go to kim whatever the region; a phone lead skips the rule of the inactive person.
INSERT INTO lead (source_channel, name, region) VALUES ('agent', 'Agent Lead', 'north'), ('phone', 'Phone Lead', 'north');
SELECT name, owner FROM lead WHERE name IN ('Agent Lead', 'Phone Lead') ORDER BY id;
-- South: least loaded first (ties in turn); eve gets a head start of two open leads.
INSERT INTO lead (source_channel, name, region, owner) VALUES ('store', 'Eve 1', 'south', 'eve'), ('store', 'Eve 2', 'south', 'eve');
INSERT INTO lead (source_channel, name, region) SELECT 'store', 'South ' || i, 'south' FROM generate_series(1, 4) i;
SELECT name, owner, assignment_rule FROM lead WHERE region = 'south' ORDER BY id;
-- A lead no rule matches stays in the pool.
INSERT INTO lead (source_channel, name, region) VALUES ('online', 'Nowhere', 'west');
SELECT owner, assigned_at, first_contact_due FROM lead WHERE name = 'Nowhere';

-- The assignment is an event of the lead's workflow.
SELECT e.from_status, e.to_status, e.note FROM lead_event e JOIN lead l ON l.id = e.lead_id
 WHERE l.name = 'North 1' ORDER BY e.id;

-- First contact: 15 minutes of business time after assignment.
SELECT crm.define_calendar('sales_desk', 'Asia/Shanghai', 'mon-fri 09:00-18:00') AS calendar;
UPDATE lead_grade SET calendar = 'sales_desk' WHERE grade = 'A';
-- Assigned on Friday 17:55: 5 minutes on Friday, 10 on Monday morning.
INSERT INTO lead (source_channel, name, region, grade, owner, assigned_at, created_at)
VALUES ('online', 'Friday Lead', 'north', 'A', 'bob', '2026-03-06 17:55+08', '2026-03-06 17:50+08');
SELECT assigned_at, first_contact_due FROM lead WHERE name = 'Friday Lead';
-- Grade C counts clock time.
INSERT INTO lead (source_channel, name, region, grade, owner, assigned_at, created_at)
VALUES ('online', 'Night Lead', 'north', 'C', 'ann', '2026-03-06 23:50+08', '2026-03-06 23:50+08');
SELECT assigned_at, first_contact_due FROM lead WHERE name = 'Night Lead';
-- Contact on Monday 09:05: on time; the other one on Saturday 00:20: late.
UPDATE lead SET status = 'contacted', first_contact_at = '2026-03-09 09:05+08' WHERE name = 'Friday Lead';
UPDATE lead SET status = 'contacted', first_contact_at = '2026-03-07 00:20+08' WHERE name = 'Night Lead';
SELECT l.name, f.time_to_contact, f.met, f.breached
  FROM lead_first_contact f JOIN lead l ON l.id = f.lead_id
 WHERE l.name IN ('Friday Lead', 'Night Lead') ORDER BY l.id;
-- Reassigning restarts the clock; changing the grade moves the deadline.
UPDATE lead SET owner = 'dan', assigned_at = '2026-03-10 10:00+08' WHERE name = 'Night Lead';
UPDATE lead SET grade = 'A' WHERE name = 'Night Lead';
SELECT owner, assignment_rule, assigned_at, first_contact_due FROM lead WHERE name = 'Night Lead';
SELECT owner, month, leads, contacted, on_time, breached, on_time_rate
  FROM lead_first_contact_summary WHERE owner = 'bob' AND month = '2026-03-01';

-- Status moves are guarded by the workflow engine; the first contact is stamped.
UPDATE lead SET status = 'converted' WHERE name = 'Pool One';
SELECT status, first_contact_at IS NOT NULL AS contacted, closed_at IS NOT NULL AS closed FROM lead WHERE name = 'Pool One';
UPDATE lead SET status = 'contacted' WHERE name = 'Pool One';
UPDATE lead SET status = 'disqualified', status_note = 'spam' WHERE name = 'Nowhere';
SELECT status, first_contact_at, closed_at IS NOT NULL AS closed FROM lead WHERE name = 'Nowhere';
INSERT INTO lead (source_channel, name, status) VALUES ('online', 'Bad Start', 'qualified');

-- Conversion: a new customer and a qualified opportunity in one call.
INSERT INTO lead (source_channel, name, email, phone, region, city, interest, estimated_value, tags)
VALUES ('online', 'Liu Yang', 'Liu.Yang@Example.com', '+86 139 1234 5678', 'north', 'Beijing', 'office tea service', 12000, '{high_intent}');
SELECT * FROM convert_lead((SELECT id FROM lead WHERE name = 'Liu Yang')) \gset conv_
SELECT c.name, c.email, c.phone, c.city, c.owner, c.tags FROM customer c WHERE c.id = :conv_customer_id;
SELECT o.name, o.customer_id = :conv_customer_id AS same_customer, o.owner, o.channel, o.stage, o.probability, o.amount,
       o.lead_id = l.id AS from_lead
  FROM opportunity o, lead l WHERE o.id = :conv_opportunity_id AND l.name = 'Liu Yang';
SELECT status, customer_id = :conv_customer_id AS customer_set, opportunity_id = :conv_opportunity_id AS opportunity_set,
       closed_at IS NOT NULL AS closed
  FROM lead WHERE name = 'Liu Yang';
SELECT e.from_status, e.to_status, e.note FROM lead_event e JOIN lead l ON l.id = e.lead_id
 WHERE l.name = 'Liu Yang' AND e.from_status IS DISTINCT FROM e.to_status ORDER BY e.id;
-- The same person again (same phone, other spelling): the existing customer is used.
INSERT INTO lead (source_channel, name, phone, region) VALUES ('agent', 'Yang Liu', '+8613912345678', 'north');
SELECT * FROM convert_lead((SELECT id FROM lead WHERE name = 'Yang Liu'), 'second site', 800) \gset conv2_
SELECT :conv2_customer_id = :conv_customer_id AS existing_customer, name, channel, amount, owner
  FROM opportunity WHERE id = :conv2_opportunity_id;
SELECT count(*) AS customers_named_liu FROM customer WHERE name IN ('Liu Yang', 'Yang Liu');
-- Errors leave everything as it was.
SELECT * FROM convert_lead((SELECT id FROM lead WHERE name = 'Liu Yang'));
SELECT * FROM convert_lead((SELECT id FROM lead WHERE name = 'Nowhere'));
SELECT * FROM convert_lead(999999);
SELECT * FROM convert_lead(NULL);
SELECT * FROM convert_lead((SELECT id FROM lead WHERE name = 'North 1'), customer => 999999);
SELECT count(*) AS opportunities FROM opportunity;

-- Opportunities: stage moves, probabilities, closing.
INSERT INTO customer (id, name) OVERRIDING SYSTEM VALUE VALUES (901, 'Acme Tea Shops'), (902, 'Beta Cafe');
INSERT INTO opportunity (id, name, customer_id, owner, channel, partner, stage, amount, cost, expected_close, created_at) OVERRIDING SYSTEM VALUE VALUES
    (101, 'o101', 901, 'ann', 'direct',      NULL,       'lead',      1000, 600, '2026-04-15', '2026-03-01 10:00+08'),
    (102, 'o102', 901, 'ann', 'direct',      NULL,       'qualified', 2000, 1500, '2026-04-20', '2026-03-02 10:00+08'),
    (103, 'o103', 902, 'bob', 'agent',       'Agent Li', 'lead',      3000, NULL, '2026-05-01', '2026-03-03 10:00+08'),
    (104, 'o104', 902, 'bob', 'distributor', 'Dist Co',  'qualified', 4000, 2000, NULL, '2026-03-04 10:00+08'),
    (105, 'o105', 901, 'dan', 'direct',      NULL,       'qualified', 5000, 3000, '2026-04-30', '2026-03-05 10:00+08');
SELECT id, stage, probability, stage_changed_at, closed_at FROM opportunity WHERE id BETWEEN 101 AND 105 ORDER BY id;
-- Not allowed: skipping to won, or starting in proposal; the hint lists the allowed moves.
UPDATE opportunity SET stage = 'won' WHERE id = 101;
INSERT INTO opportunity (name, customer_id, stage) VALUES ('x', 901, 'proposal');
-- An explicit probability is kept; a stage move without one takes the stage's default.
UPDATE opportunity SET stage = 'qualified', probability = 0.3 WHERE id = 101;
UPDATE opportunity SET stage = 'proposal', stage_changed_at = '2026-03-10 10:00+08' WHERE id IN (101, 102, 104);
UPDATE opportunity SET stage = 'negotiation' WHERE id = 104;
UPDATE opportunity SET stage = 'won', closed_at = '2026-03-20 10:00+08' WHERE id = 101;
UPDATE opportunity SET stage = 'won', closed_at = '2026-03-25 10:00+08' WHERE id = 104;
UPDATE opportunity SET stage = 'lost', lost_reason = 'price', closed_at = '2026-03-26 10:00+08' WHERE id = 103;
UPDATE opportunity SET stage = 'won', closed_at = '2026-04-02 10:00+08' WHERE id = 102;
SELECT id, stage, probability, closed_at FROM opportunity WHERE id BETWEEN 101 AND 105 ORDER BY id;
UPDATE opportunity SET stage = 'proposal' WHERE id = 101;
-- Reopening a lost deal clears closed_at.
UPDATE opportunity SET stage = 'qualified' WHERE id = 103;
SELECT stage, probability, closed_at FROM opportunity WHERE id = 103;
UPDATE opportunity SET stage = 'lost', closed_at = '2026-03-26 10:00+08' WHERE id = 103;
SELECT o.id, e.from_status, e.to_status FROM opportunity_event e JOIN opportunity o ON o.id = e.opportunity_id
 WHERE o.id = 103 AND e.from_status IS DISTINCT FROM e.to_status ORDER BY e.id;

-- Weighted pipeline (open deals: 105 qualified 5000 at 0.20 plus the converted leads' deals).
SELECT owner, stage, expected_month, opportunities, amount, weighted_amount
  FROM sales_pipeline ORDER BY owner, stage_rank;
-- Funnel: furthest stage reached, from the stage history.
-- 101 won, 102 won, 104 won (via negotiation), 103 lost after qualified, 105 and two converted deals qualified:
-- 7 reached lead and qualified (one lost there), 3 reached proposal and beyond.
SELECT * FROM opportunity_funnel ORDER BY stage_rank;
-- The funnel aggregate over each open or won opportunity's furthest stage gives the same
-- reached counts as the view (lost ones count at the furthest stage they reached before).
SELECT f.key AS stage, (f.value ->> 'reached')::int AS reached
  FROM jsonb_array_elements((
        SELECT funnel(r.stage, ARRAY['lead', 'qualified', 'proposal', 'negotiation', 'won'])
          FROM (SELECT (SELECT s.stage FROM opportunity_stage s
                         WHERE s.rank = greatest(CASE WHEN NOT (cs.is_closed AND NOT cs.is_won) THEN cs.rank END,
                                                 (SELECT max(es.rank) FROM opportunity_event e
                                                    JOIN opportunity_stage es ON es.stage = e.to_status
                                                   WHERE e.opportunity_id = o.id AND NOT (es.is_closed AND NOT es.is_won)))
                           AND NOT (s.is_closed AND NOT s.is_won)) AS stage
                  FROM opportunity o JOIN opportunity_stage cs ON cs.stage = o.stage) r)) AS e(value),
       LATERAL (SELECT e.value ->> 'stage' AS key, e.value) f
 ORDER BY (SELECT rank FROM opportunity_stage WHERE stage = f.key);

-- Commission: 3% base plus 2% on revenue between 100% and 120% of target and 4% above.
SELECT commission(80000, 100000, 'standard') AS below,         -- 2400
       commission(110000, 100000, 'standard') AS bracket_one,  -- 3300 + 200
       commission(150000, 100000, 'standard') AS bracket_two,  -- 4500 + 400 + 1200
       commission(150000, 100000, 0.05) AS flat,                -- 7500
       commission(NULL, 100000, 'standard') AS no_revenue;
SELECT commission(100, 100, 0.03, '{1.2,1.0}', '{0.01,0.02}');
SELECT commission(100, 100, 0.03, '{1.0}', '{0.01,0.02}');
SELECT commission(100, 100, -0.03);
SELECT commission(100, 0, 0.03, '{1.0}', '{0.01}');
SELECT commission(100, 100, 'nope');

-- Targets and attainment: March 2026 for ann and for the north team, Q1 for bob.
INSERT INTO sales_target (staff, period, period_start, revenue_target, deals_target, margin_target) VALUES
    ('ann', 'month', '2026-03-01', 800, 2, 300),
    ('bob', 'quarter', '2026-01-01', 3000, 1, NULL);
INSERT INTO sales_target (team, period, period_start, revenue_target, deals_target) VALUES ('north', 'month', '2026-03-01', 10000, 3);
\set VERBOSITY terse
INSERT INTO sales_target (staff, team, period, period_start) VALUES ('ann', 'north', 'month', '2026-04-01');
INSERT INTO sales_target (staff, period, period_start) VALUES ('ann', 'month', '2026-04-02');
INSERT INTO sales_target (staff, period, period_start) VALUES ('ann', 'quarter', '2026-02-01');
INSERT INTO sales_target (staff, period, period_start) VALUES ('ann', 'month', '2026-03-01');
\set VERBOSITY default
-- ann: 101 won in March (1000, cost 600); 102 won in April does not count.
-- bob: 104 won in March (4000, cost 2000), within Q1.  north (ann, bob, cat, dan): 101 and 104.
SELECT staff, team, period, period_start, period_end, deals, deals_target, revenue, revenue_target,
       revenue_attainment, average_order_value, gross_margin, gross_margin_rate, commission
  FROM sales_attainment ORDER BY target_id;

-- Channel performance per month of closing (open deals: month opened).
SELECT channel, month, opportunities, won, lost, win_rate, revenue, gross_margin, average_deal, average_days_to_win, weighted_pipeline
  FROM channel_performance WHERE month < '2026-06-01' ORDER BY channel, month;
