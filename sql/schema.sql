-- Core schema: constraints, defaults and the updated_at trigger
SET search_path = crm, public;

-- Valid rows go in; created_at and updated_at default to now.
INSERT INTO customer (id, name, gender, birth_date, email, phone, city) OVERRIDING SYSTEM VALUE
VALUES (301, 'Zhou Min', 'female', '1991-04-05', 'Zhou.Min@Example.com', '+86 186 1234 5678', 'Nanjing');
SELECT id, name, email, phone, created_at = updated_at AS fresh FROM customer WHERE id = 301;

-- Each constraint rejects what it should, with the data left as it was.
\set VERBOSITY terse
INSERT INTO customer (name) VALUES ('   ');
INSERT INTO customer (name, gender) VALUES ('X', 'f');
INSERT INTO customer (name, birth_date) VALUES ('X', '1850-01-01');
INSERT INTO customer (name, email) VALUES ('X', 'x@y');
INSERT INTO customer (name, phone) VALUES ('X', '+1 212 555');
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES (301, now(), 'store', 'Tea', 0, 10);
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES (301, now(), 'store', 'Tea', 1, -1);
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES (301, now(), 'drone', 'Tea', 1, 1);
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES (999, now(), 'store', 'Tea', 1, 1);
INSERT INTO interaction (customer_id, channel, kind) VALUES (301, 'phone', 'gossip');
SELECT count(*) AS customers FROM customer;
\set VERBOSITY default

-- Money is exact: cents are kept and sums do not drift.
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount)
SELECT 301, '2025-01-01'::timestamptz + g * interval '1 hour', 'app', 'Tea', 1, 0.10 FROM generate_series(1, 1000) g;
SELECT sum(amount) AS exactly_100 FROM purchase WHERE customer_id = 301;
INSERT INTO purchase (customer_id, purchased_at, channel, product, quantity, amount) VALUES (301, now(), 'store', 'Tea', 1, 12.345);
SELECT amount FROM purchase ORDER BY id DESC LIMIT 1;

-- A customer with purchases cannot be deleted (purchases are never lost) ...
DELETE FROM customer WHERE id = 301;
-- ... while identities go with their customer.
INSERT INTO customer (id, name) OVERRIDING SYSTEM VALUE VALUES (302, 'Temp');
INSERT INTO customer_identity VALUES ('app', 'T-1', 302);
DELETE FROM customer WHERE id = 302;
SELECT count(*) AS identities_left FROM customer_identity WHERE external_id = 'T-1';

-- The trigger maintains updated_at.
CREATE TEMP TABLE t0 AS SELECT updated_at FROM customer WHERE id = 301;
UPDATE customer SET city = 'Suzhou' WHERE id = 301;
SELECT c.updated_at > t0.updated_at AS updated_at_moved, c.created_at < c.updated_at AS created_kept
  FROM customer c, t0 WHERE c.id = 301;

-- Channels: the built-in ones, and user-defined ones are allowed.
SELECT code FROM channel WHERE builtin ORDER BY code;
INSERT INTO channel (code, description) VALUES ('kiosk', 'self-service kiosk');
INSERT INTO channel (code, description) VALUES ('Bad Code', 'no');

DELETE FROM purchase; DELETE FROM customer; DELETE FROM channel WHERE NOT builtin;
RESET search_path;
