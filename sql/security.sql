-- Security module: masking functions, audit trigger, access log, key setting,
-- catalog of customer-data tables.
SET search_path = crm, public;

-- Masking: email keeps the first character and the domain.
SELECT e, crm.mask_email(e)
  FROM unnest(ARRAY['john.smith@example.com', 'j@example.com', '@example.com', 'no-at-sign',
                    '', 'a@b@c.org', 'émile@exemple.fr', '张伟@例子.中国']) AS e;
SELECT crm.mask_email(NULL) IS NULL AS null_in_null_out;
SELECT crm.mask_email('Mixed.Case@Example.COM'::crm.email);

-- Phone: middle digits hidden, layout kept.
SELECT p, crm.mask_phone(p)
  FROM unnest(ARRAY['+8613812345678', '138 1234 5678', '+1 (415) 555-0100', '+44 20 7946 0958',
                    '12345678', '1234567', '123456', '12345', '1234', '', 'no digits']) AS p;
SELECT crm.mask_phone('+8613812345678'::crm.phone);

-- Name: initials.
SELECT n, crm.mask_name(n)
  FROM unnest(ARRAY['John Smith', '  john   ronald reuel  tolkien ', 'Ann-Marie O''Neil', '张伟',
                    'Émile Zola', '', '   ', E'tab\tseparated']) AS n;

SELECT crm.birth_year(DATE '1987-06-05'), crm.birth_year(NULL);

-- Audit trigger on a user table: secret column, customer column, values as text.
CREATE TABLE public.account (
    id          integer PRIMARY KEY,
    client      bigint,
    login       text,
    password    text,
    balance     numeric
);
CREATE TRIGGER account_audit AFTER INSERT OR UPDATE OR DELETE ON public.account
    FOR EACH ROW EXECUTE FUNCTION crm.audit('password', 'customer=client');
INSERT INTO public.account VALUES (1, 42, 'jsmith', 's3cret', 10.50), (2, NULL, 'x"y\z', NULL, 0);
UPDATE public.account SET balance = 12 WHERE id = 1;
UPDATE public.account SET password = 'n3w' WHERE id = 1;
UPDATE public.account SET balance = balance WHERE id = 1;   -- changes nothing: not logged
DELETE FROM public.account WHERE id = 2;
SELECT actor = current_user AS actor_ok, session_actor = session_user AS session_ok,
       table_name, operation, customer_id, row_key, changed_columns, old_values, new_values
  FROM crm.audit_log ORDER BY id;
SELECT count(*) AS secret_values_in_log FROM crm.audit_log
 WHERE old_values::text LIKE '%s3cret%' OR new_values::text LIKE '%s3cret%'
    OR old_values::text LIKE '%n3w%' OR new_values::text LIKE '%n3w%';

-- TRUNCATE is recorded by a statement trigger.
CREATE TABLE public.scratch (id integer PRIMARY KEY, note text);
CREATE TRIGGER scratch_audit_truncate AFTER TRUNCATE ON public.scratch
    FOR EACH STATEMENT EXECUTE FUNCTION crm.audit();
INSERT INTO public.scratch VALUES (1, 'x');
TRUNCATE public.scratch;
SELECT table_name, operation, row_key, old_values FROM crm.audit_log WHERE operation = 'TRUNCATE';
DROP TABLE public.scratch;

-- Wrong uses of the trigger.
CREATE TRIGGER account_audit_bad BEFORE UPDATE ON public.account
    FOR EACH ROW EXECUTE FUNCTION crm.audit();
UPDATE public.account SET balance = 1;
DROP TRIGGER account_audit_bad ON public.account;
CREATE TRIGGER account_audit_bad AFTER UPDATE ON public.account
    FOR EACH ROW EXECUTE FUNCTION crm.audit('no_such_column');
UPDATE public.account SET balance = 1;
DROP TRIGGER account_audit_bad ON public.account;
CREATE TRIGGER account_audit_bad AFTER UPDATE ON public.account
    FOR EACH STATEMENT EXECUTE FUNCTION crm.audit();
UPDATE public.account SET balance = 1;
DROP TRIGGER account_audit_bad ON public.account;
CREATE TRIGGER audit_log_audit AFTER INSERT ON crm.audit_log
    FOR EACH ROW EXECUTE FUNCTION crm.audit();
SELECT crm.log_access('x', 1);
DROP TRIGGER audit_log_audit ON crm.audit_log;
SELECT crm.audit();

-- Values are not recorded when crm.audit_values is off (only superusers may set it).
SET crm.audit_values = off;
UPDATE public.account SET password = 'hidden', login = 'jsmith2' WHERE id = 1;
RESET crm.audit_values;
SELECT operation, customer_id, row_key, changed_columns, old_values, new_values, detail
  FROM crm.audit_log ORDER BY id DESC LIMIT 1;

