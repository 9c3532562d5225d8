-- Security: roles, row-level security under SET ROLE, analysts and masking,
-- encryption, audit, export alerts, erasure searched in every text column,
-- retention, and search-path and injection attacks.
BEGIN;
SELECT plan(92);
SET search_path = crm, public;
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- ---------------------------------------------------------------- roles
SELECT lives_ok($$SELECT crm.create_roles()$$, 'create_roles() runs');
SELECT lives_ok($$SELECT crm.create_roles()$$, 'create_roles() runs again (idempotent)');
SELECT has_role(r, 'group role ' || r || ' exists')
  FROM unnest(ARRAY['crm_admin', 'crm_manager', 'crm_agent', 'crm_analyst']) r;

CREATE ROLE sec_alice; CREATE ROLE sec_bob; CREATE ROLE sec_carol;
CREATE ROLE sec_mike; CREATE ROLE sec_ann; CREATE ROLE sec_root;
GRANT crm_agent TO sec_alice, sec_bob, sec_carol;
GRANT crm_manager TO sec_mike;
GRANT crm_analyst TO sec_ann;
GRANT crm_admin TO sec_root;
INSERT INTO crm.team (name) VALUES ('sec_north'), ('sec_south');
INSERT INTO crm.staff (login, display_name, team, is_manager) VALUES
    ('sec_alice', 'A', 'sec_north', false), ('sec_bob', 'B', 'sec_north', false),
    ('sec_carol', 'C', 'sec_south', false), ('sec_mike', 'M', 'sec_north', true);

INSERT INTO crm.customer (id, name, email, phone, address, birth_date, city, owner) VALUES
    (9101, 'Alice Oneworth', 'alice.oneworth@example.com', '+8613800001111', '12 Teapot Street', '1990-04-01', 'Hangzhou', 'sec_alice'),
    (9102, 'Bob Twofold', 'bob.twofold@example.com', '+8613800002222', NULL, NULL, 'Hangzhou', 'sec_bob'),
    (9103, 'Carol Threeways', 'carol.threeways@example.com', NULL, NULL, NULL, 'Xiamen', 'sec_carol'),
    (9104, 'Dan Unassigned', NULL, NULL, NULL, NULL, NULL, NULL),
    (9105, 'Alice Oneworth', 'alice.oneworth@example.com', NULL, 'Flat 9, Teacup Court', NULL, NULL, 'sec_alice');
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount)
SELECT c, now() - g * interval '9 days', 'store', 'Oolong', 10 * g
  FROM unnest(ARRAY[9101, 9102, 9103, 9104, 9105]) c, generate_series(1, 3) g;
INSERT INTO crm.customer_identity (channel, external_id, customer_id) VALUES
    ('app', 'oneworth-app-4711', 9101), ('app', 'twofold-app-4712', 9102);
INSERT INTO crm.interaction (customer_id, channel, kind, content, staff) VALUES
    (9101, 'phone', 'call', 'Oneworth asked about her teapot order', 'sec_alice'),
    (9103, 'phone', 'call', 'Threeways asked for a refund', 'sec_carol');
INSERT INTO crm.complaint (customer_id, channel, subject, description, status, assignee) VALUES
    (9103, 'phone', 'late delivery', 'the courier lost it', 'received', 'sec_carol');
SET CONSTRAINTS ALL IMMEDIATE;   -- check the deferred event keys now, before ALTER TABLE,
SET CONSTRAINTS ALL DEFERRED;    -- and defer them again as they are declared

-- ---------------------------------------------------------------- row-level security
SELECT lives_ok($$SELECT crm.enable_row_security()$$, 'enable_row_security() runs');
SELECT results_eq($$SELECT table_name::text, policies FROM crm.enable_row_security() ORDER BY 1$$,
                  $$SELECT c.oid::regclass::text, (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid)
                      FROM pg_class c WHERE c.relrowsecurity AND c.relnamespace = 'crm'::regnamespace ORDER BY 1$$,
                  'enable_row_security() again gives the same policies (idempotent)');
