-- Marketing: campaigns, segment members, coupons, redemptions, touchpoints,
-- attribution journeys and campaign results
SET search_path = crm, public;
-- A fresh extension: this test counts rows and uses fixed ids.
SET client_min_messages = warning;
DROP EXTENSION crm CASCADE;
CREATE EXTENSION crm;
RESET client_min_messages;
SET timezone = 'Asia/Shanghai';
\pset null '-'

INSERT INTO customer (id, name, created_at) OVERRIDING SYSTEM VALUE
SELECT i, 'Customer ' || i, '2025-01-01' FROM generate_series(1, 6) i;

-- Campaign 1: ten days of January 2026.
INSERT INTO campaign (id, name, kind, channel, starts_at, ends_at, budget, cost) OVERRIDING SYSTEM VALUE
VALUES (1, 'Spring coupon', 'coupon', 'app', '2026-01-01 00:00+08', '2026-01-11 00:00+08', 1000, 600);
\set VERBOSITY terse
INSERT INTO campaign (name, kind, starts_at, ends_at) VALUES ('bad kind', 'lottery', '2026-01-01', '2026-01-02');
INSERT INTO campaign (name, kind, starts_at, ends_at) VALUES ('bad period', 'gift', '2026-01-02', '2026-01-01');
\set VERBOSITY default

-- Purchases (all at lunch time).  Windows: before [12-22, 01-01), during [01-01, 01-11), after [01-11, 01-21).
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES
    (1, '2025-06-01 12:00+08', 'store', 'tea', 5),    -- customer 1 is an old customer
    (1, '2025-12-25 12:00+08', 'store', 'tea', 10),   -- before
    (1, '2026-01-05 12:00+08', 'app',   'tea', 20),   -- during
    (1, '2026-01-15 12:00+08', 'app',   'tea', 30),   -- after
    (2, '2026-01-03 12:00+08', 'app',   'tea', 40),   -- customer 2: first purchase ever, during
    (2, '2026-03-01 12:00+08', 'app',   'tea', 50),   -- within 6 months of the first
    (2, '2026-08-01 12:00+08', 'app',   'tea', 60),   -- beyond 6 months
    (4, '2026-01-06 12:00+08', 'store', 'tea', 15),   -- control group, during
    (5, '2026-01-08 12:00+08', 'store', 'tea', 25),   -- customer 5: not a member, redeems an open coupon, first purchase
    (6, '2025-01-01 12:00+08', 'store', 'tea', 70);   -- customer 6: old customer reached by a touchpoint
INSERT INTO campaign_member (campaign_id, customer_id, grp) VALUES (1, 1, 'target'), (1, 2, 'target'), (1, 3, 'target'), (1, 4, 'control');

-- Coupons: two personal, one open for three redemptions.
INSERT INTO coupon (code, campaign_id, customer_id, value, issued_at, expires_at, max_redemptions) VALUES
    ('SPRING-1', 1, 1, 5, '2025-12-31 00:00+08', '2026-01-11 00:00+08', 1),
    ('SPRING-2', 1, 2, 5, '2025-12-31 00:00+08', '2026-01-11 00:00+08', 1),
    ('SPRING-OPEN', 1, NULL, 3, '2025-12-31 00:00+08', '2026-01-11 00:00+08', 3);
INSERT INTO coupon_redemption (coupon_code, customer_id, purchase_id, redeemed_at)
SELECT 'SPRING-1', 1, id, purchased_at FROM purchase WHERE customer_id = 1 AND purchased_at = '2026-01-05 12:00+08';
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('SPRING-OPEN', 5, '2026-01-08 12:00+08');
SELECT coupon_code, customer_id, purchase_id IS NOT NULL AS on_purchase, discount FROM coupon_redemption ORDER BY id;
-- Refused: used up, someone else's, expired, unknown; nothing is written.
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('SPRING-1', 1, '2026-01-06 12:00+08');
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('SPRING-2', 3, '2026-01-06 12:00+08');
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('SPRING-2', 2, '2026-01-11 00:00+08');
INSERT INTO coupon_redemption (coupon_code, customer_id, redeemed_at) VALUES ('SPRING-2', 2, '2025-12-30 23:59+08');
SELECT redeem_coupon('SPRING-OPEN', 3);
SELECT redeem_coupon('NO-SUCH', 3);
SELECT count(*) AS redemptions FROM coupon_redemption;

