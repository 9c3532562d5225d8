-- pgTAP: crm.email and crm.phone as application developers use them
BEGIN;
SELECT plan(26);
SET LOCAL search_path = crm, public;

SELECT has_type('crm', 'email', 'type crm.email exists');
SELECT has_type('crm', 'phone', 'type crm.phone exists');

-- Errors carry SQLSTATE 22P02 and name the value.
SELECT throws_ok($$SELECT 'not-an-email'::crm.email$$, '22P02',
                 'invalid input syntax for type crm.email: "not-an-email"', 'bad email is 22P02');
SELECT throws_ok($$SELECT '12345'::crm.phone$$, '22P02',
                 'invalid input syntax for type crm.phone: "12345"', 'bad phone is 22P02');
SELECT throws_ok($$SELECT ''::crm.email$$, '22P02', NULL, 'empty email is 22P02');
SELECT throws_ok($$SELECT ' '::crm.phone$$, '22P02', NULL, 'blank phone is 22P02');
SELECT throws_ok($$SET crm.default_country = 'ZZ'$$, '22023', NULL, 'unknown default country is 22023');
SELECT throws_ok($$SELECT crm.phone_format('+14155552671', 'pretty')$$, '22023', NULL, 'unknown format style is 22023');

-- Normalisation gives one canonical value per address or number.
SELECT is('  Foo.Bar@EXAMPLE.org '::crm.email::text, 'foo.bar@example.org', 'email trimmed and lower-cased');
SELECT is('+86 138-0013-8000'::crm.phone::text, '+8613800138000', 'phone from +86 with hyphens');
SELECT is('0044 20 7946 0958'::crm.phone::text, '+442079460958', 'phone with 00 prefix');
SELECT is('+49 (0)30 1234567'::crm.phone::text, '+49301234567', 'phone with (0) trunk prefix');
SET LOCAL crm.default_country = 'US';
SELECT is('(415) 555-2671'::crm.phone::text, '+14155552671', 'national US number with default country');
SET LOCAL crm.default_country = 'CN';
SELECT is('010 1234 5678'::crm.phone::text, '+861012345678', 'national CN landline with trunk 0');
SELECT is(crm.phone_format('+8613800138000', 'international'), '+86 138 0013 8000', 'international format');
SELECT is(crm.phone_format('+14155552671', 'national'), '(415) 555-2671', 'NANP national format');
SELECT is(crm.phone_country_code('+8613800138000'), 86, 'country code accessor');
SELECT is(crm.email_domain('a@Shop.Example.com'), 'shop.example.com', 'email domain accessor');

-- Keys and joins.
CREATE TEMP TABLE people (email crm.email PRIMARY KEY, phone crm.phone UNIQUE);
INSERT INTO people VALUES ('ann@example.com', '+14155552671');
SELECT throws_ok($$INSERT INTO people VALUES ('ANN@EXAMPLE.COM', '+12125550100')$$, '23505', NULL,
                 'case variant of an email violates the primary key');
SELECT throws_ok($$INSERT INTO people VALUES ('bob@example.com', '+1 (415) 555-2671')$$, '23505', NULL,
                 'other written form of a phone violates the unique key');
SELECT is((SELECT count(*)::int FROM people p JOIN (VALUES ('Ann@Example.COM'::crm.email)) v(e) ON p.email = v.e), 1,
          'join on email ignores case');

-- Bad input leaves data unchanged.
SELECT throws_ok($$INSERT INTO people VALUES ('c@example.com', '+1 415'), ('d@@x.com', '+12125550101')$$, '22P02', NULL,
                 'a batch with one bad value is refused');
SELECT is((SELECT count(*)::int FROM people), 1, 'and nothing of it was stored');

-- Soft validation for data cleaning.
SELECT ok(crm.email_is_valid('x@y.co') AND NOT crm.email_is_valid('x@y'), 'email_is_valid');
SELECT ok(crm.phone_is_valid('+14155552671') AND NOT crm.phone_is_valid('+1415'), 'phone_is_valid');
SELECT is((SELECT count(*)::int FROM unnest(ARRAY['a@b.co', 'bad', 'c@d.org']) s WHERE crm.email_is_valid(s)), 2,
          'filtering valid addresses from raw text');

SELECT * FROM finish();
ROLLBACK;
