-- crm.phone: parsing what people type into E.164, country rules, formatting, keys, binary I/O
SET search_path = crm, public;

-- With no default country, numbers must carry their country code.
SELECT '+86 138-0013-8000'::phone AS cn_mobile,
       '0044 20 7946 0958'::phone AS gb_idd00,
       '+49 (0)30 1234567'::phone AS de_trunk_in_parens,
       '+1 (415) 555-2671'::phone AS us,
       '+33 1 23 45 67 89'::phone AS fr,
       '+91 98765 43210'::phone AS in_mobile,
       '  +81 90-1234-5678 '::phone AS jp_trimmed;
SELECT '(415) 555-2671'::phone;
SHOW crm.default_country;

-- A default country fills in the country code and strips the trunk prefix.
SET crm.default_country = 'US';
SELECT '(415) 555-2671'::phone AS plain, '1-415-555-2671'::phone AS with_trunk,
       '415.555.2671'::phone AS dots, '011 44 20 7946 0958'::phone AS us_idd;
SET crm.default_country = 'cn';
SELECT '138 0013 8000'::phone AS mobile, '010-1234 5678'::phone AS beijing, '0755-1234567'::phone AS shenzhen_7,
       '00 1 212 555 0100'::phone AS idd_to_us;
SET crm.default_country = 'GB';
SELECT '020 7946 0958'::phone AS london, '07700 900123'::phone AS mobile, '(0)20 7946 0958'::phone AS paren_trunk;
SET crm.default_country = 'DE';
SELECT '030 1234567'::phone AS berlin, '0151 23456789'::phone AS mobile;
SET crm.default_country = 'IT';
SELECT '06 1234 5678'::phone AS rome_keeps_zero, '347 123 4567'::phone AS mobile;
SET crm.default_country = 'RU';
SELECT '8 912 345-67-89'::phone AS ru_trunk8, '810 86 138 0013 8000'::phone AS ru_idd;
SET crm.default_country = 'AU';
SELECT '0412 345 678'::phone AS au_mobile, '0011 44 20 7946 0958'::phone AS au_idd;
SET crm.default_country = 'JP';
SELECT '090-1234-5678'::phone AS jp_mobile, '010 1 415 555 2671'::phone AS jp_idd;
SET crm.default_country = 'JM';
SELECT '876 555 1234'::phone AS jamaica_nanp;

-- Unknown countries in the GUC are refused.
SET crm.default_country = 'XX';
SET crm.default_country = 'USA';
RESET crm.default_country;

-- Validation by country: one valid and one invalid length for each rule.
SELECT c.cc, c.len,
       phone_is_valid('+' || c.cc || rpad('2', c.len, '3')) AS valid
  FROM (VALUES (1, 10), (1, 9), (7, 10), (7, 11), (20, 10), (20, 7), (27, 9), (27, 10),
               (33, 9), (33, 8), (34, 9), (34, 10), (39, 6), (39, 12), (44, 10), (44, 11),
               (49, 6), (49, 14), (52, 10), (52, 9), (54, 11), (54, 12), (55, 11), (55, 9),
               (57, 10), (57, 9), (62, 12), (62, 7), (63, 10), (63, 11), (66, 9), (66, 10),
               (81, 10), (81, 8), (82, 10), (82, 7), (84, 9), (84, 11), (86, 11), (86, 9),
               (90, 10), (90, 9), (91, 10), (91, 11), (92, 10), (92, 8), (93, 9), (93, 8),
               (95, 10), (95, 6), (98, 10), (98, 9), (212, 9), (212, 10), (213, 9), (213, 7),
               (234, 10), (234, 11), (243, 9), (243, 8), (249, 9), (249, 10), (251, 9), (251, 8),
               (254, 9), (254, 10), (255, 9), (255, 8), (256, 9), (256, 10), (380, 9), (380, 10),
               (880, 10), (880, 11), (964, 10), (964, 11), (966, 9), (966, 10), (998, 9), (998, 8))
       AS c(cc, len)
 ORDER BY c.cc, c.len;

-- Calling codes without specific rules follow the general E.164 limits.
SELECT '+354 555 1234'::phone AS iceland, '+683 4002'::phone AS niue_4_digits;
SELECT phone_is_valid('+354 123') AS too_short, phone_is_valid('+354 1234 5678 9012') AS max_15, phone_is_valid('+354 1234 5678 9012 3') AS too_long;