-- Touchpoints: journeys end at the customer's next purchase.
INSERT INTO touchpoint (customer_id, campaign_id, channel, occurred_at) VALUES
    (1, 1, 'search', '2026-01-02 09:00+08'),
    (1, 1, 'email',  '2026-01-04 09:00+08'),   -- customer 1 buys on 01-05 (20): search > email converts
    (1, NULL, 'social', '2026-01-20 09:00+08'),-- nothing bought after: not converted
    (2, 1, 'email',  '2026-01-02 09:00+08'),   -- customer 2 buys on 01-03 (40)
    (3, 1, 'email',  '2026-01-02 09:00+08'),   -- customer 3 never buys
    (6, 1, 'search', '2026-02-01 09:00+08'),
    (6, 1, 'email',  '2026-02-02 09:00+08');   -- customer 6 bought only in 2025
SELECT path, conversions, nulls, value FROM attribution_journey ORDER BY path;
-- The columns are exactly those an attribution model takes.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'crm.attribution_journey'::regclass AND attnum > 0 ORDER BY attnum;

-- The journeys feed the attribution aggregates directly.  By hand: from start, email 2 of 5,
-- search 2 of 5, social 1 of 5; search -> email always; email -> conversion 2 of 4, -> null 2
-- of 4; social -> null.  P(conversion) = 2/5 * 1/2 + 2/5 * 1/2 = 0.4.  Without email nothing
-- converts: removal effect 1; without search only the direct email journeys convert (0.2):
-- removal effect 0.5; social never converts: 0.  Shares 2/3, 1/3, 0 of 2 conversions and of
-- the value 60 (40 + 20).
SELECT key AS channel, round((value ->> 'removal_effect')::numeric, 10) AS removal_effect,
       round((value ->> 'conversions')::numeric, 10) AS conversions, round((value ->> 'value')::numeric, 10) AS value
  FROM jsonb_each((SELECT markov_attribution(path, conversions, nulls, value) FROM attribution_journey))
 ORDER BY key;
-- First touch gives the search journey's conversion to search, last touch both to email,
-- linear splits the search journey half and half.
SELECT heuristic_attribution(path, conversions, value) FROM attribution_journey;

-- Results.  reach 3 (1, 2, 3), control 1 (4); conversions 2 (1 and 2) of 3, control 1 of 1;
-- 3 coupons allowing 5 redemptions, 2 made; revenue before 10, during 20 + 40, after 30;
-- cost 600 for 2 conversions; acquired 2 (2 and 5: first purchase during the campaign),
-- retained 1 (2 bought again on 03-01), revenue in 6 months 40 + 50 + 25 = 115.
SELECT * FROM campaign_results WHERE campaign_id = 1;

-- A campaign without members or coupons has zeros and NULL rates.
INSERT INTO campaign (id, name, kind, starts_at, ends_at, budget) OVERRIDING SYSTEM VALUE
VALUES (2, 'VIP gift', 'gift', '2026-05-01 00:00+08', '2026-05-08 00:00+08', 200);
SELECT reach, conversions, conversion_rate, coupons_issued, redemptions, redemption_rate, revenue_during,
       cost, cost_per_conversion, acquired, retention_6m, arpu_6m
  FROM campaign_results WHERE campaign_id = 2;

