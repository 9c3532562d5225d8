-- Sales, marketing and service: the shape later modules rely on (customer and
-- owner columns for row-level security, merge by foreign keys), workflow
-- configuration, and the guarantees of assignment, coupons and points.
BEGIN;
SELECT plan(27);
SET search_path = crm, public;

SELECT has_table('crm', t, 'table crm.' || t || ' exists')
  FROM unnest(ARRAY['lead', 'lead_event', 'lead_grade', 'lead_assignment_rule', 'opportunity', 'opportunity_event',
                    'opportunity_stage', 'sales_target', 'commission_plan', 'campaign', 'campaign_member', 'coupon',
                    'coupon_redemption', 'touchpoint', 'care_plan', 'care_contact', 'loyalty_account', 'loyalty_ledger']) t;

-- Every table with customer data references crm.customer by a customer_id column (merge and security find them).
SELECT is_empty($$
    SELECT t FROM unnest(ARRAY['lead', 'opportunity', 'campaign_member', 'coupon', 'coupon_redemption', 'touchpoint',
                               'care_contact', 'loyalty_account', 'loyalty_ledger']) t
     WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                        WHERE c.conrelid = ('crm.' || t)::regclass AND c.contype = 'f'
                          AND c.confrelid = 'crm.customer'::regclass AND a.attname = 'customer_id')
$$, 'customer tables have a customer_id foreign key to crm.customer');
SELECT col_type_is('crm', t, 'owner', 'text', 'crm.' || t || '.owner holds a staff login')
  FROM unnest(ARRAY['lead', 'opportunity']) t;

SELECT bag_eq($$SELECT DISTINCT workflow FROM crm.workflow_transition WHERE builtin$$,
              $$VALUES ('complaint'), ('lead'), ('opportunity')$$, 'the lead and opportunity workflows ship');
SELECT throws_ok($$INSERT INTO crm.lead (source_channel, name, status) VALUES ('online', 'x', 'converted')$$,
                 'WF001', NULL, 'a lead cannot start converted');

-- A rule naming only inactive staff assigns nobody.
INSERT INTO crm.team (name) VALUES ('tap_team');
INSERT INTO crm.staff (login, display_name, team, active) VALUES ('tap_gone', 'Gone', 'tap_team', false);
INSERT INTO crm.lead_assignment_rule (name, method, team) VALUES ('tap rule', 'round_robin', 'tap_team');
SELECT is((SELECT owner FROM crm.pick_lead_owner('online', NULL, 'C')), NULL, 'inactive staff are never chosen');

INSERT INTO crm.customer (id, name) OVERRIDING SYSTEM VALUE VALUES (990001, 'Tap Customer');
SELECT throws_ok($$SELECT crm.redeem_points(990001, 1)$$, '23514', 'not enough loyalty points', 'no points to redeem');
SELECT is(crm.earn_points(990001, 5), 5::bigint, 'earning returns the balance');
SELECT throws_ok($$UPDATE crm.loyalty_account SET balance = -1 WHERE customer_id = 990001$$, '23514', NULL,
                 'the balance column itself refuses a negative value');
