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

-- Aggregate states: the text forms that parallel query and distributed plans ship between
-- processes.  Real states are mutated (a character replaced, inserted or deleted, a piece
-- repeated, the end cut off); every mutant must either fail with a data error (class 22, or
-- 54000 for a size limit) or be accepted, round-trip exactly, and go through the combine and
-- final functions with at most a data error.  Anything else (an internal error, a crash)
-- stops the run.
-- The transition functions without their final functions give the states themselves.
CREATE AGGREGATE pg_temp.st_ab(text, boolean, text) (SFUNC = crm.ab_test_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_welch(text, double precision, text) (SFUNC = crm.welch_test_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_funnel(text, text[]) (SFUNC = crm.funnel_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_markov(text[], bigint, bigint, numeric) (SFUNC = crm.markov_attribution_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_heuristic(text[], bigint, numeric) (SFUNC = crm.heuristic_attribution_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_rating(jsonb) (SFUNC = crm.rating_summary_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.m_tally(crm.tally) (SFUNC = crm.tally_combine, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.m_clv(crm.clv_sample) (SFUNC = crm.clv_sample_combine, STYPE = crm.clv_sample);
CREATE AGGREGATE pg_temp.m_spend(crm.clv_spend_sample) (SFUNC = crm.clv_spend_sample_combine, STYPE = crm.clv_spend_sample);
CREATE AGGREGATE pg_temp.m_rfm(crm.rfm_table) (SFUNC = crm.rfm_collect_combine, STYPE = crm.rfm_table);
CREATE TEMP TABLE state_seeds (typ text, v text, calls text[]);
INSERT INTO state_seeds
SELECT 'crm.tally', (SELECT pg_temp.st_ab(v, c, 'a') FROM (VALUES ('a', true), ('a', false), ('b', true), ('b', false), ('b', false)) x(v, c))::text,
       ARRAY['crm.ab_test_final(%s)', 'crm.ab_test_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.tally', (SELECT pg_temp.st_welch(v, y, 'a') FROM (VALUES ('a', 1.5), ('a', 2.5), ('b', 2.25), ('b', 4.0)) x(v, y))::text,
       ARRAY['crm.welch_test_final(%s)', 'crm.welch_test_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.tally', (SELECT pg_temp.st_funnel(st, '{lead,qualified,won}') FROM (VALUES ('lead'), ('won'), ('qualified')) x(st))::text,
       ARRAY['crm.funnel_final(%s)', 'crm.funnel_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.tally', (SELECT pg_temp.st_markov(p, c, n, val) FROM (VALUES ('{a,b}'::text[], 1::bigint, 2::bigint, 10.5), ('{b}', 3, 0, 7), ('{c,a}', 0, 1, 0)) x(p, c, n, val))::text,
       ARRAY['crm.markov_attribution_final(%s)', 'crm.markov_attribution_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.tally', (SELECT pg_temp.st_heuristic(p, c, val) FROM (VALUES ('{a,b}'::text[], 1::bigint, 10.5), ('{b}', 3, 7)) x(p, c, val))::text,
       ARRAY['crm.heuristic_attribution_final(%s)', 'crm.heuristic_attribution_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.tally', (SELECT pg_temp.st_rating(r) FROM (VALUES ('{"taste": 5, "service": 3}'::jsonb), ('{"taste": 2}')) x(r))::text,
       ARRAY['crm.rating_summary_final(%s)', 'crm.rating_summary_final(pg_temp.m_tally(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.clv_sample', (SELECT crm.clv_sample_agg(x, tx, tc) FROM (VALUES (2, 3.5, 10.25), (0, 0, 7), (5, 30, 31), (2, 3.5, 10.25)) v(x, tx, tc))::text,
       ARRAY['crm.bgnbd_fit_final(%s)', 'crm.bgnbd_fit_final(pg_temp.m_clv(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.clv_spend_sample', '{(2,22.345,1),(1,9.99,4),(4,30.125,2)}',
       ARRAY['crm.gamma_gamma_fit_final(%s)', 'crm.gamma_gamma_fit_final(pg_temp.m_spend(x)) FROM (VALUES (%s), (%1$s)) t(x)']
UNION ALL SELECT 'crm.rfm_table', (SELECT crm.rfm_collect(c, t, a) FROM (VALUES (1, timestamptz '2025-01-01', 10.5), (2, '2025-02-01', 3), (1, '2025-03-01', 0.25)) v(c, t, a))::text,
       ARRAY['crm.rfm_table_customers(%s)', 'crm.rfm_table_customers(pg_temp.m_rfm(x)) FROM (VALUES (%s), (%1$s)) t(x)'];
SELECT typ, count(*) AS seeds FROM state_seeds GROUP BY typ ORDER BY typ;

DO $$
DECLARE
    alphabet text := '{}[]():,;"\ 0123456789.-+eE:abxyzNaInf';
    s record; m text; back text; c text; i int; pos int;
    accepted int := 0; rejected int := 0; call_errors int := 0;
BEGIN
    FOR i IN 1 .. greatest(current_setting('crm_fuzz.states')::int, 1) LOOP
        SELECT * INTO s FROM state_seeds ORDER BY random() LIMIT 1;
        m := s.v;
        FOR k IN 1 .. 1 + (random() * 2)::int LOOP
            pos := 1 + (random() * greatest(length(m) - 1, 0))::int;
            m := CASE (random() * 4)::int
                   WHEN 0 THEN overlay(m placing substr(alphabet, 1 + (random() * (length(alphabet) - 1))::int, 1) from pos for 1)
                   WHEN 1 THEN overlay(m placing substr(alphabet, 1 + (random() * (length(alphabet) - 1))::int, 1) from pos for 0)
                   WHEN 2 THEN overlay(m placing '' from pos for 1 + (random() * 3)::int)
                   WHEN 3 THEN overlay(m placing substr(m, pos, 1 + (random() * 12)::int) from pos for 0)
                   ELSE left(m, pos)
                 END;
        END LOOP;
        BEGIN
            EXECUTE format('SELECT %L::%s::text', m, s.typ) INTO back;
        EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
            rejected := rejected + 1;
            CONTINUE;
        END;
        accepted := accepted + 1;
        EXECUTE format('SELECT %L::%s::text = %L', back, s.typ, back) INTO STRICT c;
        IF c IS DISTINCT FROM 'true' THEN
            RAISE EXCEPTION '% state % does not round-trip (reads back as %)', s.typ, m, back;
        END IF;
        FOREACH c IN ARRAY s.calls LOOP
            BEGIN
                EXECUTE 'SELECT ' || format(c, format('%L::%s', back, s.typ));
            EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
                call_errors := call_errors + 1;
            END;
        END LOOP;
    END LOOP;
    RAISE WARNING 'aggregate states: % mutants accepted (and round-tripped), % rejected with a data error; % data errors from combine/final functions',
        accepted, rejected, call_errors;
END $$;
