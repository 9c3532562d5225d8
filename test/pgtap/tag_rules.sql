-- Rule-based tagging: crm.customer_metrics, crm.tag_rule validation,
-- crm.apply_tag_rules, who may write rules, and tags surviving a merge.
BEGIN;
SELECT plan(42);
SET search_path = crm, public;

SELECT has_view('crm', 'customer_metrics', 'crm.customer_metrics exists');
SELECT has_table('crm', 'tag_rule', 'crm.tag_rule exists');
SELECT col_type_is('crm', 'customer', 'tags', 'crm', 'tagset', 'crm.customer.tags is a crm.tagset');
SELECT columns_are('crm', 'tag_rule',
    ARRAY['name', 'label', 'predicate', 'enabled', 'description', 'created_by', 'created_at'],
    'crm.tag_rule has the documented columns');

-- A small customer base: spend, recency, regions and channels chosen so each rule below has a known answer.
INSERT INTO crm.customer (id, name, region, city, birth_date) VALUES
    (800001, 'Ann', 'north', 'Harbin', date_trunc('year', current_date)::date - interval '30 years'),
    (800002, 'Bo', 'south', 'Guangzhou', date_trunc('year', current_date)::date - interval '50 years'),
    (800003, 'Cy', 'north', 'Dalian', NULL),
    (800004, 'Di', 'east', 'Shanghai', date_trunc('year', current_date)::date - interval '22 years');
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount) VALUES
    (800001, now() - interval '5 days', 'store', 'oolong', 1200.00),
    (800001, now() - interval '40 days', 'app', 'green tea', 300.00),
    (800001, now() - interval '500 days', 'online', 'cup', 80.00),
    (800002, now() - interval '200 days', 'online', 'oolong', 90.50),
    (800004, now() - interval '2 days', 'mini_program', 'milk tea', 25.00),
    (800004, now() - interval '3 days', 'mini_program', 'milk tea', 25.00);
INSERT INTO crm.interaction (customer_id, channel, kind, content) VALUES
    (800002, 'phone', 'complaint', 'late delivery'), (800002, 'email', 'inquiry', 'opening hours');

-- The view agrees with a direct computation over the purchases.
SELECT results_eq(
    $$SELECT customer_id, total_spend, purchase_count, last_purchase_at, channel_count
        FROM crm.customer_metrics WHERE customer_id BETWEEN 800001 AND 800004 ORDER BY 1$$,
    $$SELECT c.id, coalesce(sum(p.amount), 0)::numeric(14, 2), count(p.id), max(p.purchased_at),
             count(DISTINCT p.channel)
        FROM crm.customer c LEFT JOIN crm.purchase p ON p.customer_id = c.id
       WHERE c.id BETWEEN 800001 AND 800004 GROUP BY c.id ORDER BY 1$$,
    'customer_metrics: totals, counts, recency and channel count match the purchases');
SELECT results_eq(
    $$SELECT spend_12m, purchases_12m, avg_order_value, store_spend, app_spend, online_spend, channels, main_channel, age
        FROM crm.customer_metrics WHERE customer_id = 800001$$,
    $$VALUES (1500.00::numeric(14, 2), 2::bigint, 526.67::numeric, 1200.00::numeric(14, 2), 300.00::numeric(14, 2),
              80.00::numeric(14, 2), '{app,online,store}'::text[], 'app'::text, 30)$$,
    'customer_metrics: 12-month figures, average order, channel mix and age');
SELECT results_eq(
    $$SELECT interaction_count, complaint_count, total_spend, purchase_count, days_since_last_purchase IS NULL
        FROM crm.customer_metrics WHERE customer_id IN (800002, 800003) ORDER BY customer_id$$,
    $$VALUES (2::bigint, 1::bigint, 90.50::numeric(14, 2), 1::bigint, false), (0, 0, 0.00, 0, true)$$,
    'customer_metrics: interactions, complaints, and zeros for a customer without purchases');

-- Saving a rule: the label is normalised; bad predicates and labels are rejected.
INSERT INTO crm.tag_rule (name, label, predicate, description)
VALUES ('big_spender', ' Big Spender ', 'total_spend > 1000', 'spent more than 1000 in total'),
       ('northern', 'Region:North', $$region = 'north'$$, NULL),
       ('lapsed', 'needs nurturing', 'purchase_count > 0 AND days_since_last_purchase > 90 -- no recent order', NULL),
       ('mini_fan', 'channel:mini_program', $$main_channel = 'mini_program' AND age < 25$$, NULL);
