-- Service and care: care plans, today's care list, contact records, loyalty
-- points, customer 360, and merging customers that have rows in all of them
SET search_path = crm, public;
-- A fresh extension: this test counts rows and uses fixed ids.
SET client_min_messages = warning;
DROP EXTENSION crm CASCADE;
CREATE EXTENSION crm;
RESET client_min_messages;
SET timezone = 'Asia/Shanghai';
\pset null '-'

SELECT name, kind, channel, tier, cadence, delay, days_before FROM care_plan ORDER BY name;
\set VERBOSITY terse
INSERT INTO care_plan (name, kind, channel) VALUES ('bad revisit', 'revisit', 'phone');
INSERT INTO care_plan (name, kind, channel) VALUES ('bad holiday', 'holiday', 'phone');
\set VERBOSITY default
-- A holiday greeting for diamond customers, shown three days ahead.
INSERT INTO care_plan (name, kind, channel, tier, on_date, days_before, message)
VALUES ('holiday_diamond', 'holiday', 'email', 'diamond', current_date + 2, 3, 'holiday greeting');

-- Customers, all dates relative to today (birthdays of 1992, a leap year, so 29 February works too).
INSERT INTO customer (id, name, phone, email, tier, birth_date, created_at) OVERRIDING SYSTEM VALUE VALUES
    (1, 'Birthday Today',   '+86 138 0000 0001', NULL, 'bronze',  make_date(1992, extract(month FROM current_date)::int, extract(day FROM current_date)::int), now() - interval '10 days'),
    (2, 'Birthday Soon',    '+86 138 0000 0002', NULL, 'iron',    anniversary(current_date + 3, 1992), now()),
    (3, 'Birthday Past',    '+86 138 0000 0003', NULL, 'iron',    anniversary(current_date - 1, 1992), now()),
    (4, 'Diamond Due',      '+86 138 0000 0004', 'd4@example.com', 'diamond', NULL, now() - interval '40 days'),
    (5, 'Silver Not Yet',   '+86 138 0000 0005', NULL, 'silver',  NULL, now() - interval '10 days'),
    (6, 'Bronze Due',       '+86 138 0000 0006', NULL, 'bronze',  NULL, now() - interval '100 days'),
    (7, 'Diamond No Phone', NULL, 'd7@example.com', 'diamond', NULL, now() - interval '31 days'),
    (8, 'Complained',       '+86 138 0000 0008', NULL, 'iron',    NULL, now());
-- Customer 8's complaint was closed three days ago: the follow-up (two days later) is a day overdue.
INSERT INTO complaint (id, customer_id, channel, category, subject) OVERRIDING SYSTEM VALUE VALUES (50, 8, 'phone', 'service', 'rude staff');
UPDATE complaint SET status = 'classified' WHERE id = 50;
UPDATE complaint SET status = 'investigating' WHERE id = 50;
UPDATE complaint SET status = 'resolved' WHERE id = 50;
UPDATE complaint SET status = 'closed', customer_confirmed = true, closed_at = now() - interval '3 days' WHERE id = 50;

-- Today's care list.
SELECT customer_id, name, plan, kind, due_on - current_date AS due_in_days, days_overdue, channel, contact, complaint_id
  FROM care_due ORDER BY customer_id, plan;
-- The schedule has the tasks still to come too.
SELECT customer_id, plan, due_on - current_date AS due_in_days, shown_from - current_date AS shown_in_days
  FROM care_schedule WHERE customer_id IN (2, 5) ORDER BY customer_id, plan;
-- Yesterday's birthday is next due next year.
SELECT due_on = anniversary(current_date - 1, extract(year FROM current_date)::int + 1) AS past_birthday_next_year
  FROM care_schedule WHERE customer_id = 3 AND plan = 'birthday';
SELECT anniversary('1992-02-29', 2027) AS common_year, anniversary('1992-02-29', 2028) AS leap_year, anniversary('1990-12-31', 2026) AS plain;

