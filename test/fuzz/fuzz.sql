-- In-server fuzzing of the crm.email and crm.phone input and receive functions.
-- Every bad value must give an error with SQLSTATE 22P02 (text input) or a
-- binary-format error (receive), never a crash; good values must round-trip.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET search_path = crm, public;
SELECT setseed(0.5);

CREATE TEMP TABLE seeds(s) AS VALUES
  ('john.doe@example.com'), ('A.B+tag@sub.Example.CO.uk'), ('x@y'), ('a@b@c.de'), ('"q"@x.com'),
  ('+86 138-0013-8000'), ('(415) 555-2671'), ('0044 20 7946 0958'), ('+49 (0)30 1234567'), ('+'), ('00');

-- Random strings from a telephone-and-email alphabet, random Unicode, and mutated seeds.
CREATE TEMP TABLE inputs AS
SELECT CASE g % 3
         WHEN 0 THEN (SELECT string_agg(substr('0123456789+-() ./@aZ_x(0)', (random() * 25)::int + 1, 1), '')
                        FROM generate_series(1, (random() * 30)::int + g * 0))
         WHEN 1 THEN (SELECT string_agg(chr(1 + (random() * 70000)::int % 55000), '')
                        FROM generate_series(1, (random() * 20)::int + g * 0))
         ELSE (SELECT overlay(s placing chr(32 + (random() * 90)::int) from 1 + (random() * (length(s) - 1))::int for (random() * 2)::int)
                 FROM seeds ORDER BY random() + g * 0 LIMIT 1)
       END AS s
  FROM generate_series(1, :n) g;

SELECT count(*) AS inputs,
       count(*) FILTER (WHERE crm.email_is_valid(s)) AS valid_emails,
       count(*) FILTER (WHERE crm.phone_is_valid(s)) AS valid_phones
  FROM inputs WHERE s IS NOT NULL;

-- Through the real input functions: errors must all be 22P02, valid values must round-trip.
DO $$
DECLARE
    r record; e crm.email; p crm.phone; ok int := 0; bad int := 0; state text;
BEGIN
    FOR r IN SELECT s FROM inputs WHERE s IS NOT NULL LOOP
        BEGIN
            e := r.s::crm.email;
            IF e::text::crm.email <> e OR NOT crm.email_is_valid(r.s) THEN
                RAISE EXCEPTION 'email % does not round-trip', r.s;
            END IF;
            ok := ok + 1;
        EXCEPTION WHEN invalid_text_representation THEN
            IF crm.email_is_valid(r.s) THEN RAISE EXCEPTION 'email_is_valid disagrees on %', r.s; END IF;
            bad := bad + 1;
        END;
        BEGIN
            p := r.s::crm.phone;
            IF p::text::crm.phone <> p OR crm.phone_format(p, 'international')::crm.phone <> p THEN
                RAISE EXCEPTION 'phone % does not round-trip', r.s;
            END IF;
            ok := ok + 1;
        EXCEPTION WHEN invalid_text_representation THEN
            bad := bad + 1;
        END;
    END LOOP;
    RAISE WARNING 'text input: % accepted, % rejected with 22P02', ok, bad;
END $$;

-- The other text types of the extension get the same inputs: bad ones must fail with 22P02
-- (54000 for a tag set over its size limit, 22003 for an RFM digit out of 1..5), good ones
-- must round-trip.
DO $$
DECLARE
    r record; t crm.tagset; score crm.rfm; ok int := 0; bad int := 0;
BEGIN
    FOR r IN SELECT x.v FROM (SELECT i.s AS v FROM inputs i
                            UNION ALL SELECT '{' || i.s || '}' FROM inputs i
                            UNION ALL SELECT translate(i.s, '+@', ',:') FROM inputs i) x WHERE x.v IS NOT NULL LOOP
        BEGIN
            t := r.v::crm.tagset;
            IF t::text::crm.tagset <> t THEN RAISE EXCEPTION 'tagset % does not round-trip', r.v; END IF;
            ok := ok + 1;
        EXCEPTION WHEN invalid_text_representation OR program_limit_exceeded THEN
            bad := bad + 1;
        END;
        BEGIN
            score := r.v::crm.rfm;
            IF score::text::crm.rfm <> score THEN RAISE EXCEPTION 'rfm % does not round-trip', r.v; END IF;
            ok := ok + 1;
        EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
            bad := bad + 1;
        END;
    END LOOP;
    RAISE WARNING 'tagset and rfm text input: % accepted, % rejected', ok, bad;
END $$;

-- Through the binary receive functions: random payloads in binary COPY files.
CREATE TEMP TABLE payload (b bytea);
CREATE TEMP TABLE email_in (e crm.email);
CREATE TEMP TABLE phone_in (p crm.phone);
DO $$
DECLARE
    f text := current_setting('data_directory') || '/crm_fuzz.bin';
    i int; accepted int := 0; rejected int := 0;
BEGIN
    FOR i IN 1 .. current_setting('crm_fuzz.binary')::int LOOP
        TRUNCATE payload;
        INSERT INTO payload
        SELECT CASE WHEN i % 2 = 0
                    THEN decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex')
                    ELSE int8send((random() * 9e15)::bigint) END
          FROM generate_series(1, CASE WHEN i % 2 = 0 THEN (random() * 40)::int ELSE 1 END);
        EXECUTE format('COPY payload TO %L WITH (FORMAT binary)', f);
        BEGIN
            EXECUTE format('COPY email_in FROM %L WITH (FORMAT binary)', f);
            accepted := accepted + 1;
        EXCEPTION WHEN invalid_text_representation OR invalid_binary_representation OR protocol_violation THEN
            rejected := rejected + 1;
        END;
        BEGIN
            EXECUTE format('COPY phone_in FROM %L WITH (FORMAT binary)', f);
            accepted := accepted + 1;
        EXCEPTION WHEN invalid_text_representation OR invalid_binary_representation OR protocol_violation THEN
            rejected := rejected + 1;
        END;
    END LOOP;
    RAISE WARNING 'binary input: % accepted, % rejected', accepted, rejected;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM email_in WHERE e IS NOT NULL AND NOT crm.email_is_valid(e::text)) THEN
        RAISE EXCEPTION 'binary input accepted an invalid email';
    END IF;
    IF EXISTS (SELECT 1 FROM phone_in WHERE p IS NOT NULL AND NOT crm.phone_is_valid(p::text)) THEN
        RAISE EXCEPTION 'binary input accepted an invalid phone';
    END IF;
END $$;
SELECT count(e) AS received_emails, count(p) AS received_phones
  FROM (SELECT e, NULL::crm.phone AS p FROM email_in UNION ALL SELECT NULL, p FROM phone_in) s;