-- Access log and bulk-read alert.
SET crm.export_alert_rows = 100;
SELECT crm.log_access('crm.customer', 100, 'report'), crm.log_access('crm.customer', 101, NULL);
SELECT operation, table_name, rows, detail FROM crm.audit_log WHERE operation = 'READ' ORDER BY id;
SELECT crm.log_access(NULL, 1);
SELECT crm.log_access('x', -1);
SET crm.export_alert_rows = -1;
SELECT crm.log_access('crm.customer', 1000000);
RESET crm.export_alert_rows;
SHOW crm.export_alert_rows;

-- The encryption key is a session setting only: never stored on the server.
SET crm.encryption_key = 'k1';
SELECT current_setting('crm.encryption_key');
RESET crm.encryption_key;
SELECT current_setting('crm.encryption_key') = '' AS empty_after_reset;
ALTER ROLE CURRENT_USER SET crm.encryption_key = 'stored';
ALTER DATABASE crm_regression SET crm.encryption_key = 'stored';
CREATE FUNCTION public.f_with_key() RETURNS int LANGUAGE sql SET crm.encryption_key = 'stored' RETURN 1;
SELECT name FROM pg_settings WHERE name = 'crm.encryption_key';   -- not listed
SELECT crm.decrypt_text('\x00'::bytea, 'k');                        -- pgcrypto is not installed here
SELECT crm.encrypt_text(NULL), crm.decrypt_text(NULL);

-- Tables holding customer data, found in the catalog.
SELECT * FROM crm.customer_data_tables()
 WHERE table_name = ANY (ARRAY['crm.customer', 'crm.purchase', 'crm.interaction', 'crm.complaint', 'crm.complaint_event',
                                 'crm.customer_identity', 'crm.customer_merge', 'crm.customer_document']::regclass[]);
SELECT t, crm.personal_columns(t)
  FROM unnest(ARRAY['crm.customer', 'crm.purchase', 'crm.interaction', 'crm.complaint', 'crm.complaint_event',
                    'crm.customer_identity', 'crm.customer_merge', 'crm.survey_response', 'crm.audit_log']::regclass[]) AS t;
SELECT t, crm.customer_rows_condition(t)
  FROM unnest(ARRAY['crm.customer', 'crm.purchase', 'crm.complaint_event', 'crm.customer_merge', 'crm.channel']::regclass[]) AS t;
-- A user table with a foreign key to crm.customer, listed in crm.protected_table, is covered too.
CREATE TABLE public.loyalty_card (
    card_no     text PRIMARY KEY,
    issued      date NOT NULL DEFAULT '2020-01-01',
    holder      bigint REFERENCES crm.customer (id),
    nickname    text,
    points      integer NOT NULL DEFAULT 0,
    level       text NOT NULL DEFAULT 'basic' CHECK (level IN ('basic', 'gold')),
    code        text NOT NULL DEFAULT 'x1' CHECK (code ~ '^[a-z][a-z0-9]*$')
);
INSERT INTO crm.protected_table (table_name) VALUES ('public.loyalty_card');
SELECT * FROM crm.customer_data_tables() WHERE table_name = 'public.loyalty_card'::regclass;
SELECT crm.personal_columns('public.loyalty_card'), crm.blank_assignments('public.loyalty_card');
INSERT INTO crm.customer (id, name, email) VALUES (900001, 'Loyal Holder', 'loyal@example.com');
INSERT INTO public.loyalty_card (card_no, holder, nickname) VALUES ('C-1', 900001, 'Lolo'), ('C-2', 900001, NULL), ('C-3', NULL, 'other');
SELECT (crm.erase_customer(900001, 'test request'))->'affected'->'public.loyalty_card' AS loyalty_card;
SELECT card_no LIKE 'erased:%' AS card_no_erased, length(card_no), holder, nickname, points FROM public.loyalty_card ORDER BY holder, card_no;
SELECT name, email FROM crm.customer WHERE id = 900001;
-- Retention of the user table: older cards lose their personal data, once.
INSERT INTO crm.retention_policy (table_name, time_column, keep) VALUES ('public.loyalty_card', 'issued', '1 year');
SELECT * FROM crm.apply_retention('2021-06-01') WHERE table_name = 'public.loyalty_card';
SELECT * FROM crm.apply_retention('2021-06-01') WHERE table_name = 'public.loyalty_card';
SELECT count(*) FILTER (WHERE card_no LIKE 'erased:%') AS erased, count(*) FROM public.loyalty_card;
DELETE FROM crm.retention_policy WHERE table_name = 'public.loyalty_card';
SELECT crm.blank_value('crm.customer_document', 'number_encrypted');
SELECT crm.blank_value('crm.customer', 'no_such_column');

-- Erasure and retention: errors, and who may call them.
SELECT crm.erase_customer(NULL, 'x');
SELECT crm.erase_customer(1, ' ');
SELECT crm.erase_customer(-1, 'request');
SELECT crm.apply_retention(NULL);
SELECT p.oid::regprocedure, p.prosecdef, p.proacl
  FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef ORDER BY 1;
DROP TABLE public.account, public.loyalty_card;
DELETE FROM crm.protected_table WHERE table_name = 'public.loyalty_card';