SELECT results_eq($$SELECT label FROM crm.tag_rule ORDER BY name$$,
    $$VALUES ('big spender'), ('needs nurturing'), ('channel:mini_program'), ('region:north')$$,
    'labels are normalised when a rule is saved');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r1', 'x', 'total_spnd > 1')$$,
    '42703', 'invalid tag rule predicate: total_spnd > 1', 'an unknown column is rejected when the rule is saved');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r2', 'x', 'total_spend >')$$,
    '42601', 'invalid tag rule predicate: total_spend >', 'a predicate that does not parse is rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r3', 'x', 'total_spend')$$,
    '42804', 'invalid tag rule predicate: total_spend', 'a predicate that is not boolean is rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r4', 'x', 'true; DELETE FROM crm.customer')$$,
    '42601', 'invalid tag rule predicate: true; DELETE FROM crm.customer', 'a second statement is rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r5', 'x', 'true FROM crm.customer')$$,
    '42601', 'invalid tag rule predicate: true FROM crm.customer', 'clauses after the expression are rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r6', 'x', 'true) OR (true')$$,
    '42601', 'invalid tag rule predicate: true) OR (true', 'unbalanced parentheses are rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r7', 'x', '  ')$$,
    '22023', 'tag rule predicate must not be empty', 'an empty predicate is rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r8', 'a,b', 'true')$$,
    '22P02', 'invalid label for type crm.tagset: "a,b"', 'an invalid label is rejected');
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('r9', 'REGION:NORTH', 'true')$$,
    '23505', NULL, 'one rule per label');
SELECT throws_ok($$UPDATE crm.tag_rule SET predicate = 'nosuch' WHERE name = 'northern'$$,
    '42703', 'invalid tag rule predicate: nosuch', 'an update is checked too');
SELECT is((SELECT count(*) FROM crm.tag_rule), 4::bigint, 'rejected rules left no row behind');

-- Applying the rules: per-rule counts, and exactly the matching customers tagged.
SELECT is(crm.tag(800003, 'needs nurturing', 'manual'), '{manual,needs nurturing}'::crm.tagset,
    'crm.tag returns the customer''s new tags');
SELECT results_eq(
    $$SELECT rule, label, added, removed FROM crm.apply_tag_rules() ORDER BY rule$$,
    $$VALUES ('big_spender', 'big spender', 1::bigint, 0::bigint),
             ('lapsed', 'needs nurturing', 1, 1),
             ('mini_fan', 'channel:mini_program', 1, 0),
             ('northern', 'region:north', 2, 0)$$,
    'apply_tag_rules adds and removes labels and reports it per rule');
SELECT results_eq(
    $$SELECT id, tags FROM crm.customer WHERE id BETWEEN 800001 AND 800004 ORDER BY id$$,
    $$VALUES (800001::bigint, '{big spender,region:north}'::crm.tagset),
             (800002, '{needs nurturing}'), (800003, '{manual,region:north}'),
             (800004, '{channel:mini_program}')$$,
    'each customer carries exactly the labels of the rules it matches, and keeps its manual labels');
-- An independent check of each rule's label against its predicate written in plain SQL.
SELECT set_eq($$SELECT id FROM crm.customer WHERE tags ? 'big spender'$$,
              $$SELECT customer_id FROM crm.purchase GROUP BY 1 HAVING sum(amount) > 1000$$,
              'big spender: the customers with more than 1000 spent');
SELECT set_eq($$SELECT id FROM crm.customer WHERE tags ? 'needs nurturing'$$,
              $$SELECT customer_id FROM crm.purchase GROUP BY 1 HAVING max(purchased_at)::date < current_date - 90$$,
              'needs nurturing: the customers whose last purchase is older than 90 days');
SELECT results_eq($$SELECT sum(added) + sum(removed) FROM crm.apply_tag_rules()$$, $$VALUES (0::numeric)$$,
    'a second run changes nothing');
SELECT results_eq($$SELECT rule, tagged FROM crm.apply_tag_rules() ORDER BY rule$$,
    $$VALUES ('big_spender', 1::bigint), ('lapsed', 1), ('mini_fan', 1), ('northern', 2)$$,
    'tagged counts every customer carrying the label');

-- When the data changes, the next run moves the label.
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount)
VALUES (800002, now() - interval '1 day', 'store', 'gift box', 2000.00);
SELECT results_eq(
    $$SELECT rule, added, removed FROM crm.apply_tag_rules() WHERE added + removed > 0 ORDER BY rule$$,
    $$VALUES ('big_spender', 1::bigint, 0::bigint), ('lapsed', 0, 1)$$,
    'a new purchase adds big spender and removes needs nurturing');
