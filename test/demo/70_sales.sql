-- Tour stop: sales, marketing and service.  A lead assigned by the rules and
-- converted, the funnel, a campaign's results, and today's care list.
SET search_path = crm, public;
SET timezone = 'Asia/Shanghai';
\pset null '-'
SET client_min_messages = warning;

-- The sales force: the twelve staff members who own the demo customers, in
-- two regional teams; one of them has left.
INSERT INTO team (name, region) VALUES ('sales_east', 'east'), ('sales_south', 'south'), ('sales_other', NULL)
    ON CONFLICT DO NOTHING;
INSERT INTO staff (login, display_name, team, region, active)
SELECT 'staff_' || i, 'Staff ' || i,
       CASE WHEN i <= 4 THEN 'sales_east' WHEN i <= 8 THEN 'sales_south' ELSE 'sales_other' END,
       CASE WHEN i <= 4 THEN 'east' WHEN i <= 8 THEN 'south' END,
       i <> 3
  FROM generate_series(1, 12) i
    ON CONFLICT DO NOTHING;
RESET client_min_messages;

\echo
\echo '== Sales: one lead pool, assignment rules, first contact within 15 business minutes'
SELECT crm.define_calendar('sales_hours', 'Asia/Shanghai', 'mon-sun 09:00-21:00') AS calendar;
UPDATE lead_grade SET calendar = 'sales_hours';
INSERT INTO lead_assignment_rule (name, rank, channel, method, staff) VALUES ('agent leads to staff_9', 10, 'agent', 'staff', 'staff_9');
INSERT INTO lead_assignment_rule (name, rank, region, method, team) VALUES
    ('east in turn', 20, 'east', 'round_robin', 'sales_east'),
    ('south by load', 30, 'south', 'least_loaded', 'sales_south'),
    ('everyone else', 90, NULL, 'round_robin', 'sales_other');
SELECT name, rank, coalesce(channel, '*') AS channel, coalesce(region, '*') AS region, method, coalesce(team, staff) AS to_whom
  FROM lead_assignment_rule ORDER BY rank;
\echo '-- 40 leads arrive from every channel over the last week (staff_3 has left: never chosen)'
INSERT INTO lead (source_channel, name, phone, region, city, grade, interest, estimated_value, tags, created_at, assigned_at)
SELECT (ARRAY['online', 'app', 'mini_program', 'phone', 'agent', 'social'])[1 + i % 6],
       'Prospect ' || i,
       ('+86 137' || lpad((i * 7331 % 100000000)::text, 8, '0'))::phone,
       (ARRAY['east', 'south', 'north', 'east', 'south'])[1 + i % 5],
       (ARRAY['Shanghai', 'Guangzhou', 'Beijing', 'Hangzhou', 'Shenzhen'])[1 + i % 5],
       (ARRAY['A', 'B', 'B', 'C'])[1 + i % 4],
       (ARRAY['office tea delivery', 'franchise enquiry', 'event catering', 'corporate gift cards'])[1 + i % 4],
       500 + (i * 379 % 20) * 250,
       CASE WHEN i % 4 = 0 THEN '{high_intent}'::tagset ELSE '{}' END,
       date_trunc('minute', now() - (i * 4 + 1) * interval '1 hour'),
       date_trunc('minute', now() - (i * 4 + 1) * interval '1 hour')
  FROM generate_series(1, 40) i;
SELECT owner, count(*) AS leads, string_agg(DISTINCT region, ',') AS regions, string_agg(DISTINCT source_channel, ',') AS channels
  FROM lead GROUP BY owner ORDER BY owner;
\echo '-- most leads are called within minutes, some too late'
UPDATE lead SET status = 'contacted',
                first_contact_at = crm.business_add(assigned_at, (id * 7 % 25) * interval '1 minute', 'sales_hours')
 WHERE id % 5 <> 0;
SELECT owner, leads, contacted, on_time, breached, on_time_rate, mean_time_to_contact
  FROM (SELECT owner, sum(leads) AS leads, sum(contacted) AS contacted, sum(on_time) AS on_time, sum(breached) AS breached,
               round(sum(on_time) / nullif(sum(contacted), 0), 2) AS on_time_rate,
               justify_hours(avg(mean_time_to_contact)) AS mean_time_to_contact
          FROM lead_first_contact_summary GROUP BY owner) s
 ORDER BY owner;

\echo
\echo '-- lead 4 qualifies and becomes a customer and an opportunity in one call'
UPDATE lead SET status = 'qualified', status_note = 'budget confirmed' WHERE id = 4;
SELECT * FROM convert_lead(4) \gset demo_
SELECT id AS customer_id, name, phone, city, owner, tags FROM customer WHERE id = :demo_customer_id;
SELECT id AS opportunity_id, name, owner, channel, stage, probability, amount FROM opportunity WHERE id = :demo_opportunity_id;
SELECT from_status, to_status, actor = current_user AS by_me, note FROM lead_event WHERE lead_id = 4 ORDER BY id;