-- Independent of crm.customer_data_tables(): every crm table with a
-- customer reference, or referencing such a table, is protected.
SELECT is_empty($$
    WITH ref AS (
        SELECT c.oid FROM pg_class c
         WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p')
           AND c.oid NOT IN ('crm.audit_log'::regclass, 'crm.erasure'::regclass)
           AND (c.oid = 'crm.customer'::regclass
                OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'
                              AND k.confrelid = 'crm.customer'::regclass)
                OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'customer_id'
                              AND NOT a.attisdropped))
    ), ref2 AS (
        SELECT k.conrelid AS oid FROM pg_constraint k
         WHERE k.contype = 'f' AND k.confrelid IN (SELECT oid FROM ref) AND k.conrelid <> 'crm.customer'::regclass
           AND (SELECT relnamespace FROM pg_class WHERE oid = k.conrelid) = 'crm'::regnamespace
    )
    SELECT x.oid::regclass::text
      FROM (SELECT oid FROM ref UNION SELECT oid FROM ref2) x JOIN pg_class c ON c.oid = x.oid
     WHERE NOT c.relrowsecurity
        OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = x.oid AND p.polname = 'crm_admin')
        OR (NOT EXISTS (SELECT 1 FROM crm.protected_table t WHERE to_regclass(t.table_name) = x.oid AND t.access = 'admin')
            AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = x.oid AND p.polname LIKE 'crm\_agent%'))
$$, 'every crm table with a customer reference has row-level security and policies for admins and agents');

-- An agent: customers of the team, writes only her own.
SET ROLE sec_alice;
SELECT results_eq($$SELECT id FROM crm.customer WHERE id BETWEEN 9101 AND 9105 ORDER BY id$$,
                  ARRAY[9101::bigint, 9102, 9105], 'agent sees her customers and her teammate''s');
SELECT is((SELECT count(*) FROM crm.purchase WHERE customer_id = 9103), 0::bigint, 'agent sees no purchase of another team''s customer');
SELECT is((SELECT count(*) FROM crm.interaction WHERE customer_id BETWEEN 9101 AND 9105), 1::bigint, 'agent sees interactions of her customers only');
SELECT is((SELECT count(*) FROM crm.complaint WHERE customer_id = 9103), 0::bigint, 'agent sees no complaint of another team');
WITH u AS (UPDATE crm.customer SET city = 'Changed' WHERE id = 9102 RETURNING 1)
SELECT is(count(*), 0::bigint, 'agent cannot update her teammate''s customer') FROM u;
WITH u AS (UPDATE crm.customer SET city = 'Changed' WHERE id = 9103 RETURNING 1)
SELECT is(count(*), 0::bigint, 'agent cannot update another team''s customer') FROM u;
WITH u AS (UPDATE crm.customer SET city = 'Suzhou' WHERE id = 9101 RETURNING 1)
SELECT is(count(*), 1::bigint, 'agent updates her own customer') FROM u;
SELECT throws_ok($$UPDATE crm.customer SET owner = 'sec_carol' WHERE id = 9101$$, '42501', NULL,
                 'agent cannot hand her customer to another team');
SELECT throws_ok($$INSERT INTO crm.customer (name, owner) VALUES ('Someone', 'sec_bob')$$, '42501', NULL,
                 'agent cannot create a customer owned by someone else');
SELECT throws_ok($$INSERT INTO crm.interaction (customer_id, channel, kind, staff) VALUES (9103, 'phone', 'call', 'sec_alice')$$,
                 '42501', NULL, 'agent cannot attach an interaction to another team''s customer');
SELECT lives_ok($$INSERT INTO crm.interaction (customer_id, channel, kind, content, staff) VALUES (9101, 'phone', 'call', 'Oneworth called back', 'sec_alice')$$,
                'agent records an interaction with her customer');
SELECT lives_ok($$INSERT INTO crm.complaint (customer_id, channel, subject, status) VALUES (9101, 'phone', 'chipped teapot lid', 'received')$$,
                'agent records a complaint; the workflow trigger writes its event under row-level security');
SELECT is((SELECT count(*) FROM crm.complaint_event e JOIN crm.complaint c ON c.id = e.complaint_id WHERE c.customer_id = 9101),
          1::bigint, 'agent sees the events of her customer''s complaint');
