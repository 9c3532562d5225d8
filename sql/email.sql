-- crm.email: validation, normalisation, comparison, indexes, binary I/O

-- The operators live in schema crm: without it on the search_path, comparing
-- is an error rather than a silent case-sensitive text comparison.
SELECT 'A@B.CO'::crm.email = 'a@b.co';
SET search_path = crm, public;

-- Normalisation: surrounding whitespace trimmed, lower case.
SELECT 'John.Doe@Example.COM'::crm.email;
SELECT '  alice@example.org  '::crm.email;
SELECT E'\tbob+news@mail.example.co.uk\n'::crm.email;
SELECT 'o''brien!#$%&*+/=?^_`{|}~-@x-y.example'::crm.email;
SELECT 'a@xn--fsqu00a.xn--0zwm56d'::crm.email;
SELECT 'user@sub-domain.example123.com'::crm.email;

-- Accessors.
SELECT crm.email_domain('Mary.Smith@Shop.Example.COM'), crm.email_local('Mary.Smith@Shop.Example.COM');

-- Case-insensitive comparison and ordering.
SELECT 'A@B.CO'::crm.email = 'a@b.co'::crm.email AS eq,
       'A@B.CO'::crm.email <> 'a@b.co'::crm.email AS ne,
       'a@b.co'::crm.email < 'B@b.co'::crm.email AS lt,
       'b@b.co'::crm.email >= 'A@B.CO'::crm.email AS ge,
       crm.email_cmp('x@y.zz', 'X@Y.ZZ') AS cmp0,
       crm.email_cmp('a@y.zz', 'b@y.zz') AS cmp_neg;
SELECT crm.email_hash('Ann@Example.com') = crm.email_hash('ann@example.COM') AS same_hash,
       crm.email_hash_extended('Ann@Example.com', 7) = crm.email_hash_extended('ann@example.COM', 7) AS same_hash64;

-- Validity check without an error.
SELECT s, crm.email_is_valid(s)
  FROM unnest(ARRAY['a@b.co', 'a@b', 'a b@c.de', '', 'ä@b.de', 'a@@b.de']) AS s;

-- Length limits: local part 64, label 63, whole address 254.
SELECT crm.email_is_valid(repeat('a', 64) || '@example.com') AS local64,
       crm.email_is_valid(repeat('a', 65) || '@example.com') AS local65,
       crm.email_is_valid('a@' || repeat('b', 63) || '.com') AS label63,
       crm.email_is_valid('a@' || repeat('b', 64) || '.com') AS label64,
       crm.email_is_valid('a@' || repeat('b', 60) || '.' || repeat('c', 60) || '.' || repeat('d', 60) || '.' || repeat('e', 60) || '.com') AS len253,
       crm.email_is_valid(repeat('a', 64) || '@' || repeat('b', 60) || '.' || repeat('c', 60) || '.' || repeat('d', 60) || '.com') AS len255;

-- Each kind of bad input and its message.
\set VERBOSITY default
SELECT 'not-an-email'::crm.email;
SELECT ''::crm.email;
SELECT '   '::crm.email;
SELECT 'a@b@c.com'::crm.email;
SELECT 'john doe@example.com'::crm.email;
SELECT '@example.com'::crm.email;
SELECT 'john@'::crm.email;
SELECT '.john@example.com'::crm.email;
SELECT 'john.@example.com'::crm.email;
SELECT 'jo..hn@example.com'::crm.email;
SELECT 'jo"hn@example.com'::crm.email;
SELECT 'john@localhost'::crm.email;
SELECT 'john@example..com'::crm.email;
SELECT 'john@.example.com'::crm.email;
SELECT 'john@-example.com'::crm.email;
SELECT 'john@example-.com'::crm.email;
SELECT 'john@exa_mple.com'::crm.email;
SELECT 'john@example.c'::crm.email;
SELECT 'john@example.123'::crm.email;
SELECT 'john@[192.168.0.1]'::crm.email;
SELECT 'jöhn@example.com'::crm.email;
SELECT 'john@例子.测试'::crm.email;
SELECT (repeat('a', 65) || '@example.com')::crm.email;
SELECT ('a@' || repeat('b', 64) || '.com')::crm.email;

-- NULL in, NULL out.
SELECT NULL::crm.email IS NULL AS is_null, crm.email_domain(NULL) IS NULL AS domain_null;

-- Casts from and to text.
SELECT 'X@Y.ORG'::text::crm.email::text AS roundtrip, pg_typeof('x@y.org'::crm.email::text);
SELECT length('Ab@Cd.org'::crm.email::text) AS len_via_text, 'ab@cd.org'::crm.email::text LIKE '%@cd.org' AS like_works;

-- Keys: a unique index treats case variants as equal; btree and hash indexes are used.
CREATE TABLE email_t (e crm.email PRIMARY KEY);
INSERT INTO email_t VALUES ('a@example.com'), ('b@example.com');
INSERT INTO email_t VALUES ('A@EXAMPLE.COM');
INSERT INTO email_t SELECT ('user' || g || '@example.com')::crm.email FROM generate_series(1, 2000) g;
ANALYZE email_t;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM email_t WHERE e = 'USER42@example.com';
SELECT * FROM email_t WHERE e = 'USER42@example.com';
-- Range scans order by the bytes of the lower-case address, as text in the C collation does.
SELECT count(*) AS via_index,
       (SELECT count(*) FROM email_t WHERE e::text COLLATE "C" BETWEEN 'user10@example.com' AND 'user19@example.com') AS via_text
  FROM email_t WHERE e BETWEEN 'user10@example.com' AND 'USER19@example.com';
CREATE INDEX email_t_hash ON email_t USING hash (e);
EXPLAIN (COSTS OFF) SELECT * FROM email_t WHERE e = 'USER42@example.com';
SELECT * FROM email_t WHERE e = 'User1999@Example.com';
RESET enable_seqscan;

-- Hash join and hash aggregate.
CREATE TABLE email_u AS SELECT upper(e::text)::crm.email AS e FROM email_t WHERE e::text LIKE 'user1%';
SET enable_mergejoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM email_t t JOIN email_u u ON t.e = u.e;
SELECT count(*) FROM email_t t JOIN email_u u ON t.e = u.e;
RESET enable_mergejoin; RESET enable_nestloop;
SELECT count(DISTINCT e) FROM (SELECT e FROM email_t UNION ALL SELECT e FROM email_u) s;

-- Binary COPY round trip.
CREATE TABLE email_copy (LIKE email_t);
\getenv abs_builddir PG_ABS_BUILDDIR
\set copyfile :abs_builddir '/results/email.bin'
COPY email_t TO :'copyfile' WITH (FORMAT binary);
COPY email_copy FROM :'copyfile' WITH (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE c.e = t.e) AS equal
  FROM email_copy c JOIN email_t t ON c.e = t.e;

DROP TABLE email_t, email_u, email_copy;
RESET search_path;
