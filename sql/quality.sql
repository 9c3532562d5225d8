-- Identity resolution and duplicate detection
SET search_path = crm, public;

INSERT INTO customer (id, name, email, phone, city, birth_date) OVERRIDING SYSTEM VALUE VALUES
    (101, 'Anna Schmidt',   'anna.schmidt@example.com', '+49 30 1234567',   'Berlin',   '1985-03-02'),
    (102, 'Ana Schmidt',    NULL,                       '+49 30 1234567',   'Berlin',   NULL),        -- same phone, typo
    (103, 'Wang Wei',       'WANG.WEI@Example.com',     '+86 138 0013 8000', 'Shanghai', '1990-07-15'),
    (104, 'Wang  Wei ',     'wang.wei@example.com',     NULL,               'Beijing',  NULL),        -- same email
    (105, 'Li Na',          NULL,                       '+86 139 0000 0001', 'Hangzhou', '1992-01-01'),
    (106, 'Li Na',          NULL,                       '+86 139 0000 0002', 'Hangzhou', NULL),        -- same name and city
    (107, 'Li Na',          NULL,                       '+86 139 0000 0003', 'Hangzhou', '1970-05-05'), -- same name, other birth date
    (108, 'Michael Brown',  NULL,                       NULL,               'London',   '1980-12-24'),
    (109, 'Micheal Brown',  NULL,                       NULL,               'Leeds',    '1980-12-24'), -- typo, same birth date
    (110, 'Michael Brown',  NULL,                       NULL,               'Paris',    NULL),         -- same name, nothing else
    (111, 'Zhang San',      NULL,                       NULL,               'Wuhan',    NULL),
    (112, 'Xhang San',      NULL,                       NULL,               'wuhan ',   NULL);         -- first letter typo, same city
SELECT setval(pg_get_serial_sequence('crm.customer', 'id'), 200);

SELECT customer_a, customer_b, score, name_similarity, reasons FROM find_duplicates(0.9);
-- A stricter threshold drops the name-only pairs with a typo, never the phone or email pairs.
SELECT customer_a, customer_b, reasons FROM find_duplicates(0.99);
-- Bad thresholds.
SELECT * FROM find_duplicates(1.5);
SELECT * FROM find_duplicates(NULL);

-- Identities: one customer, one identity per channel and external id.
INSERT INTO customer_identity (channel, external_id, customer_id) VALUES
    ('app', 'APP-1', 101), ('store_card', 'CARD-9', 101), ('social', 'WX-77', 103);
SELECT resolve_customer('app', 'APP-1') AS app, resolve_customer('store_card', 'CARD-9') AS card,
       resolve_customer('social', 'WX-77') AS social, resolve_customer('app', 'nope') AS unknown,
       resolve_customer(NULL, 'APP-1') AS null_channel;
INSERT INTO customer_identity (channel, external_id, customer_id) VALUES ('app', 'APP-1', 103);
INSERT INTO customer_identity (channel, external_id, customer_id) VALUES ('fax', 'F-1', 103);
INSERT INTO customer_identity (channel, external_id, customer_id) VALUES ('app', 'APP-2', 999);
INSERT INTO customer_identity (channel, external_id, customer_id, created_at) VALUES ('app', '  ', 101, '2026-01-01');

DELETE FROM customer_identity;
DELETE FROM customer;
RESET search_path;