-- Accessors and formats.
SELECT p, phone_country_code(p) AS cc, phone_national(p) AS national,
       phone_format(p, 'e164') AS e164, phone_format(p, 'international') AS international,
       phone_format(p, 'national') AS national_style
  FROM unnest(ARRAY['+8613800138000', '+861012345678', '+867551234567', '+14155552671',
                    '+442079460958', '+4930123456', '+390612345678', '+79123456789',
                    '+33123456789', '+919876543210', '+819012345678', '+3545551234',
                    '+3221234567', '+3612345678', '+4741234567', '+66812345678']::phone[]) AS p;
SELECT phone_format('+8613800138000', 'E164') AS case_insensitive_style, phone_format('+8613800138000') AS default_style;
SELECT phone_format('+8613800138000', 'fancy');

-- Each kind of bad input and its message.
SELECT '12345'::phone;
SELECT ''::phone;
SELECT 'call me'::phone;
SELECT '+1 415 555 2671 ext 3'::phone;
SELECT '+44 20 7946 0958+1'::phone;
SELECT '+'::phone;
SELECT '+999 123 4567'::phone;
SELECT '+1 415 555 267'::phone;
SELECT '+1 115 555 2671'::phone;
SELECT '+1 415 155 2671'::phone;
SELECT '+44 020 7946 0958'::phone;
SELECT '+86 138 0013 8000 1234 5'::phone;
SELECT '+8613800138000123456789012345678901234567890'::phone;
SELECT E'+86 138\x01'::phone;
SELECT '＋86 138 0013 8000'::phone;
SET crm.default_country = 'US';
SELECT '12345'::phone;
RESET crm.default_country;

-- NULL in, NULL out.
SELECT NULL::phone IS NULL AS is_null, phone_country_code(NULL) IS NULL AS cc_null;

-- Casts to and from text.
SELECT '+86 138 0013 8000'::text::phone::text AS roundtrip;

-- Keys: every written form of one number is the same key.
CREATE TABLE phone_t (p phone PRIMARY KEY, note text);
INSERT INTO phone_t VALUES ('+86 138 0013 8000', 'first');
INSERT INTO phone_t VALUES ('0086 13800138000', 'same number, other form');
INSERT INTO phone_t SELECT ('+86 139' || lpad(g::text, 8, '0'))::phone, 'gen' FROM generate_series(1, 3000) g;
ANALYZE phone_t;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT note FROM phone_t WHERE p = '+86 139 0000 0042';
SELECT p, note FROM phone_t WHERE p = '+86 139-0000-0042';
SELECT count(*) FROM phone_t WHERE p BETWEEN '+8613900000100' AND '+8613900000199';
CREATE INDEX phone_t_hash ON phone_t USING hash (p);
EXPLAIN (COSTS OFF) SELECT note FROM phone_t WHERE p = '+86 139 0000 0042';
SELECT p FROM phone_t WHERE p = '+8613900003000';
RESET enable_seqscan;
CREATE TABLE phone_u AS SELECT p FROM phone_t WHERE phone_national(p) LIKE '1390000%';
SET enable_mergejoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM phone_t t JOIN phone_u u ON t.p = u.p;
SELECT count(*) FROM phone_t t JOIN phone_u u ON t.p = u.p;
RESET enable_mergejoin; RESET enable_nestloop;
SELECT count(DISTINCT p) FROM (SELECT p FROM phone_t UNION ALL SELECT p FROM phone_u) s;
-- Ordering is by the numeric value of the E.164 digits, as for bigint.
SELECT array_agg(p ORDER BY p) FROM unnest(ARRAY['+442079460958', '+14155552671', '+8613800138000', '+12125550100']::phone[]) p;

-- Binary COPY round trip; the binary form is the E.164 digits as an int8.
CREATE TABLE phone_copy (LIKE phone_t);
\getenv abs_builddir PG_ABS_BUILDDIR
\set copyfile :abs_builddir '/results/phone.bin'
COPY phone_t TO :'copyfile' WITH (FORMAT binary);
COPY phone_copy FROM :'copyfile' WITH (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE c.p = t.p AND c.note = t.note) AS equal
  FROM phone_copy c JOIN phone_t t ON c.p = t.p;
SELECT phone_send('+8613800138000') = int8send(8613800138000) AS wire_is_int8;
-- Binary input is validated too: an int8 that is not a valid number is refused.
CREATE TABLE int8_t (v bigint);
INSERT INTO int8_t VALUES (99912345678);
\set badfile :abs_builddir '/results/phone_bad.bin'
COPY int8_t TO :'badfile' WITH (FORMAT binary);
COPY phone_copy (p) FROM :'badfile' WITH (FORMAT binary);

DROP TABLE phone_t, phone_u, phone_copy, int8_t;
RESET search_path;