SELECT throws_ok($$DELETE FROM crm.purchase WHERE customer_id = 9101$$, '42501', NULL, 'agent cannot delete purchases');
SELECT throws_ok($$SELECT count(*) FROM crm.customer_merge$$, '42501', NULL, 'agent cannot read the merge log');
SELECT throws_ok($$SELECT count(*) FROM crm.audit_log$$, '42501', NULL, 'agent cannot read the audit log');
SELECT throws_ok($$INSERT INTO crm.audit_log (actor, session_actor, table_name, operation) VALUES ('x', 'x', 'x', 'READ')$$,
                 '42501', NULL, 'agent cannot write into the audit log');
SELECT throws_ok($$SELECT count(*) FROM crm.customer_rfm$$, '42501', NULL, 'agent cannot read views that bypass row-level security');
SELECT throws_ok($$SELECT crm.erase_customer(9102, 'x')$$, '42501', NULL, 'agent cannot erase a customer');
SELECT throws_ok($$SET crm.audit_values = off$$, '42501', NULL, 'agent cannot turn off audit values');
SELECT is((SELECT count(*) FROM crm.export_customers() WHERE id BETWEEN 9101 AND 9105), 3::bigint,
          'export_customers() returns only what the agent may see');
RESET ROLE;

-- The other team's agent.
SET ROLE sec_carol;
SELECT results_eq($$SELECT id FROM crm.customer WHERE id BETWEEN 9101 AND 9105 ORDER BY id$$,
                  ARRAY[9103::bigint], 'the south agent sees only her team''s customer');
SELECT is((SELECT count(*) FROM crm.complaint WHERE customer_id BETWEEN 9101 AND 9105), 1::bigint, 'and its complaint');
RESET ROLE;

-- A manager: his team's customers and unassigned ones.
SET ROLE sec_mike;
SELECT results_eq($$SELECT id FROM crm.customer WHERE id BETWEEN 9101 AND 9105 ORDER BY id$$,
                  ARRAY[9101::bigint, 9102, 9104, 9105], 'manager sees his team''s and unassigned customers');
WITH u AS (UPDATE crm.customer SET owner = 'sec_bob' WHERE id = 9104 RETURNING 1)
SELECT is(count(*), 1::bigint, 'manager assigns an unassigned customer to his team') FROM u;
SELECT throws_ok($$UPDATE crm.customer SET owner = 'sec_carol' WHERE id = 9102$$, '42501', NULL,
                 'manager cannot hand a customer to another team');
WITH u AS (UPDATE crm.customer SET city = 'Changed' WHERE id = 9103 RETURNING 1)
SELECT is(count(*), 0::bigint, 'manager cannot update another team''s customer') FROM u;
SELECT is((SELECT count(*) FROM crm.customer_masked WHERE customer_id BETWEEN 9101 AND 9105), 5::bigint,
          'manager reads every customer masked');
RESET ROLE;

-- An analyst: no raw personal data, masked views, non-personal columns.
SET ROLE sec_ann;
SELECT throws_ok($$SELECT name FROM crm.customer$$, '42501', NULL, 'analyst cannot read names');
SELECT throws_ok($$SELECT id FROM crm.customer$$, '42501', NULL, 'analyst cannot read the customer table at all');
SELECT throws_ok($$SELECT content FROM crm.interaction$$, '42501', NULL, 'analyst cannot read interaction text');
SELECT throws_ok($$SELECT * FROM crm.complaint$$, '42501', NULL, 'analyst cannot read complaints whole');
SELECT throws_ok($$SELECT external_id FROM crm.customer_identity$$, '42501', NULL, 'analyst cannot read external ids');
SELECT results_eq($$SELECT name_initials, birth_year, email, phone, city FROM crm.customer_masked WHERE customer_id = 9101$$,
                  $$VALUES ('A. O.', 1990, 'a***@example.com', '+861******1111', 'Suzhou')$$,
                  'analyst reads the masked customer');
SELECT is((SELECT count(*) FROM crm.interaction_masked WHERE customer_id IN (9101, 9103)), 3::bigint,
          'analyst reads interactions without their text');