-- Recording the contacts closes the tasks; the next revisit is a cadence after the last contact (of any plan).
INSERT INTO care_contact (customer_id, plan, due_on, complaint_id, channel, outcome, note)
SELECT customer_id, plan, due_on, complaint_id, channel, 'reached', 'done from the list' FROM care_due WHERE customer_id IN (1, 4, 8);
SELECT customer_id, plan, complaint_id, staff = current_user AS by_me FROM care_contact ORDER BY id;
SELECT customer_id, plan FROM care_due ORDER BY customer_id, plan;
SELECT customer_id, plan, CASE WHEN plan = 'birthday' THEN due_on = anniversary(current_date, extract(year FROM current_date)::int + 1) END AS birthday_next_year,
       CASE WHEN plan <> 'birthday' THEN due_on - current_date END AS due_in_days
  FROM care_schedule WHERE customer_id IN (1, 4, 8) ORDER BY customer_id, plan;
-- A follow-up recorded with its due date but without the complaint id closes the task too.
INSERT INTO complaint (id, customer_id, channel, category, subject) OVERRIDING SYSTEM VALUE VALUES (51, 8, 'phone', 'service', 'cold tea');
UPDATE complaint SET status = 'classified' WHERE id = 51;
UPDATE complaint SET status = 'investigating' WHERE id = 51;
UPDATE complaint SET status = 'resolved' WHERE id = 51;
UPDATE complaint SET status = 'closed', customer_confirmed = true, closed_at = now() - interval '5 days' WHERE id = 51;
SELECT plan, complaint_id, due_on - current_date AS due_in_days FROM care_due WHERE customer_id = 8;
INSERT INTO care_contact (customer_id, plan, due_on, channel) VALUES (8, 'complaint_followup', current_date - 3, 'phone');
SELECT count(*) AS followups_due FROM care_due WHERE customer_id = 8;
-- An inactive plan produces nothing.
UPDATE care_plan SET active = false WHERE name = 'revisit_bronze';
SELECT count(*) AS bronze_revisits FROM care_due WHERE plan = 'revisit_bronze';
UPDATE care_plan SET active = true WHERE name = 'revisit_bronze';
-- A call logged as an interaction counts as a contact too: the next revisit is a cadence after it.
INSERT INTO interaction (customer_id, occurred_at, channel, kind, staff) VALUES (6, now() - interval '5 days', 'phone', 'call', 'ann');
SELECT plan, due_on - current_date AS due_in_days FROM care_schedule WHERE customer_id = 6;

-- Loyalty points: earn, redeem, never negative.
SELECT earn_points(4, 100, 'welcome') AS balance;
SELECT redeem_points(4, 30, 'free drink') AS balance;
SELECT redeem_points(4, 71, 'too much');
SELECT redeem_points(5, 1);
SELECT earn_points(4, 0);
SELECT redeem_points(4, -5);
\set VERBOSITY terse
INSERT INTO loyalty_ledger (customer_id, points, kind) VALUES (4, 5, 'redeem');
\set VERBOSITY default
INSERT INTO loyalty_ledger (customer_id, points, kind, reason) VALUES (4, -70, 'expire', 'year end');
INSERT INTO loyalty_ledger (customer_id, points, kind, reason) VALUES (4, 20, 'adjust', 'goodwill');
SELECT customer_id, points, kind, reason, balance_after FROM loyalty_ledger ORDER BY id;
SELECT customer_id, balance, earned, redeemed FROM loyalty_account ORDER BY customer_id;

-- Customer 360: one row per customer.
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES
    (4, now() - interval '200 days', 'store', 'tea', 30),
    (4, now() - interval '20 days', 'app', 'tea', 12.5);
INSERT INTO customer_rfm_score (customer_id, recency_days, frequency, monetary, r, f, m, rfm, segment, as_of)
VALUES (4, 20, 2, 42.5, 4, 3, 3, '433', 'Loyal Customers', now());
INSERT INTO survey_response (customer_id, nps_score, responded_at) VALUES
    (4, 6, now() - interval '30 days'), (4, 9, now() - interval '5 days'), (4, NULL, now());
