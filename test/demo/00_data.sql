-- Demo data: a tea-drink chain with stores in eight cities and online, app,
-- mini-program and phone channels.  Deterministic (setseed), sized by the psql
-- variable "customers" (default 5000).  Some customers are entered twice on
-- different channels (typos, other case, a second email) for the duplicate finder.
\if :{?customers}
\else
\set customers 5000
\endif
\echo
\echo '== Loading demo data:' :customers 'customers'
SET client_min_messages = warning;
SELECT setseed(0.42) \gset
-- Three years of history up to today, so recency-based figures look like a live business.
SELECT date_trunc('day', now()) - interval '3 years' AS t0, date_trunc('day', now()) AS t1 \gset

-- Given names: two-syllable Chinese names (as most are) and some Western ones.
CREATE TEMP TABLE given_names(i, n) AS
SELECT row_number() OVER (ORDER BY n), n FROM (
  SELECT s1 || s2 AS n
    FROM unnest(ARRAY['Wei','Fang','Na','Min','Jing','Li','Qiang','Lei','Jun','Yang','Yan','Jie','Tao','Ming',
                      'Chao','Xiu','Hui','Ying','Hong','Ping','Xiao','Hao','Yu','Zi','Yi','Ruo','Jia','Zhi',
                      'Shu','Kai']) s1,
         unnest(ARRAY['ming','ran','xuan','han','chen','xi','hui','wei','ting','yu','lan','mei','qing','dan',
                      'bo','rui','xin','peng','jie','na','long','fei','jun','yan','lin','hua','tian','yue',
                      'kang','le']) s2
  UNION ALL
  SELECT unnest(ARRAY['Anna','James','Maria','David','Sarah','Michael','Emma','Daniel','Olivia','Lucas',
                      'Sophie','Thomas','Laura','Peter','Julia','Mark','Nina','Paul','Eva','Leo'])) g;
CREATE TEMP TABLE family_names(i, n) AS
SELECT row_number() OVER (), n FROM unnest(ARRAY[
  'Wang','Li','Zhang','Liu','Chen','Yang','Huang','Zhao','Wu','Zhou','Xu','Sun','Ma','Zhu','Hu','Guo',
  'He','Lin','Gao','Luo','Smith','Brown','Miller','Garcia','Müller','Rossi']) n;
CREATE TEMP TABLE cities(i, city, region, store_count) AS
SELECT * FROM (VALUES (1, 'Shanghai', 'east', 6), (2, 'Beijing', 'north', 5), (3, 'Guangzhou', 'south', 4),
  (4, 'Shenzhen', 'south', 4), (5, 'Hangzhou', 'east', 3), (6, 'Chengdu', 'west', 3),
  (7, 'Wuhan', 'central', 2), (8, 'Nanjing', 'east', 2)) v;

-- Customers.
INSERT INTO crm.customer (name, gender, birth_date, occupation, email, phone, region, city, postcode,
                          income_band, education, owner, created_at)
SELECT f.n || ' ' || g.n,
       CASE WHEN s.r1 < 0.52 THEN 'female' WHEN s.r1 < 0.97 THEN 'male' ELSE 'unknown' END,
       CASE WHEN s.r2 < 0.85 THEN DATE '1965-01-01' + (s.r3 * 14000)::int END,
       (ARRAY['student','engineer','teacher','designer','nurse','sales','manager','retired','freelancer'])[1 + (s.r4 * 8)::int],
       CASE WHEN s.r5 < 0.8 THEN
            (lower(translate(g.n || '.' || f.n, 'ü', 'u')) || s.k || '@' ||
             (ARRAY['qq.com','163.com','example.com','mail.example.cn','gmail.com'])[1 + (s.r6 * 4)::int])::crm.email END,
       ('+86 1' || (ARRAY['3','5','7','8','9'])[1 + (s.r7 * 4)::int] || lpad((s.k::bigint * 7919 % 1000000000)::text, 9, '0'))::crm.phone,
       c.region, c.city, lpad((100000 + c.i * 10000 + (s.r8 * 999)::int)::text, 6, '0'),
       (ARRAY['low','lower_middle','middle','upper_middle','high'])[1 + (s.r9 * 4)::int],
       (ARRAY['secondary','vocational','bachelor','master','doctorate'])[1 + (s.r4 * 4)::int],
       'staff_' || (1 + s.k % 12),
       :'t0'::timestamptz + s.r3 * interval '1000 days'
  FROM (SELECT k, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6,
               random() r7, random() r8, random() r9,
               1 + (k * 7 + (random() * 919)::int) % 920 AS gi, 1 + (k * 13 + (random() * 25)::int) % 26 AS fi
          FROM generate_series(1, :customers) AS k OFFSET 0) s
  JOIN given_names g ON g.i = s.gi
  JOIN family_names f ON f.i = s.fi
  JOIN cities c ON c.i = 1 + (s.k % 8)
 ORDER BY s.k;