SELECT is((SELECT count(*) FROM crm.purchase WHERE customer_id BETWEEN 9101 AND 9105), 15::bigint,
          'analyst reads every purchase (facts, no personal data)');
SELECT is((SELECT count(*) FROM crm.complaint WHERE customer_id = 9103 AND category = 'other'), 1::bigint,
          'analyst reads the non-personal columns of complaints');
SELECT throws_ok($$SELECT crm.erase_customer(9101, 'x')$$, '42501', NULL,
                 'analyst cannot erase');
RESET ROLE;
SELECT is_empty($$
    SELECT d.table_name::text || '.' || c
      FROM (SELECT DISTINCT table_name FROM crm.customer_data_tables()) d,
           unnest(crm.personal_columns(d.table_name)) c
     WHERE has_column_privilege('crm_analyst', d.table_name, c, 'SELECT')
$$, 'analysts have no privilege on any personal column of any customer-data table');
SELECT ok(NOT has_table_privilege('crm_analyst', 'crm.customer', 'SELECT'), 'analysts have no access to crm.customer');

-- A role outside the crm groups keeps what its privileges give it.
CREATE ROLE sec_app;
GRANT USAGE ON SCHEMA crm TO sec_app;
GRANT SELECT ON crm.purchase TO sec_app;
SET ROLE sec_app;
SELECT is((SELECT count(*) FROM crm.purchase WHERE customer_id BETWEEN 9101 AND 9105), 15::bigint,
          'a role outside the crm groups is not restricted by the policies (and needs no access to crm.customer)');
RESET ROLE;

-- An admin sees everything.
SET ROLE sec_root;
SELECT is((SELECT count(*) FROM crm.customer WHERE id BETWEEN 9101 AND 9105), 5::bigint, 'admin sees every customer');
RESET ROLE;
SELECT is((SELECT count(*) FROM crm.customer WHERE id BETWEEN 9101 AND 9105), 5::bigint,
          'the extension owner (superuser) is not restricted');

-- ---------------------------------------------------------------- encryption
SELECT throws_ok($$SELECT crm.encrypt_text('X1234567')$$, '22023', 'no encryption key given', 'no key, no encryption');
SET crm.encryption_key = 'sessionkey-1';
INSERT INTO crm.customer_document (customer_id, kind, number_encrypted, country)
VALUES (9101, 'passport', crm.encrypt_text('E98765432'), 'CN');
SELECT is((SELECT crm.decrypt_text(number_encrypted) FROM crm.customer_document WHERE customer_id = 9101), 'E98765432',
          'the document number decrypts with the session key');
SELECT is((SELECT position(convert_to('E98765432', 'UTF8') IN number_encrypted) FROM crm.customer_document WHERE customer_id = 9101),
          0, 'the stored bytes do not contain the number');
SELECT throws_ok($$SELECT crm.decrypt_text(number_encrypted, 'wrong key') FROM crm.customer_document WHERE customer_id = 9101$$,
                 '39000', NULL, 'a wrong key is an error');
SELECT isnt(crm.encrypt_text('same'), crm.encrypt_text('same'), 'equal values encrypt differently');
RESET crm.encryption_key;

-- ---------------------------------------------------------------- audit and export alerts
SELECT ok((SELECT count(*) FROM crm.enable_audit()) >= 10, 'enable_audit() attaches the trigger to the customer-data tables');
UPDATE crm.customer SET address = '12 Teapot Street, Floor 2' WHERE id = 9101;
SELECT results_eq($$SELECT actor, operation, changed_columns, old_values ->> 'address', new_values ->> 'address'
                      FROM crm.audit_log WHERE customer_id = 9101 AND table_name = 'crm.customer' ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('postgres'::text, 'UPDATE'::text, '{address}'::text[], '12 Teapot Street', '12 Teapot Street, Floor 2')$$,
                  'an update of a customer is audited with old and new values');
SET crm.encryption_key = 'sessionkey-1';
INSERT INTO crm.customer_document (customer_id, kind, number_encrypted) VALUES (9101, 'id_card', crm.encrypt_text('ID-555-777'));
RESET crm.encryption_key;
SELECT is((SELECT new_values ? 'number_encrypted' FROM crm.audit_log WHERE table_name = 'crm.customer_document' ORDER BY id DESC LIMIT 1),
          false, 'secret columns are left out of the audit values');
