-- pgTAP: the core schema as DBAs and developers rely on it
BEGIN;
SELECT plan(34);

SELECT has_schema('crm');
SELECT has_table('crm', t, 'table crm.' || t) FROM unnest(ARRAY['customer', 'customer_identity', 'purchase',
    'interaction', 'channel', 'customer_merge']) AS t;
SELECT has_pk('crm', t, 'crm.' || t || ' has a primary key') FROM unnest(ARRAY['customer', 'customer_identity', 'purchase',
    'interaction', 'channel', 'customer_merge']) AS t;
SELECT col_type_is('crm', 'customer', 'email', 'crm', 'email', 'customer.email is crm.email');
SELECT col_type_is('crm', 'customer', 'phone', 'crm', 'phone', 'customer.phone is crm.phone');
SELECT col_type_is('crm', 'purchase', 'amount', 'numeric(14,2)', 'purchase.amount is exact money');
SELECT col_is_pk('crm', 'customer_identity', ARRAY['channel', 'external_id'], 'one identity per channel and external id');
SELECT fk_ok('crm', 'purchase', 'customer_id', 'crm', 'customer', 'id');
SELECT fk_ok('crm', 'interaction', 'customer_id', 'crm', 'customer', 'id');
SELECT fk_ok('crm', 'customer_identity', 'customer_id', 'crm', 'customer', 'id');
SELECT has_trigger('crm', 'customer', 'customer_touch', 'customer has its updated_at trigger');
SELECT has_index('crm', 'customer', 'customer_phone_idx', 'customers are indexed by phone');
SELECT has_index('crm', 'customer', 'customer_email_idx', 'customers are indexed by email');
SELECT has_index('crm', 'purchase', 'purchase_customer_idx', 'purchases are indexed by customer and time');
SELECT function_returns('crm', 'resolve_customer', ARRAY['text', 'text'], 'bigint');
SELECT function_returns('crm', 'merge_customers', ARRAY['bigint', 'bigint'], 'jsonb');
SELECT volatility_is('crm', 'find_duplicates', ARRAY['double precision'], 'stable');
SELECT volatility_is('crm', 'merge_customers', ARRAY['bigint', 'bigint'], 'volatile');

-- Merging keeps every purchase (row count and money) across a realistic batch.
INSERT INTO crm.customer (id, name, phone, city) OVERRIDING SYSTEM VALUE
SELECT g, 'Customer ' || g, ('+86 139 0000 ' || lpad(g::text, 4, '0'))::crm.phone, 'Hangzhou' FROM generate_series(9001, 9020) g;
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount)
SELECT 9001 + g % 20, '2025-01-01'::timestamptz + g * interval '1 day', 'store', 'Tea', (g % 50) + 0.99
  FROM generate_series(1, 400) g;
CREATE TEMP TABLE totals AS SELECT count(*) AS n, sum(amount) AS s FROM crm.purchase;
SELECT lives_ok($$SELECT crm.merge_customers(9001 + 2 * k, 9002 + 2 * k) FROM generate_series(0, 9) k$$,
                'ten merges in one statement');
SELECT results_eq($$SELECT count(*), sum(amount) FROM crm.purchase$$, $$SELECT n, s FROM totals$$,
                  'purchase count and total unchanged by merges');
SELECT is((SELECT count(*)::int FROM crm.customer WHERE id BETWEEN 9001 AND 9020), 10, 'ten duplicates removed');
SELECT is((SELECT count(*)::int FROM crm.customer_merge WHERE kept_id BETWEEN 9001 AND 9020), 10, 'ten merges logged');
SELECT throws_ok($$SELECT crm.merge_customers(9001, 9001)$$, '22023', NULL, 'merging a customer with itself is refused');
SELECT throws_ok($$SELECT crm.merge_customers(9001, 9002)$$, 'P0002', NULL, 'merging a deleted customer is refused');

SELECT * FROM finish();
ROLLBACK;