-- Every customer has an identity in the channel they signed up in.
INSERT INTO crm.customer_identity (channel, external_id, customer_id, created_at)
SELECT (ARRAY['app','mini_program','online','store_card'])[1 + id % 4],
       (ARRAY['APP-','MP-','WEB-','CARD-'])[1 + id % 4] || lpad((id * 104729 % 100000000)::text, 8, '0'),
       id, created_at
  FROM crm.customer;

-- About 3% are entered a second time through another channel: a typo in the
-- name (two letters swapped), the email in capitals or missing, and the same
-- phone, or the same name, city and birth date with a new phone.
INSERT INTO crm.customer (name, gender, birth_date, email, phone, region, city, owner, created_at)
SELECT CASE WHEN id % 2 = 0
            THEN substr(name, 1, 2) || substr(name, 4, 1) || substr(name, 3, 1) || substr(name, 5)
            ELSE name END,
       gender, birth_date,
       CASE WHEN (id / 33) % 3 <> 0 THEN upper(email::text)::crm.email END,
       CASE WHEN id % 2 = 0 THEN phone
            ELSE ('+86 139' || lpad((id * 31 % 100000000)::text, 8, '0'))::crm.phone END,
       region, city, owner, created_at + interval '200 days'
  FROM crm.customer
 WHERE id % 33 = 5;
INSERT INTO crm.customer_identity (channel, external_id, customer_id, created_at)
SELECT 'social', 'WX-' || lpad(id::text, 8, '0'), id, created_at
  FROM crm.customer WHERE id > (SELECT max(id) FROM crm.customer) - (SELECT count(*) FROM crm.customer WHERE id % 33 = 5 AND id <= :customers);

-- Purchases: a few loyal customers buy weekly, most buy now and then, some never.
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, quantity, amount, store)
SELECT c.id, t.at,
       ch.channel,
       p.product, q.quantity, round(p.price * q.quantity * (0.9 + random() * 0.2)::numeric, 2),
       CASE WHEN ch.channel = 'store' THEN c.city || ' #' || (1 + (random() * 3)::int) END
  FROM crm.customer c
  CROSS JOIN LATERAL (SELECT CASE WHEN c.id % 10 = 0 THEN 0
                                  WHEN c.id % 17 = 0 THEN 60 + (random() * 80)::int
                                  ELSE (random() * random() * 25)::int END AS n) k
  CROSS JOIN LATERAL generate_series(1, k.n) AS g(j)
  CROSS JOIN LATERAL (SELECT greatest(c.created_at, :'t0'::timestamptz) +
                             random() * (:'t1'::timestamptz - greatest(c.created_at, :'t0'::timestamptz)) AS at,
                             g.j AS j2) t
  CROSS JOIN LATERAL (SELECT (ARRAY['store','store','store','app','mini_program','mini_program','online','phone'])[1 + (random() * 7)::int] AS channel, t.j2) ch
  CROSS JOIN LATERAL (SELECT (ARRAY['Oolong Milk Tea','Jasmine Green Tea','Brown Sugar Boba','Matcha Latte',
                                    'Lemon Black Tea','Peach Oolong','Taro Milk Tea','Cheese Foam Tea'])[1 + (random() * 7)::int] AS product,
                             (ARRAY[16, 14, 19, 22, 13, 18, 17, 24])[1 + (random() * 7)::int]::numeric AS price, ch.j2) p
  CROSS JOIN LATERAL (SELECT 1 + (random() < 0.2)::int + (random() < 0.05)::int AS quantity, p.j2) q;

-- Interactions: inquiries, suggestions, complaints, calls.
INSERT INTO crm.interaction (customer_id, occurred_at, channel, kind, content, staff)
SELECT c.id, c.created_at + random() * interval '600 days',
       (ARRAY['phone','app','mini_program','store','email','social'])[1 + (random() * 5)::int],
       (ARRAY['inquiry','inquiry','suggestion','complaint','call','visit','message'])[1 + (random() * 6)::int],
       (ARRAY['asked about opening hours','asked for less sugar options','delivery was late',
              'drink was too sweet','suggested a loyalty card','praised the new oolong'])[1 + (random() * 5)::int],
       'staff_' || (1 + (random() * 11)::int)
  FROM crm.customer c, generate_series(1, 2) g
 WHERE random() < 0.3;

ANALYZE crm.customer; ANALYZE crm.purchase; ANALYZE crm.interaction; ANALYZE crm.customer_identity;
RESET client_min_messages;
SELECT (SELECT count(*) FROM crm.customer) AS customers, (SELECT count(*) FROM crm.purchase) AS purchases,
       (SELECT count(*) FROM crm.interaction) AS interactions, (SELECT count(*) FROM crm.customer_identity) AS identities;
