-- crm.merge_customers: nothing is lost, everything moves, the merge is logged
SET search_path = crm, public;

INSERT INTO customer (id, name, gender, email, phone, city, occupation, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES
    (201, 'Chen Jie', 'female', NULL, '+86 138 0000 0201', 'Shenzhen', '', '2024-05-01', '2024-05-01'),
    (202, 'Chen  Jie', NULL, 'chen.jie@example.com', '+86 139 0000 0202', NULL, 'teacher', '2023-02-01', '2023-02-01'),
    (203, 'Other Person', 'male', NULL, NULL, 'Wuhan', NULL, '2024-01-01', '2024-01-01');
INSERT INTO customer_identity (channel, external_id, customer_id) VALUES
    ('app', 'APP-201', 201), ('social', 'WX-202', 202), ('store_card', 'CARD-202', 202);
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES
    (201, '2025-01-01 10:00+08', 'store', 'Oolong Milk Tea', 1, 16.00),
    (202, '2025-01-02 11:00+08', 'app', 'Matcha Latte', 2, 44.00),
    (202, '2025-01-03 12:00+08', 'mini_program', 'Peach Oolong', 1, 18.50),
    (203, '2025-01-04 09:00+08', 'online', 'Taro Milk Tea', 1, 17.00);
INSERT INTO interaction (customer_id, occurred_at, channel, kind, content) VALUES
    (202, '2025-01-05', 'phone', 'complaint', 'drink was cold'),
    (202, '2025-01-06', 'email', 'suggestion', 'more oat milk');
INSERT INTO complaint (customer_id, channel, category, priority, subject)
VALUES (202, 'phone', 'delivery_delay', 'normal', 'order arrived cold');
-- A table of the user's own that references customers moves too.
CREATE TABLE public.loyalty_card (card text PRIMARY KEY, customer_id bigint REFERENCES crm.customer (id));
INSERT INTO public.loyalty_card VALUES ('LC-1', 202), ('LC-2', 203);

CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM purchase) AS purchases, (SELECT sum(amount) FROM purchase) AS amount,
       (SELECT count(*) FROM interaction) AS interactions, (SELECT count(*) FROM customer_identity) AS identities,
       (SELECT count(*) FROM public.loyalty_card) AS cards,
       (SELECT count(*) FROM complaint) AS complaints, (SELECT count(*) FROM complaint_event) AS complaint_events,
       (SELECT count(*) FROM purchase WHERE customer_id IN (201, 202)) AS pair_purchases,
       (SELECT updated_at FROM customer WHERE id = 201) AS keep_updated;

-- Bad calls are clear errors and change nothing.
SELECT merge_customers(201, 201);
SELECT merge_customers(201, 999);
SELECT merge_customers(999, 201);
SELECT merge_customers(NULL, 201);

SELECT merge_customers(201, 202) AS result \gset merge_
-- The result names the kept and merged ids, the filled fields, and the rows moved per table.
SELECT :'merge_result'::jsonb - 'moved' AS result_without_moved;
SELECT key AS moved_from, value AS rows FROM jsonb_each(:'merge_result'::jsonb -> 'moved')
 WHERE value::int > 0 ORDER BY key;
-- Every table with a single-column foreign key to crm.customer is listed, with 0 when nothing moved.
SELECT array_agg(n.nspname || '.' || r.relname || '.' || a.attname ORDER BY n.nspname, r.relname, a.attname)
       = (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'merge_result'::jsonb -> 'moved') k) AS every_reference_listed
  FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
  JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
 WHERE c.contype = 'f' AND c.confrelid = 'crm.customer'::regclass AND cardinality(c.conkey) = 1;

-- Counts are unchanged; every row of the duplicate now belongs to the kept customer.
SELECT (SELECT count(*) FROM purchase) = b.purchases AS purchases_kept,
       (SELECT sum(amount) FROM purchase) = b.amount AS amount_kept,
       (SELECT count(*) FROM interaction) = b.interactions AS interactions_kept,
       (SELECT count(*) FROM customer_identity) = b.identities AS identities_kept,
       (SELECT count(*) FROM public.loyalty_card) = b.cards AS cards_kept,
       (SELECT count(*) FROM complaint WHERE customer_id = 201) = b.complaints AS complaint_moved,
       (SELECT count(*) FROM complaint_event) = b.complaint_events AS no_workflow_event_for_a_merge,
       (SELECT count(*) FROM purchase WHERE customer_id = 201) = b.pair_purchases AS all_purchases_on_keep
  FROM before b;
SELECT count(*) AS rows_left_on_duplicate FROM (
    SELECT customer_id FROM purchase WHERE customer_id = 202
    UNION ALL SELECT customer_id FROM interaction WHERE customer_id = 202
    UNION ALL SELECT customer_id FROM customer_identity WHERE customer_id = 202
    UNION ALL SELECT customer_id FROM complaint WHERE customer_id = 202
    UNION ALL SELECT customer_id FROM public.loyalty_card WHERE customer_id = 202) s;
SELECT resolve_customer('social', 'WX-202') AS wx, resolve_customer('store_card', 'CARD-202') AS card;
SELECT count(*) AS duplicate_rows FROM customer WHERE id = 202;

-- Empty fields of the kept customer are filled; its own values are kept; the earlier creation time wins.
SELECT id, name, gender, email, phone, city, occupation, created_at, updated_at > b.keep_updated AS touched
  FROM customer, before b WHERE id = 201;
SELECT kept_id, merged_id, merged_by = current_user AS by_me, moved = :'merge_result'::jsonb -> 'moved' AS moved_recorded, filled,
       merged_row ->> 'name' AS merged_name, merged_row ->> 'phone' AS merged_phone
  FROM customer_merge;
-- The other customer is untouched.
SELECT id, name, (SELECT count(*) FROM purchase WHERE customer_id = 203) AS purchases FROM customer WHERE id = 203;

-- Merging a customer that no longer exists.
SELECT merge_customers(201, 202);

DROP TABLE public.loyalty_card;
DELETE FROM complaint_event; DELETE FROM complaint; DELETE FROM interaction; DELETE FROM purchase; DELETE FROM customer_identity; DELETE FROM customer; DELETE FROM customer_merge;
-- Later tests number their complaints from 1.
SELECT setval(pg_get_serial_sequence('crm.complaint', 'id'), 1, false) AS complaint_seq,
       setval(pg_get_serial_sequence('crm.complaint_event', 'id'), 1, false) AS event_seq;
RESET search_path;