SET ROLE sec_alice;
UPDATE crm.interaction SET content = 'Oneworth asked about her teapot order, twice' WHERE customer_id = 9101 AND content LIKE 'Oneworth asked%';
RESET ROLE;
SELECT is((SELECT actor FROM crm.audit_log WHERE table_name = 'crm.interaction' ORDER BY id DESC LIMIT 1), 'sec_alice',
          'the audit log records the role that made the change');
SET ROLE sec_root;
SELECT throws_ok($$UPDATE crm.audit_log SET actor = 'nobody'$$, '42501', NULL, 'not even an admin rewrites the audit log');
SELECT throws_ok($$DELETE FROM crm.audit_log$$, '42501', NULL, 'nor deletes from it');
RESET ROLE;
SET LOCAL crm.export_alert_rows = 2;
SET ROLE sec_root;
SELECT ok((SELECT count(*) FROM crm.export_customers()) > 2, 'admin exports all customers');
RESET ROLE;
SELECT results_eq($$SELECT actor, operation, table_name, rows > 2 FROM crm.audit_log WHERE operation = 'READ' ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('sec_root'::text, 'READ'::text, 'crm.customer'::text, true)$$,
                  'the export is logged with its row count (and above the threshold sends NOTIFY crm_alert)');

-- ---------------------------------------------------------------- erasure
SELECT lives_ok($$SELECT crm.merge_customers(9101, 9105)$$, 'a duplicate is merged (its row goes into the merge log)');
UPDATE crm.complaint SET status = 'classified', status_note = 'Oneworth will send a photo'
 WHERE customer_id = 9101 AND subject = 'chipped teapot lid';
INSERT INTO crm.survey_response (customer_id, nps_score, comment) VALUES (9101, 9, 'Oneworth loves the Oolong');
CREATE TEMP TABLE erased_values (v text);
INSERT INTO erased_values VALUES ('Oneworth'), ('alice.oneworth@example.com'), ('13800001111'), ('Teapot Street'),
    ('Teacup Court'), ('oneworth-app-4711'), ('chipped teapot lid'), ('send a photo'), ('loves the Oolong'), ('1990-04-01');
-- Every text-like column of every table of the database, searched for every value.
CREATE FUNCTION pg_temp.find_erased() RETURNS TABLE (tbl text, col text, val text) LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v text;
    n bigint;
BEGIN
    FOR c IN
        SELECT format('%I.%I', r.relnamespace::regnamespace, r.relname) AS t, a.attname AS a
          FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid JOIN pg_type ty ON ty.oid = a.atttypid
         WHERE r.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
           AND r.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace)
           AND r.relname NOT IN ('__tcache__', '__tresults__', 'erased_values')
           AND (ty.typcategory IN ('S', 'U', 'A') OR ty.oid IN ('date'::regtype))
    LOOP
        FOR v IN SELECT e.v FROM erased_values e LOOP
            EXECUTE format('SELECT count(*) FROM %s WHERE %I::text ILIKE %L', c.t, c.a, '%' || v || '%') INTO n;
            IF n > 0 THEN
                tbl := c.t; col := c.a; val := v;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
SELECT results_eq($$SELECT DISTINCT tbl FROM pg_temp.find_erased() ORDER BY 1$$,
                  $$VALUES ('crm.audit_log'), ('crm.complaint'), ('crm.complaint_event'), ('crm.customer'), ('crm.customer_identity'),
                           ('crm.customer_merge'), ('crm.interaction'), ('crm.survey_response')$$,
                  'before erasure the values are found in many tables (the search works)');
CREATE TEMP TABLE facts_before AS
    SELECT (SELECT sum(amount) FROM crm.purchase) AS revenue,
           (SELECT count(*) FROM crm.purchase WHERE customer_id = 9101) AS purchases,
           (SELECT count(*) FROM crm.complaint WHERE customer_id = 9101) AS complaints,
           (SELECT count(*) FROM crm.interaction WHERE customer_id = 9101) AS interactions;