INSERT INTO customer_clv (customer_id, p_alive, expected_purchases_90d, expected_spend, clv, churn_risk, scored_at)
VALUES (4, 0.9, 1.5, 20, 150.25, false, now());
UPDATE customer SET tags = '{vip,tea}' WHERE id = 4;
INSERT INTO complaint (customer_id, channel, category, subject) VALUES (4, 'app', 'app', 'app crashed');
SELECT customer_id, name, tags, tier, rfm_segment, lifecycle_stage, purchases, total_spend,
       last_purchase = (SELECT max(purchased_at) FROM purchase WHERE customer_id = 4) AS last_purchase_ok,
       open_complaints, nps, clv, p_alive, churn_risk, loyalty_points,
       next_care_plan, next_care_on - current_date AS next_care_in_days, next_care_channel
  FROM customer_360 WHERE customer_id = 4;
SELECT customer_id, name, age = extract(year FROM current_date)::int - 1992 AS age_ok, tier, rfm_segment, lifecycle_stage, purchases, total_spend, open_complaints, nps, clv, loyalty_points,
       next_care_plan, next_care_on - current_date AS next_care_in_days
  FROM customer_360 WHERE customer_id IN (1, 5, 8) ORDER BY customer_id;
SELECT (SELECT count(*) FROM customer_360) = (SELECT count(*) FROM customer) AS one_row_per_customer;

-- Merging customers moves the rows of every new table, found by their foreign keys.
INSERT INTO staff (login, display_name) VALUES ('sam', 'Sam');
INSERT INTO lead (source_channel, name, owner, customer_id) VALUES ('online', 'lead of 7', 'sam', 7);
INSERT INTO opportunity (name, customer_id, stage, amount) VALUES ('deal of 7', 7, 'qualified', 100);
INSERT INTO campaign (id, name, kind, starts_at, ends_at) OVERRIDING SYSTEM VALUE VALUES (1, 'c', 'points', now() - interval '1 day', now() + interval '1 day');
INSERT INTO campaign_member (campaign_id, customer_id) VALUES (1, 4), (1, 7);
INSERT INTO coupon (code, campaign_id, customer_id, value) VALUES ('C7', 1, 7, 5);
SELECT redeem_coupon('C7', 7) > 0 AS redeemed;
INSERT INTO touchpoint (customer_id, campaign_id, channel) VALUES (7, 1, 'push');
INSERT INTO care_contact (customer_id, plan, channel) VALUES (7, NULL, 'email');
SELECT earn_points(7, 40, 'first order') AS balance_7;
SELECT merge_customers(4, 7) -> 'moved' AS moved \gset
SELECT key AS moved_from, value AS rows FROM jsonb_each(:'moved'::jsonb)
 WHERE key ~ '^crm\.(lead|opportunity|campaign_member|coupon|coupon_redemption|touchpoint|care_contact|loyalty_account|loyalty_ledger)\.'
 ORDER BY key;
-- Points of both are on the kept customer; the account equals its ledger.
SELECT a.customer_id, a.balance, a.earned, a.redeemed,
       a.balance = (SELECT sum(points) FROM loyalty_ledger l WHERE l.customer_id = a.customer_id) AS equals_ledger
  FROM loyalty_account a ORDER BY a.customer_id;
SELECT (SELECT count(*) FROM lead WHERE customer_id = 7) + (SELECT count(*) FROM opportunity WHERE customer_id = 7)
     + (SELECT count(*) FROM campaign_member WHERE customer_id = 7) + (SELECT count(*) FROM coupon WHERE customer_id = 7)
     + (SELECT count(*) FROM coupon_redemption WHERE customer_id = 7) + (SELECT count(*) FROM touchpoint WHERE customer_id = 7)
     + (SELECT count(*) FROM care_contact WHERE customer_id = 7) + (SELECT count(*) FROM loyalty_ledger WHERE customer_id = 7)
     + (SELECT count(*) FROM loyalty_account WHERE customer_id = 7) AS rows_left_on_duplicate;
-- Customer 4 was a member twice now; results count it once.
SELECT count(*) AS member_rows, reach FROM campaign_member, campaign_results
 WHERE campaign_member.campaign_id = 1 AND campaign_results.campaign_id = 1 GROUP BY reach;
-- Moving an account to a customer without one simply moves it.
SELECT earn_points(3, 10) AS balance_3;
SELECT merge_customers(2, 3) -> 'moved' -> 'crm.loyalty_account.customer_id' AS accounts_moved;
SELECT customer_id, balance FROM loyalty_account ORDER BY customer_id;