-- A disabled rule is skipped and leaves its label alone.
UPDATE crm.tag_rule SET enabled = false WHERE name = 'northern';
UPDATE crm.customer SET region = 'west' WHERE id = 800001;
SELECT is((SELECT count(*) FROM crm.apply_tag_rules() WHERE rule = 'northern'), 0::bigint, 'disabled rules are not run');
SELECT ok((SELECT tags ? 'region:north' FROM crm.customer WHERE id = 800001), 'a disabled rule''s label stays');
UPDATE crm.tag_rule SET enabled = true WHERE name = 'northern';
SELECT results_eq($$SELECT removed FROM crm.apply_tag_rules() WHERE rule = 'northern'$$, $$VALUES (1::bigint)$$,
    're-enabled, the rule removes the label from the customer who moved');

-- Predicates may use the tag operators (crm is on the path they are resolved with).
INSERT INTO crm.tag_rule (name, label, predicate)
VALUES ('vip_candidate', 'vip candidate', $$tags ? 'big spender' AND NOT tags @> '{vip}'$$);
SELECT results_eq($$SELECT added FROM crm.apply_tag_rules() WHERE rule = 'vip_candidate'$$, $$VALUES (2::bigint)$$,
    'a predicate over tags runs');
SELECT set_eq($$SELECT id FROM crm.customer WHERE tags ? 'vip candidate'$$,
              $$SELECT id FROM crm.customer WHERE 'big spender' = ANY (tags::text[]) AND NOT 'vip' = ANY (tags::text[])$$,
              'it tagged the big spenders who are not VIP');
-- Deleting a rule leaves its label on the customers; remove it with an UPDATE.
DELETE FROM crm.tag_rule WHERE name = 'vip_candidate';
UPDATE crm.customer SET tags = tags - 'vip candidate' WHERE tags ? 'vip candidate';

-- A predicate that fails at run time aborts the whole run and changes nothing.
INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('zero', 'zero', 'total_spend / (purchase_count - purchase_count) > 0');
CREATE TEMP TABLE before_tags AS SELECT id, tags FROM crm.customer;
SELECT throws_ok($$SELECT * FROM crm.apply_tag_rules()$$, '22012', NULL, 'a run-time error in a predicate is raised');
SELECT set_eq($$SELECT id, tags::text FROM crm.customer$$, $$SELECT id, tags::text FROM before_tags$$,
    'after the failed run every customer keeps its tags');
DELETE FROM crm.tag_rule WHERE name = 'zero';

-- Only the owner (or whom it grants) writes rules.
CREATE ROLE crm_tap_clerk;
GRANT USAGE ON SCHEMA crm TO crm_tap_clerk;
GRANT SELECT, UPDATE ON crm.customer TO crm_tap_clerk;
SET LOCAL ROLE crm_tap_clerk;
SELECT throws_ok($$INSERT INTO crm.tag_rule (name, label, predicate) VALUES ('mine', 'mine', 'true')$$,
    '42501', NULL, 'a role without INSERT on crm.tag_rule cannot create a rule');
SELECT throws_ok($$SELECT * FROM crm.apply_tag_rules()$$, '42501', NULL,
    'apply_tag_rules runs with the caller''s rights (no SECURITY DEFINER)');
RESET ROLE;
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'crm.apply_tag_rules()'::regprocedure), false,
    'apply_tag_rules is SECURITY INVOKER');
SELECT ok(NOT has_table_privilege('public', 'crm.tag_rule', 'INSERT'), 'PUBLIC cannot insert rules');

-- Merging two customers keeps the union of their tags.
SELECT is(crm.tag(800004, 'vip'), '{channel:mini_program,vip}'::crm.tagset, 'a manual label next to a rule label');
SELECT lives_ok($$SELECT crm.merge_customers(800002, 800004)$$, 'merge_customers runs');
SELECT is((SELECT tags FROM crm.customer WHERE id = 800002),
          '{big spender,channel:mini_program,vip}'::crm.tagset,
          'the kept customer has the tags of both');
-- The GIN index on crm.customer.tags answers a tag query.
SET LOCAL enable_seqscan = off;
SELECT results_eq($$SELECT id FROM crm.customer WHERE tags @> '{vip,big spender}'$$, $$VALUES (800002::bigint)$$,
    'tag query through the index');
SELECT * FROM finish();
ROLLBACK;