SET ROLE sec_root;
SELECT lives_ok($$SELECT crm.erase_customer(9101, 'erasure request 2026-0042')$$, 'an admin erases the customer');
RESET ROLE;
SELECT is_empty($$SELECT * FROM pg_temp.find_erased()$$, 'after erasure no text column of any table holds the erased values');
SELECT results_eq($$SELECT (SELECT sum(amount) FROM crm.purchase), (SELECT count(*) FROM crm.purchase WHERE customer_id = 9101),
                           (SELECT count(*) FROM crm.complaint WHERE customer_id = 9101),
                           (SELECT count(*) FROM crm.interaction WHERE customer_id = 9101)$$,
                  $$SELECT revenue, purchases, complaints, interactions FROM facts_before$$,
                  'purchases, complaints and interactions are kept under the id: aggregates do not change');
SELECT results_eq($$SELECT customer_id, reason, erased_by FROM crm.erasure$$,
                  $$VALUES (9101::bigint, 'erasure request 2026-0042'::text, 'postgres'::text)$$, 'the erasure is recorded');
SELECT is((SELECT count(*) FROM crm.customer_identity WHERE customer_id = 9101) + (SELECT count(*) FROM crm.customer_document WHERE customer_id = 9101),
          0::bigint, 'identities and documents are deleted');
SELECT ok((SELECT count(*) FROM crm.audit_log WHERE customer_id = 9101 AND detail LIKE 'values not recorded%') > 0,
          'the erasure itself is in the audit log, without values');
SELECT is((SELECT name FROM crm.customer WHERE id = 9101), 'erased', 'the customer row stays, without personal data');

-- ---------------------------------------------------------------- retention
INSERT INTO crm.interaction (customer_id, occurred_at, channel, kind, content) VALUES
    (9102, now() - interval '4 years', 'phone', 'call', 'an old note about Twofold'),
    (9102, now() - interval '1 year', 'phone', 'call', 'a recent note about Twofold');
INSERT INTO crm.audit_log (at, actor, session_actor, table_name, operation, customer_id, old_values)
VALUES (now() - interval '3 years', 'x', 'x', 'crm.customer', 'UPDATE', 9102, '{"name": "Bob Twofold"}');
SET ROLE sec_root;
SELECT lives_ok($$SELECT crm.apply_retention()$$, 'an admin applies retention');
RESET ROLE;
SELECT is((SELECT array_agg(content ORDER BY occurred_at) FROM crm.interaction WHERE customer_id = 9102),
          ARRAY[NULL, 'a recent note about Twofold'], 'old interaction text is removed, recent kept');
SELECT is((SELECT old_values FROM crm.audit_log WHERE at < now() - interval '2 years' AND customer_id = 9102), NULL,
          'old audit values are removed');

-- ---------------------------------------------------------------- hardening
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef
       AND (NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false)
            OR (has_function_privilege('public', p.oid, 'EXECUTE') AND p.oid <> 'crm.team_logins(text)'::regprocedure))
$$, 'SECURITY DEFINER functions pin search_path to pg_catalog, pg_temp and are not executable by PUBLIC (but the one policies call)');
CREATE SCHEMA evil;
GRANT USAGE, CREATE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.calls (fn text);
GRANT ALL ON evil.calls TO PUBLIC;
CREATE TABLE evil.customer (id bigint, name text);
CREATE FUNCTION evil.btrim(text) RETURNS text LANGUAGE sql AS $$INSERT INTO evil.calls VALUES ('btrim') RETURNING 'x'$$;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE sql AS $$INSERT INTO evil.calls VALUES ('to_regclass') RETURNING NULL::regclass$$;
CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$INSERT INTO evil.calls VALUES ('=') RETURNING true$$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
-- Plain statements here: pgTAP's own functions do not pin their search_path.
SET search_path = evil, pg_catalog, public;
CREATE TEMP TABLE trap AS SELECT btrim(' trap ') AS r;
SET ROLE sec_root;
CREATE TEMP TABLE attack1 AS SELECT crm.erase_customer(9103, 'request 43') AS r;
CREATE TEMP TABLE attack2 AS SELECT count(*) AS r FROM crm.apply_retention();
RESET ROLE;
SET search_path = crm, public;
SELECT is((SELECT r FROM trap), 'x', 'the trap works where search_path is not pinned');
SELECT is((SELECT count(*) FROM evil.calls WHERE fn <> 'btrim'), 0::bigint, 'no function or operator of the hostile schema ran');
SELECT is((SELECT count(*) FROM crm.customer WHERE name = 'erased'), 2::bigint, 'erase_customer erased exactly one more customer');