-- Segments: tags, tiers, regions, RFM segments and time-of-day habits.
INSERT INTO customer (id, name, tags, tier, region, created_at) OVERRIDING SYSTEM VALUE VALUES
    (7, 'Breakfast Fan', '{vip,tea}', 'diamond', 'north', '2025-01-01'),
    (8, 'Tea Time',      '{vip}',     'silver',  'south', '2025-01-01'),
    (9, 'Night Owl',     '{tea}',     'diamond', 'south', '2025-01-01');
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount)
SELECT c, date_trunc('day', now()) - d * interval '1 day' + t, 'app', 'tea', 10
  FROM (VALUES (7, 2, time '08:00'), (7, 3, time '08:30'), (7, 4, time '09:45'), (7, 5, time '15:00'),
               (8, 2, time '15:30'), (8, 3, time '16:59'), (8, 4, time '20:00'),
               (9, 2, time '21:00'), (9, 3, time '04:59')) v(c, d, t);
SELECT customer_id, daypart, purchases, share FROM customer_daypart WHERE customer_id >= 7 ORDER BY customer_id;
SELECT t, daypart(t) FROM unnest(ARRAY[time '04:59', '05:00', '09:59', '10:00', '13:59', '14:00', '16:59', '17:00', '19:59', '20:00', '23:59']) t;
INSERT INTO customer_rfm_score (customer_id, recency_days, frequency, monetary, r, f, m, rfm, segment, as_of) VALUES
    (7, 2, 4, 40, 5, 5, 5, '555', 'Champions', now()),
    (8, 2, 3, 30, 1, 4, 4, '144', 'At Risk', now());
SELECT 'vip' AS segment, array_agg(id) FROM customer_segment(tags => '{vip}') id
UNION ALL SELECT 'vip+tea', array_agg(id) FROM customer_segment(tags => '{vip,tea}') id
UNION ALL SELECT 'diamond', array_agg(id) FROM customer_segment(tiers => '{diamond}') id
UNION ALL SELECT 'south', array_agg(id) FROM customer_segment(regions => '{south}') id
UNION ALL SELECT 'champions or at risk', array_agg(id) FROM customer_segment(rfm_segments => '{Champions,At Risk}') id
UNION ALL SELECT 'breakfast', array_agg(id) FROM customer_segment(dayparts => '{breakfast}') id
UNION ALL SELECT 'diamond at night', array_agg(id) FROM customer_segment(tiers => '{diamond}', dayparts => '{night}') id
UNION ALL SELECT 'nobody', array_agg(id) FROM customer_segment(tags => '{vip}', regions => '{west}') id;

-- Members from a segment query; adding again adds nobody new.
SELECT campaign_add_members(2, 'SELECT * FROM crm.customer_segment(tags => ''{vip}'')') AS added;
SELECT campaign_add_members(2, 'SELECT id, name FROM crm.customer WHERE tier = ''diamond''') AS added;
SELECT customer_id, grp FROM campaign_member WHERE campaign_id = 2 ORDER BY customer_id;
-- A control group: about control_share of the customers, by a stable hash of customer and campaign.
INSERT INTO campaign (id, name, kind, starts_at, ends_at) OVERRIDING SYSTEM VALUE
VALUES (3, 'Everyone', 'points', '2026-06-01 00:00+08', '2026-06-30 00:00+08');
SELECT campaign_add_members(3, 'SELECT id FROM crm.customer', 0.5) AS added;
SELECT count(*) AS members,
       count(*) FILTER (WHERE grp = 'control') > 0 AND count(*) FILTER (WHERE grp = 'target') > 0 AS both_groups,
       bool_and(grp = CASE WHEN (hashint8extended(customer_id, 3) & 65535) < 0.5 * 65536 THEN 'control' ELSE 'target' END) AS grp_by_hash
  FROM campaign_member WHERE campaign_id = 3;
SELECT campaign_add_members(3, 'SELECT id FROM crm.customer', 0) AS added_again;
-- Bad calls.
SELECT campaign_add_members(99, 'SELECT 1');
SELECT campaign_add_members(2, 'SELECT 1', 1);
SELECT campaign_add_members(2, NULL);
SELECT campaign_add_members(2, 'SELECT 12345');