\echo
\echo '-- more leads convert; the deals move through the funnel (the workflow engine guards each move)'
SELECT count(*) AS converted FROM (SELECT convert_lead(id) FROM lead WHERE status = 'contacted' AND id % 3 = 0) c;
UPDATE opportunity SET stage = 'proposal' WHERE id % 4 <> 0;
UPDATE opportunity SET stage = 'negotiation' WHERE stage = 'proposal' AND id % 3 <> 0;
UPDATE opportunity SET stage = 'won', cost = round(amount * 0.55, 2) WHERE stage = 'negotiation' AND id % 2 = 0;
UPDATE opportunity SET stage = 'lost', lost_reason = 'price' WHERE stage = 'proposal' AND id % 5 = 0;
UPDATE opportunity SET stage = 'won', cost = round(amount * 0.6, 2) WHERE stage = 'proposal' AND id % 7 = 1;
SELECT * FROM opportunity_funnel ORDER BY stage_rank;
SELECT owner, stage, opportunities, amount, weighted_amount FROM sales_pipeline ORDER BY owner, stage_rank;
INSERT INTO sales_target (staff, period, period_start, revenue_target, deals_target)
SELECT DISTINCT owner, 'month', date_trunc('month', now())::date, 5000, 2 FROM opportunity;
SELECT staff, deals, deals_target, revenue, revenue_target, revenue_attainment, average_order_value, gross_margin_rate, commission
  FROM sales_attainment ORDER BY revenue DESC, staff;
SELECT channel, sum(opportunities) AS opportunities, sum(won) AS won, sum(revenue) AS revenue
  FROM channel_performance GROUP BY channel ORDER BY channel;

\echo
\echo '== Marketing: a coupon campaign for Champions and Loyal Customers, with a 20% control group'
INSERT INTO campaign (name, kind, channel, starts_at, ends_at, budget, cost, offer)
VALUES ('Autumn oolong coupon', 'coupon', 'mini_program', date_trunc('day', now()) - interval '60 days',
        date_trunc('day', now()) - interval '30 days', 3000, 2400, '{"amount_off": 5}')
RETURNING id AS campaign_id \gset
SELECT campaign_add_members(:campaign_id,
        'SELECT * FROM crm.customer_segment(rfm_segments => ''{Champions,Loyal Customers}'')', 0.2) AS members_added;
INSERT INTO coupon (code, campaign_id, customer_id, value, issued_at, expires_at)
SELECT 'AUT-' || m.customer_id, :campaign_id, m.customer_id, 5, c.starts_at, c.ends_at
  FROM campaign_member m JOIN campaign c ON c.id = m.campaign_id
 WHERE m.campaign_id = :campaign_id AND m.grp = 'target';
-- Redemptions: the coupon was used on the first purchase of the period, where there was one.
INSERT INTO coupon_redemption (coupon_code, customer_id, purchase_id, redeemed_at)
SELECT k.code, k.customer_id, p.id, p.purchased_at
  FROM coupon k
  CROSS JOIN LATERAL (SELECT id, purchased_at FROM purchase
                       WHERE customer_id = k.customer_id AND purchased_at >= k.issued_at AND purchased_at < k.expires_at
                       ORDER BY purchased_at LIMIT 1) p
 WHERE k.campaign_id = :campaign_id AND k.customer_id % 3 <> 0;
INSERT INTO touchpoint (customer_id, campaign_id, channel, occurred_at)
SELECT m.customer_id, :campaign_id, ch, c.starts_at + (m.customer_id % 20 + n) * interval '1 day'
  FROM campaign_member m JOIN campaign c ON c.id = m.campaign_id,
       LATERAL (VALUES ('push', 0), ('mini_program_banner', 2), ('sms', 5)) t(ch, n)
 WHERE m.campaign_id = :campaign_id AND m.grp = 'target' AND (m.customer_id + n) % 4 <> 0;
SELECT name, reach, control_members, conversions, conversion_rate, control_conversion_rate, coupons_issued, redemptions,
       redemption_rate, revenue_before, revenue_during, revenue_after, cost_per_conversion
  FROM campaign_results WHERE campaign_id = :campaign_id;
\echo '-- journeys for channel attribution (path, conversions, nulls, value)'
SELECT path, conversions, nulls, value FROM attribution_journey ORDER BY conversions DESC, path LIMIT 6;

\echo
\echo '== Service: loyalty points that never go negative'
SELECT earn_points(:demo_customer_id, 120, 'welcome bonus') AS balance;
SELECT redeem_points(:demo_customer_id, 100, 'free drink') AS balance;
\set ON_ERROR_STOP 0
SELECT redeem_points(:demo_customer_id, 100, 'another free drink');
\set ON_ERROR_STOP 1

\echo
\echo '== Service: today''s care list (birthdays, revisits by tier, complaint follow-ups)'
SELECT kind, plan, channel, count(*) AS customers, max(days_overdue) AS most_overdue_days
  FROM care_due GROUP BY kind, plan, channel ORDER BY kind, plan, channel;
SELECT customer_id, name, tier, plan, due_on, days_overdue, channel, contact
  FROM care_due ORDER BY days_overdue DESC, customer_id LIMIT 8;
\echo '-- a call made from the list is recorded and the task leaves it'
INSERT INTO care_contact (customer_id, plan, due_on, complaint_id, channel, outcome, note)
SELECT customer_id, plan, due_on, complaint_id, channel, 'reached', 'happy with the new menu'
  FROM care_due ORDER BY days_overdue DESC, customer_id LIMIT 1
RETURNING customer_id, plan, due_on, outcome;

\echo
\echo '== Customer 360: everything about one customer in one row'
-- CLV scores of the real history (the CLV stop above rolled its what-if back).
SELECT refresh_clv(model => 'bgnbd', churn_threshold => 0.5) AS scored \gset
\x on
SELECT * FROM customer_360 WHERE customer_id = (SELECT customer_id FROM customer_rfm_score WHERE segment = 'Champions' ORDER BY monetary DESC LIMIT 1);
\x off