-- Table and column names passed as arguments are quoted, not pasted.
CREATE TABLE evil."orders; DROP TABLE crm.purchase; --" ("client id" bigint REFERENCES crm.customer (id), "when" timestamptz, "amount$" numeric, "secret note" text);
INSERT INTO evil."orders; DROP TABLE crm.purchase; --" VALUES (9102, now() - interval '3 days', 5, 'Twofold secret');
SELECT is((SELECT count(*) FROM crm.rfm_analyze(now(), 'evil."orders; DROP TABLE crm.purchase; --"', 'client id', 'when', 'amount$')),
          1::bigint, 'rfm_analyze reads a table whose names need quoting');
SELECT throws_ok($$SELECT * FROM crm.rfm_analyze(now(), 'crm.purchase', 'customer_id, 1); DROP TABLE crm.purchase; --', 'purchased_at', 'amount')$$,
                 '42703', NULL, 'rfm_analyze rejects a column name carrying SQL');
SELECT throws_ok($$INSERT INTO crm.protected_table (table_name) VALUES ('crm.customer; DROP TABLE crm.purchase')$$,
                 '22023', NULL, 'a table name carrying SQL is rejected by crm.protected_table');
INSERT INTO crm.protected_table (table_name, owner_column) VALUES ('evil."orders; DROP TABLE crm.purchase; --"', 'x) OR (true');
SELECT lives_ok($$SELECT crm.enable_row_security()$$, 'enable_row_security with odd table and column names');
SELECT lives_ok($$SELECT crm.enable_audit('evil."orders; DROP TABLE crm.purchase; --"')$$, 'enable_audit with an odd table name');
SELECT lives_ok($$SELECT crm.erase_customer(9102, 'request 44')$$, 'erase_customer with an odd user table');
SELECT is((SELECT "secret note" FROM evil."orders; DROP TABLE crm.purchase; --"), NULL, 'the user table was erased too');
SELECT has_table('crm', 'purchase', 'crm.purchase is still there');

-- User tables keyed by text, one referencing the other, listed in crm.protected_table.
CREATE TABLE public.card (card_no text PRIMARY KEY, holder bigint REFERENCES crm.customer (id), nickname text);
CREATE TABLE public.card_txn (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                              card_no text REFERENCES public.card (card_no), memo text, amount numeric);
GRANT SELECT ON public.card, public.card_txn TO crm_agent;
INSERT INTO crm.protected_table (table_name) VALUES ('public.card'), ('public.card_txn');
INSERT INTO crm.customer (id, name, owner) VALUES (9201, 'Card Holder', 'sec_alice'), (9202, 'Other Holder', 'sec_carol');
INSERT INTO public.card VALUES ('C-9201', 9201, 'holder nick'), ('C-9202', 9202, 'other nick');
INSERT INTO public.card_txn (card_no, memo, amount) VALUES ('C-9201', 'memo of the holder', 1), ('C-9202', 'other memo', 2);
SELECT lives_ok($$SELECT crm.enable_row_security()$$, 'enable_row_security covers user tables keyed by text');
SET ROLE sec_alice;
SELECT results_eq($$SELECT card_no FROM public.card_txn$$, ARRAY['C-9201'], 'an agent sees the transactions of her customer''s card only');
RESET ROLE;
SELECT crm.erase_customer(9201, 'request 45') IS NOT NULL AS erased \gset
SELECT results_eq($$SELECT card_no, memo, amount FROM public.card_txn ORDER BY id$$,
                  $$VALUES ('C-9201'::text, NULL::text, 1::numeric), ('C-9202', 'other memo', 2)$$,
                  'erasure empties the child table''s text and keeps the referenced key and the facts');

SELECT * FROM finish();
ROLLBACK;
