
-- ---------------------------------------------------------------------------
-- Security and compliance: which tables hold customer data, group roles,
-- row-level security, masking, encryption of sensitive fields, audit, erasure
-- and retention.  Runs after every other module: the functions below read the
-- catalog, so tables added by any module are covered when they run.
-- ---------------------------------------------------------------------------

-- What the catalog cannot tell: owner columns, admin-only tables, privileges
-- of staff, what erasure does with a table's rows.
CREATE TABLE crm.protected_table (
    table_name       text PRIMARY KEY CHECK (cardinality(parse_ident(table_name)) = 2),
    customer_columns name[],
    owner_column     name,
    access           text NOT NULL DEFAULT 'staff' CHECK (access IN ('staff', 'admin')),
    staff_privileges text NOT NULL DEFAULT 'SELECT, INSERT, UPDATE'
                     CHECK (staff_privileges ~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$'),
    on_erase         text NOT NULL DEFAULT 'anonymise' CHECK (on_erase IN ('anonymise', 'delete')),
    builtin          boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.protected_table IS 'settings of tables holding customer data: tables with a foreign key to crm.customer or a customer_id column are found in the catalog; a row here adds a table or tells how to protect it';
COMMENT ON COLUMN crm.protected_table.table_name IS 'schema-qualified table name, quoted where needed (a row for a table that does not exist is ignored)';
COMMENT ON COLUMN crm.protected_table.customer_columns IS 'columns holding customer ids without a foreign key (besides customer_id, which is always one)';
COMMENT ON COLUMN crm.protected_table.owner_column IS 'column holding the login of the staff member responsible for the row (owner, assignee); agents and managers see rows of their team';
COMMENT ON COLUMN crm.protected_table.access IS 'staff: agents and managers see rows by customer and owner; admin: only crm_admin sees the table';
COMMENT ON COLUMN crm.protected_table.staff_privileges IS 'privileges crm.create_roles() grants crm_agent and crm_manager on the table (row-level security then filters the rows)';
COMMENT ON COLUMN crm.protected_table.on_erase IS 'what crm.erase_customer() does with a customer''s rows: anonymise (personal columns emptied, facts kept) or delete';
COMMENT ON COLUMN crm.protected_table.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.protected_table (table_name, customer_columns, owner_column, access, staff_privileges, on_erase, builtin) VALUES
    ('crm.customer',           NULL,                 'owner',    'staff', 'SELECT, INSERT, UPDATE',         'anonymise', true),
    ('crm.customer_identity',  NULL,                 NULL,       'staff', 'SELECT, INSERT, UPDATE, DELETE', 'delete',    true),
    ('crm.customer_document',  NULL,                 NULL,       'staff', 'SELECT, INSERT, DELETE',         'delete',    true),
    ('crm.purchase',           NULL,                 NULL,       'staff', 'SELECT, INSERT',                 'anonymise', true),
    ('crm.interaction',        NULL,                 'staff',    'staff', 'SELECT, INSERT, UPDATE',         'anonymise', true),
    ('crm.complaint',          NULL,                 'assignee', 'staff', 'SELECT, INSERT, UPDATE',         'anonymise', true),
    ('crm.complaint_event',    NULL,                 'actor',    'staff', 'SELECT, INSERT',                 'anonymise', true),
    ('crm.customer_merge',     '{kept_id,merged_id}', NULL,      'admin', 'SELECT',                         'anonymise', true),
    ('crm.customer_rfm_score', NULL,                 NULL,       'staff', 'SELECT',                         'anonymise', true),
    ('crm.customer_clv',       NULL,                 NULL,       'staff', 'SELECT',                         'anonymise', true),
    ('crm.tier_history',       NULL,                 NULL,       'staff', 'SELECT',                         'anonymise', true),
    ('crm.survey_response',    NULL,                 NULL,       'staff', 'SELECT, INSERT',                 'anonymise', true),
    ('crm.lead',               NULL,                 'owner',    'staff', 'SELECT, INSERT, UPDATE',         'anonymise', true),
    ('crm.opportunity',        NULL,                 'owner',    'staff', 'SELECT, INSERT, UPDATE',         'anonymise', true);
CREATE TRIGGER protected_table_config_upsert BEFORE INSERT ON crm.protected_table
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('table_name');
ALTER TABLE crm.protected_table ENABLE ALWAYS TRIGGER protected_table_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.protected_table', '');

-- Columns of customer-data tables are personal when their type holds text
-- (text, varchar, crm.email, crm.phone, json, jsonb, bytea, arrays of them)
-- and they are not codes; this table names the exceptions.
CREATE TABLE crm.column_class (
    table_name  text NOT NULL CHECK (cardinality(parse_ident(table_name)) = 2),
    column_name name NOT NULL,
    class       text NOT NULL CHECK (class IN ('code', 'staff', 'personal', 'secret')),
    builtin     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE crm.column_class IS 'classification of columns of customer-data tables where the default (text-like columns are personal, others are facts) is wrong';
COMMENT ON COLUMN crm.column_class.table_name IS 'schema-qualified table name';
COMMENT ON COLUMN crm.column_class.column_name IS 'column name';
COMMENT ON COLUMN crm.column_class.class IS 'code: not personal (kept by erasure, visible to analysts); staff: a staff login (kept, hidden from analysts); personal: personal data; secret: personal data never written into the audit log';
COMMENT ON COLUMN crm.column_class.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.column_class (table_name, column_name, class, builtin) VALUES
    ('crm.customer', 'birth_date', 'personal', true),
    ('crm.customer', 'region', 'code', true),
    ('crm.customer', 'partner_role', 'code', true),
    ('crm.purchase', 'product', 'code', true),
    ('crm.purchase', 'store', 'code', true),
    ('crm.interaction', 'kind', 'code', true),
    ('crm.complaint', 'status', 'code', true),
    ('crm.complaint_event', 'from_status', 'code', true),
    ('crm.complaint_event', 'to_status', 'code', true),
    ('crm.customer_merge', 'merged_by', 'staff', true),
    ('crm.customer_merge', 'moved', 'code', true),
    ('crm.customer_merge', 'filled', 'code', true),
    ('crm.customer_rfm_score', 'segment', 'code', true),
    ('crm.survey_response', 'survey', 'code', true),
    ('crm.survey_response', 'ratings', 'code', true),
    ('crm.customer_document', 'kind', 'code', true),
    ('crm.customer_document', 'country', 'code', true),
    ('crm.customer_document', 'number_encrypted', 'secret', true),
    ('crm.audit_log', 'actor', 'staff', true),
    ('crm.audit_log', 'session_actor', 'staff', true),
    ('crm.audit_log', 'table_name', 'code', true),
    ('crm.audit_log', 'operation', 'code', true),
    ('crm.audit_log', 'changed_columns', 'code', true),
    ('crm.audit_log', 'detail', 'code', true);
CREATE TRIGGER column_class_config_upsert BEFORE INSERT ON crm.column_class
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('table_name', 'column_name');
ALTER TABLE crm.column_class ENABLE ALWAYS TRIGGER column_class_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.column_class', '');

-- ---------------------------------------------------------------------------
-- Sensitive fields encrypted at rest
-- ---------------------------------------------------------------------------

CREATE TABLE crm.customer_document (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id      bigint NOT NULL REFERENCES crm.customer (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    number_encrypted bytea NOT NULL,
    country          text,
    valid_until      date,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_document_customer_idx ON crm.customer_document (customer_id);
COMMENT ON TABLE crm.customer_document IS 'identity documents of customers; the number is stored encrypted (crm.encrypt_text) with a key the database never stores';
COMMENT ON COLUMN crm.customer_document.id IS 'document id';
COMMENT ON COLUMN crm.customer_document.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_document.kind IS 'kind of document: id_card, passport, driving_licence...';
COMMENT ON COLUMN crm.customer_document.number_encrypted IS 'document number encrypted with crm.encrypt_text (PGP symmetric, AES-256); read it with crm.decrypt_text';
COMMENT ON COLUMN crm.customer_document.country IS 'issuing country';
COMMENT ON COLUMN crm.customer_document.valid_until IS 'expiry date';
COMMENT ON COLUMN crm.customer_document.created_at IS 'when it was recorded';
SELECT pg_catalog.pg_extension_config_dump('crm.customer_document', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.customer_document', 'id'), '');

-- pgcrypto is optional: found where it is installed, at call time.
CREATE FUNCTION crm.pgcrypto_schema() RETURNS name
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s name;
BEGIN
    SELECT n.nspname INTO s
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pgcrypto';
    IF s IS NULL THEN
        RAISE EXCEPTION 'encryption needs the extension pgcrypto'
            USING ERRCODE = '0A000',
                  DETAIL = 'crm.encrypt_text and crm.decrypt_text call pgcrypto''s PGP functions.',
                  HINT = 'Run CREATE EXTENSION pgcrypto; in this database (it comes with PostgreSQL).';
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION crm.pgcrypto_schema() IS 'schema of the pgcrypto extension in this database, or an error saying to install it';

CREATE FUNCTION crm.session_key(key text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k text := coalesce(nullif(key, ''), nullif(current_setting('crm.encryption_key', true), ''));
BEGIN
    IF k IS NULL THEN
        RAISE EXCEPTION 'no encryption key given'
            USING ERRCODE = '22023',
                  DETAIL = 'The key is neither an argument nor set in crm.encryption_key for this session.',
                  HINT = 'Pass the key, or run SET crm.encryption_key = ''...'' after connecting; keys are never stored in the database.';
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION crm.session_key(text) IS 'the key to use: the argument when given, else the session setting crm.encryption_key, else an error';

CREATE FUNCTION crm.encrypt_text(plaintext text, key text DEFAULT NULL) RETURNS bytea
    LANGUAGE plpgsql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r bytea;
BEGIN
    IF plaintext IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %I.pgp_sym_encrypt($1, $2, %L)', crm.pgcrypto_schema(), 'cipher-algo=aes256')
        INTO r USING plaintext, crm.session_key(key);
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.encrypt_text(text, text) IS 'encrypts a value with pgcrypto (PGP symmetric, AES-256, random salt: equal values give different ciphertexts) with key, or the session''s crm.encryption_key; needs pgcrypto';

CREATE FUNCTION crm.decrypt_text(ciphertext bytea, key text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r text;
BEGIN
    IF ciphertext IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %I.pgp_sym_decrypt($1, $2)', crm.pgcrypto_schema())
        INTO r USING ciphertext, crm.session_key(key);
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.decrypt_text(bytea, text) IS 'decrypts a value written by crm.encrypt_text with key, or the session''s crm.encryption_key; a wrong key is an error (pgcrypto: wrong key or corrupt data)';

-- ---------------------------------------------------------------------------
-- Audit log, erasure log
-- ---------------------------------------------------------------------------

CREATE TABLE crm.audit_log (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    session_actor   text NOT NULL,
    table_name      text NOT NULL,
    operation       text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'READ')),
    customer_id     bigint,
    row_key         jsonb,
    changed_columns text[],
    old_values      jsonb,
    new_values      jsonb,
    rows            bigint,
    detail          text
);
CREATE INDEX audit_log_customer_idx ON crm.audit_log (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX audit_log_at_idx ON crm.audit_log (at);
COMMENT ON TABLE crm.audit_log IS 'who changed or read what and when: written by the trigger crm.audit() and by crm.log_access() as the owner of this table; append-only for everyone else';
COMMENT ON COLUMN crm.audit_log.id IS 'entry id, increasing in the order entries were written';
COMMENT ON COLUMN crm.audit_log.at IS 'transaction time of the change or read';
COMMENT ON COLUMN crm.audit_log.actor IS 'role that made the change (current_user)';
COMMENT ON COLUMN crm.audit_log.session_actor IS 'login of the session (session_user), which differs from actor after SET ROLE';
COMMENT ON COLUMN crm.audit_log.table_name IS 'schema-qualified table (or what was read)';
COMMENT ON COLUMN crm.audit_log.operation IS 'INSERT, UPDATE, DELETE, TRUNCATE or READ';
COMMENT ON COLUMN crm.audit_log.customer_id IS 'the customer the row belongs to, when the table has a customer column';
COMMENT ON COLUMN crm.audit_log.row_key IS 'primary key of the row, as text values';
COMMENT ON COLUMN crm.audit_log.changed_columns IS 'columns an UPDATE changed (secret ones included, without values)';
COMMENT ON COLUMN crm.audit_log.old_values IS 'values before (UPDATE: changed columns only; DELETE: the whole row), secret columns left out';
COMMENT ON COLUMN crm.audit_log.new_values IS 'values after (UPDATE: changed columns only; INSERT: the whole row), secret columns left out';
COMMENT ON COLUMN crm.audit_log.rows IS 'READ: number of rows read';
COMMENT ON COLUMN crm.audit_log.detail IS 'READ: the export path or purpose; otherwise a note';
REVOKE ALL ON crm.audit_log FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('crm.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.audit_log', 'id'), '');

CREATE TABLE crm.erasure (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    reason      text NOT NULL CHECK (btrim(reason) <> ''),
    erased_at   timestamptz NOT NULL DEFAULT now(),
    erased_by   text NOT NULL DEFAULT session_user,
    affected    jsonb NOT NULL
);
CREATE INDEX erasure_customer_idx ON crm.erasure (customer_id);
COMMENT ON TABLE crm.erasure IS 'record of every crm.erase_customer(): which customer, why, by whom, when, and the rows changed per table';
COMMENT ON COLUMN crm.erasure.id IS 'erasure id';
COMMENT ON COLUMN crm.erasure.customer_id IS 'the erased customer (the id stays as a pseudonym on the facts kept)';
COMMENT ON COLUMN crm.erasure.reason IS 'why: the request or legal ground (write no personal data here)';
COMMENT ON COLUMN crm.erasure.erased_at IS 'when';
COMMENT ON COLUMN crm.erasure.erased_by IS 'login of the session that erased';
COMMENT ON COLUMN crm.erasure.affected IS 'rows anonymised or deleted, per table (tables without rows of the customer left out)';
REVOKE ALL ON crm.erasure FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('crm.erasure', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.erasure', 'id'), '');

CREATE TABLE crm.retention_policy (
    table_name  text PRIMARY KEY CHECK (cardinality(parse_ident(table_name)) = 2),
    time_column name NOT NULL,
    keep        interval NOT NULL CHECK (keep > interval '0'),
    action      text NOT NULL DEFAULT 'anonymise' CHECK (action IN ('anonymise', 'delete')),
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.retention_policy IS 'how long personal data is kept: crm.apply_retention() anonymises or deletes rows whose time column is older than keep';
COMMENT ON COLUMN crm.retention_policy.table_name IS 'schema-qualified table name';
COMMENT ON COLUMN crm.retention_policy.time_column IS 'column holding the time of the row';
COMMENT ON COLUMN crm.retention_policy.keep IS 'how long rows keep their personal data';
COMMENT ON COLUMN crm.retention_policy.action IS 'anonymise (personal columns emptied, facts kept) or delete';
COMMENT ON COLUMN crm.retention_policy.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.retention_policy (table_name, time_column, keep, action, builtin) VALUES
    ('crm.interaction',     'occurred_at',  interval '3 years', 'anonymise', true),
    ('crm.survey_response', 'responded_at', interval '3 years', 'anonymise', true),
    ('crm.complaint',       'created_at',   interval '5 years', 'anonymise', true),
    ('crm.audit_log',       'at',           interval '2 years', 'anonymise', true);
CREATE TRIGGER retention_policy_config_upsert BEFORE INSERT ON crm.retention_policy
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('table_name');
ALTER TABLE crm.retention_policy ENABLE ALWAYS TRIGGER retention_policy_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.retention_policy', '');

-- ---------------------------------------------------------------------------
-- Which tables hold customer data, and which of their columns are personal
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.customer_data_tables()
    RETURNS TABLE (table_name regclass, reference_column name, parent regclass, parent_column name,
                   owner_column name, access text, staff_privileges text, on_erase text)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH cfg AS (
        SELECT to_regclass(p.table_name)::oid AS rel, p.*
          FROM crm.protected_table p
         WHERE to_regclass(p.table_name) IS NOT NULL
    ), cand AS (
        SELECT c.oid AS rel
          FROM pg_class c
         WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.oid NOT IN ('crm.audit_log'::regclass, 'crm.erasure'::regclass)
        UNION
        SELECT rel FROM cfg
    ), ref1 AS (
        -- direct references to crm.customer: foreign keys, customer_id columns, configured columns
        SELECT co.conrelid AS rel, a.attname AS col
          FROM pg_constraint co
          JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
         WHERE co.contype = 'f' AND co.confrelid = 'crm.customer'::regclass
           AND cardinality(co.conkey) = 1 AND co.conrelid IN (SELECT rel FROM cand)
        UNION
        SELECT a.attrelid, a.attname
          FROM pg_attribute a
         WHERE a.attrelid IN (SELECT rel FROM cand) AND a.attrelid <> 'crm.customer'::regclass
           AND a.attname = 'customer_id' AND NOT a.attisdropped
           AND a.atttypid IN ('bigint'::regtype, 'integer'::regtype)
        UNION
        SELECT cfg.rel, a.attname
          FROM cfg JOIN pg_attribute a ON a.attrelid = cfg.rel AND a.attname = ANY (cfg.customer_columns)
         WHERE NOT a.attisdropped
    ), ref2 AS (
        -- references to a table that references crm.customer (complaint_event -> complaint)
        SELECT co.conrelid AS rel, a.attname AS col, co.confrelid AS parent, pa.attname AS pcol
          FROM pg_constraint co
          JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
          JOIN pg_attribute pa ON pa.attrelid = co.confrelid AND pa.attnum = co.confkey[1]
         WHERE co.contype = 'f' AND cardinality(co.conkey) = 1
           AND co.confrelid IN (SELECT rel FROM ref1)
           AND co.conrelid IN (SELECT rel FROM cand)
           AND co.conrelid NOT IN (SELECT rel FROM ref1)
           AND co.conrelid <> 'crm.customer'::regclass
    ), refs AS (
        SELECT rel, col, 'crm.customer'::regclass::oid AS parent, 'id'::name AS pcol FROM ref1
        UNION ALL
        SELECT rel, col, parent, pcol FROM ref2
        UNION ALL
        SELECT cfg.rel, NULL, NULL, NULL FROM cfg
         WHERE cfg.rel NOT IN (SELECT rel FROM ref1) AND cfg.rel NOT IN (SELECT rel FROM ref2)
    )
    SELECT r.rel::regclass, r.col, r.parent::regclass, r.pcol,
           (SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = r.rel AND a.attname = cfg.owner_column AND NOT a.attisdropped),
           coalesce(cfg.access, 'staff'),
           coalesce(cfg.staff_privileges, 'SELECT, INSERT, UPDATE'),
           coalesce(cfg.on_erase, 'anonymise')
      FROM refs r LEFT JOIN cfg ON cfg.rel = r.rel
     ORDER BY r.rel::regclass::text, r.col;
$$;
COMMENT ON FUNCTION crm.customer_data_tables() IS 'every table holding customer data, one row per customer reference: tables of schema crm with a foreign key to crm.customer or a customer_id column, tables referencing those (parent), and tables listed in crm.protected_table, with their protection settings';

CREATE FUNCTION crm.personal_columns(tbl regclass) RETURNS name[]
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(array_agg(a.attname ORDER BY a.attnum), '{}')
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN crm.column_class k ON to_regclass(k.table_name) = tbl AND k.column_name = a.attname
     WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
       AND CASE
             WHEN k.class IS NOT NULL THEN k.class IN ('personal', 'secret')
             -- the owner column holds a staff login
             WHEN a.attname = (SELECT p.owner_column FROM crm.protected_table p
                                WHERE to_regclass(p.table_name) = tbl) THEN false
             -- a single-column foreign key to a table other than crm.customer holds a code
             WHEN EXISTS (SELECT 1 FROM pg_constraint co
                           WHERE co.conrelid = tbl AND co.contype = 'f' AND co.conkey = ARRAY[a.attnum]
                             AND co.confrelid <> 'crm.customer'::regclass) THEN false
             -- a key other tables reference is kept (use a surrogate key, or on_erase delete)
             WHEN EXISTS (SELECT 1 FROM pg_constraint co
                           WHERE co.confrelid = tbl AND co.contype = 'f' AND a.attnum = ANY (co.confkey)) THEN false
             -- a NOT NULL column checked against a list or a pattern holds a code
             WHEN a.attnotnull AND EXISTS (SELECT 1 FROM pg_constraint co
                           WHERE co.conrelid = tbl AND co.contype = 'c' AND co.conkey = ARRAY[a.attnum]
                             AND (pg_get_constraintdef(co.oid) LIKE '%= ANY (ARRAY[%'
                                  OR pg_get_constraintdef(co.oid) LIKE '% ~ ''^%')) THEN false
             ELSE (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END)
                  IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'crm.email'::regtype,
                      'crm.phone'::regtype, 'json'::regtype, 'jsonb'::regtype, 'bytea'::regtype)
           END;
$$;
COMMENT ON FUNCTION crm.personal_columns(regclass) IS 'personal columns of a table: text-like columns (text, varchar, crm.email, crm.phone, json, jsonb, bytea, arrays of them) that are not codes or keys (foreign keys to configuration, columns other tables reference, NOT NULL columns checked against a list or a pattern, crm.column_class code), not staff logins, plus columns classed personal or secret';

CREATE FUNCTION crm.secret_columns(tbl regclass) RETURNS name[]
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(array_agg(a.attname ORDER BY a.attnum), '{}')
      FROM crm.column_class k
      JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = k.column_name AND NOT a.attisdropped
     WHERE to_regclass(k.table_name) = tbl AND k.class = 'secret';
$$;
COMMENT ON FUNCTION crm.secret_columns(regclass) IS 'columns of a table classed secret in crm.column_class: the audit log records that they changed, never their values';

-- The value a personal column gets when its data is removed.
CREATE FUNCTION crm.blank_value(tbl regclass, col name) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a record;
BEGIN
    SELECT t.oid AS typ, t.typcategory AS cat, at.attnotnull AS notnull INTO a
      FROM pg_attribute at JOIN pg_type t ON t.oid = at.atttypid
     WHERE at.attrelid = tbl AND at.attname = col AND NOT at.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', col, tbl USING ERRCODE = '42703';
    END IF;
    IF NOT a.notnull THEN
        RETURN 'NULL';
    ELSIF a.cat = 'A' THEN
        RETURN format('%L::%s', '{}', format_type(a.typ, NULL));
    ELSIF a.typ IN ('json'::regtype, 'jsonb'::regtype) THEN
        RETURN format('%L::%s', '{}', format_type(a.typ, NULL));
    ELSIF a.typ IN ('text'::regtype, 'varchar'::regtype) THEN
        -- a column of a unique index gets a unique value
        IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute ia ON ia.attrelid = i.indrelid AND ia.attnum = ANY (i.indkey)
                    WHERE i.indrelid = tbl AND i.indisunique AND ia.attname = col) THEN
            RETURN format('%L || pg_catalog.gen_random_uuid()', 'erased:');
        END IF;
        RETURN quote_literal('erased');
    END IF;
    RAISE EXCEPTION 'cannot empty column "%" of table %', col, tbl
        USING ERRCODE = '0A000',
              DETAIL = format('The column is NOT NULL and of type %s, which has no neutral value.', format_type(a.typ, NULL)),
              HINT = 'Allow NULL in the column, or class it code or staff in crm.column_class if it is not personal data.';
END
$$;
COMMENT ON FUNCTION crm.blank_value(regclass, name) IS 'SQL expression of the value erasure and retention write into a personal column: NULL, or for NOT NULL columns ''erased'' (''erased:'' and a random UUID in a unique column), an empty array or an empty JSON object; an error for other NOT NULL types';

-- SET list emptying the personal columns of a table, and a condition true
-- when one of them still holds data; NULL when the table has none.
CREATE FUNCTION crm.blank_assignments(tbl regclass, OUT sets text, OUT pending text)
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT string_agg(format('%I = %s', c, b), ', '),
           string_agg(CASE WHEN b LIKE '%gen_random_uuid()'
                           THEN format('%I::text NOT LIKE %L', c, 'erased:%')
                           ELSE format('%I IS DISTINCT FROM %s', c, b) END, ' OR ')
      FROM unnest(crm.personal_columns(tbl)) AS c, LATERAL crm.blank_value(tbl, c) AS b;
$$;
COMMENT ON FUNCTION crm.blank_assignments(regclass) IS 'for a table: the SET list that empties its personal columns and a condition true for rows where one still holds data (both NULL when it has none)';

-- ---------------------------------------------------------------------------
-- Masking (C) and the masked views for analysts
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.mask_email(email text) RETURNS text
    AS 'MODULE_PATHNAME', 'mask_email' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.mask_email(text) IS 'hides an email address but its first character and domain: john.smith@example.com gives j***@example.com; without @ the result is ***';

CREATE FUNCTION crm.mask_email(email crm.email) RETURNS text
    AS 'MODULE_PATHNAME', 'mask_email' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.mask_email(crm.email) IS 'masks a crm.email like crm.mask_email(text)';

CREATE FUNCTION crm.mask_phone(phone text) RETURNS text
    AS 'MODULE_PATHNAME', 'mask_phone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.mask_phone(text) IS 'replaces the middle digits of a telephone number by *, keeping the layout: 10 or more digits keep the first 3 and last 4, 7 to 9 the first 2 and last 2, 5 or 6 the last 2, fewer none';

CREATE FUNCTION crm.mask_name(name text) RETURNS text
    AS 'MODULE_PATHNAME', 'mask_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.mask_phone(phone crm.phone) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN crm.mask_phone($1::text);
COMMENT ON FUNCTION crm.mask_phone(crm.phone) IS 'masks a crm.phone (its E.164 text) like crm.mask_phone(text)';

COMMENT ON FUNCTION crm.mask_name(text) IS 'initials of a name: the first character of each word (words separated by white space) followed by a dot, John Smith gives J. S.';

CREATE FUNCTION crm.birth_year(birth_date date) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.date_part('year', $1)::integer;
COMMENT ON FUNCTION crm.birth_year(date) IS 'the year of a birth date: what a masked view shows instead of the date';

CREATE VIEW crm.customer_masked AS
SELECT c.id AS customer_id,
       crm.mask_name(c.name) AS name_initials,
       c.gender,
       crm.birth_year(c.birth_date) AS birth_year,
       crm.mask_email(c.email::text) AS email,
       crm.mask_phone(c.phone::text) AS phone,
       c.region,
       c.city,
       c.income_band,
       c.education,
       c.tier,
       c.tags,
       c.created_at
  FROM crm.customer c;
COMMENT ON VIEW crm.customer_masked IS 'customers with personal data masked, for analysts: initials, birth year, masked email and phone, no address; shows every customer (it reads crm.customer as its owner)';
COMMENT ON COLUMN crm.customer_masked.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_masked.name_initials IS 'initials of the name (crm.mask_name)';
COMMENT ON COLUMN crm.customer_masked.gender IS 'female, male, other or unknown';
COMMENT ON COLUMN crm.customer_masked.birth_year IS 'year of birth only';
COMMENT ON COLUMN crm.customer_masked.email IS 'masked email (crm.mask_email)';
COMMENT ON COLUMN crm.customer_masked.phone IS 'masked telephone number (crm.mask_phone)';
COMMENT ON COLUMN crm.customer_masked.region IS 'region or province';
COMMENT ON COLUMN crm.customer_masked.city IS 'city';
COMMENT ON COLUMN crm.customer_masked.income_band IS 'income band';
COMMENT ON COLUMN crm.customer_masked.education IS 'education level';
COMMENT ON COLUMN crm.customer_masked.tier IS 'value tier';
COMMENT ON COLUMN crm.customer_masked.tags IS 'tags';
COMMENT ON COLUMN crm.customer_masked.created_at IS 'when the customer was first recorded';

CREATE VIEW crm.interaction_masked AS
SELECT i.id AS interaction_id, i.customer_id, i.occurred_at, i.channel, i.kind,
       pg_catalog.length(i.content) AS content_length
  FROM crm.interaction i;
COMMENT ON VIEW crm.interaction_masked IS 'interactions without their free text, for analysts';
COMMENT ON COLUMN crm.interaction_masked.interaction_id IS 'interaction id';
COMMENT ON COLUMN crm.interaction_masked.customer_id IS 'the customer';
COMMENT ON COLUMN crm.interaction_masked.occurred_at IS 'when it happened';
COMMENT ON COLUMN crm.interaction_masked.channel IS 'channel';
COMMENT ON COLUMN crm.interaction_masked.kind IS 'kind of interaction';
COMMENT ON COLUMN crm.interaction_masked.content_length IS 'length of the text in characters (the text itself is not shown)';

-- ---------------------------------------------------------------------------
-- Audit trigger and access log (C)
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.audit() RETURNS trigger
    AS 'MODULE_PATHNAME', 'audit' LANGUAGE C;
COMMENT ON FUNCTION crm.audit() IS 'AFTER INSERT OR UPDATE OR DELETE row trigger writing who changed what into crm.audit_log; arguments: secret column names (changes recorded without values) and customer=COLUMN (default: id on crm.customer, else customer_id); also an AFTER TRUNCATE statement trigger';

CREATE FUNCTION crm.log_access(relation text, rows bigint, purpose text DEFAULT NULL) RETURNS boolean
    AS 'MODULE_PATHNAME', 'log_access' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.log_access(text, bigint, text) IS 'records a read of personal data (what, how many rows, why) in crm.audit_log; above crm.export_alert_rows rows it also sends NOTIFY crm_alert with a JSON payload and returns true';

CREATE FUNCTION crm.enable_audit(tbl regclass DEFAULT NULL, extension_only boolean DEFAULT false) RETURNS SETOF regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    args text;
BEGIN
    FOR t IN
        SELECT x.rel,
               (SELECT min(d.reference_column) FROM crm.customer_data_tables() d
                 WHERE d.table_name = x.rel AND d.parent = 'crm.customer'::regclass) AS customer_col
          FROM (SELECT DISTINCT d.table_name AS rel FROM crm.customer_data_tables() d WHERE tbl IS NULL
                UNION
                SELECT tbl WHERE tbl IS NOT NULL) x
         WHERE (NOT extension_only OR EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = x.rel AND e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'))
         ORDER BY 1
    LOOP
        SELECT string_agg(quote_literal(x), ', ') INTO args
          FROM (SELECT unnest(crm.secret_columns(t.rel))::text
                UNION ALL
                SELECT 'customer=' || t.customer_col WHERE t.customer_col IS NOT NULL) s(x);
        IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t.rel AND g.tgname = 'crm_audit') THEN
            EXECUTE format('DROP TRIGGER crm_audit ON %s', t.rel);
        END IF;
        EXECUTE format('CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION crm.audit(%s)',
                       t.rel, coalesce(args, ''));
        IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t.rel AND g.tgname = 'crm_audit_truncate') THEN
            EXECUTE format('DROP TRIGGER crm_audit_truncate ON %s', t.rel);
        END IF;
        EXECUTE format('CREATE TRIGGER crm_audit_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION crm.audit()', t.rel);
        RETURN NEXT t.rel;
    END LOOP;
    IF tbl IS NULL THEN
        UPDATE crm.security_setting SET enabled = true WHERE name = 'audit' AND NOT enabled;
    END IF;
END
$$;
COMMENT ON FUNCTION crm.enable_audit(regclass, boolean) IS 'attaches crm.audit() as triggers crm_audit (rows) and crm_audit_truncate to a table, or with no table to every table holding customer data (crm.customer_data_tables(), only the extension''s own when extension_only) and records the choice in crm.security_setting, with the secret columns of crm.column_class; idempotent; returns the tables';

CREATE FUNCTION crm.disable_audit(tbl regclass DEFAULT NULL) RETURNS SETOF regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r regclass;
BEGIN
    FOR r IN
        SELECT t.tgrelid::regclass FROM pg_trigger t
         WHERE t.tgname = 'crm_audit' AND t.tgfoid = 'crm.audit()'::regprocedure
           AND (tbl IS NULL OR t.tgrelid = tbl)
         ORDER BY 1
    LOOP
        EXECUTE format('DROP TRIGGER crm_audit ON %s', r);
        IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = r AND g.tgname = 'crm_audit_truncate') THEN
            EXECUTE format('DROP TRIGGER crm_audit_truncate ON %s', r);
        END IF;
        RETURN NEXT r;
    END LOOP;
    IF tbl IS NULL THEN
        UPDATE crm.security_setting SET enabled = false WHERE name = 'audit' AND enabled;
    END IF;
END
$$;
COMMENT ON FUNCTION crm.disable_audit(regclass) IS 'drops the triggers crm_audit and crm_audit_truncate made by crm.enable_audit from a table, or from every table (and records the choice in crm.security_setting); returns the tables';

-- Export paths: every call is logged, large ones raise an alert.
CREATE FUNCTION crm.export_customers() RETURNS SETOF crm.customer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    RETURN QUERY SELECT * FROM crm.customer c ORDER BY c.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM crm.log_access('crm.customer', n, 'crm.export_customers()');
END
$$;
COMMENT ON FUNCTION crm.export_customers() IS 'every customer the caller may see (privileges and row-level security apply), logged in crm.audit_log; more rows than crm.export_alert_rows send NOTIFY crm_alert';

CREATE FUNCTION crm.export_customers_masked() RETURNS SETOF crm.customer_masked
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    RETURN QUERY SELECT * FROM crm.customer_masked m ORDER BY m.customer_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM crm.log_access('crm.customer_masked', n, 'crm.export_customers_masked()');
END
$$;
COMMENT ON FUNCTION crm.export_customers_masked() IS 'every row of crm.customer_masked, logged in crm.audit_log; more rows than crm.export_alert_rows send NOTIFY crm_alert';

-- ---------------------------------------------------------------------------
-- Roles and row-level security
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.member_of(role_name text) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname OPERATOR(pg_catalog.=) role_name
                      AND pg_catalog.pg_has_role(current_user, r.oid, 'USAGE'));
COMMENT ON FUNCTION crm.member_of(text) IS 'true when the current user has the privileges of the named role (directly or through membership); false when the role does not exist';

CREATE FUNCTION crm.visible_ids(tbl regclass, col name) RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1000
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT %I::bigint FROM %s', col, tbl);
END
$$;
COMMENT ON FUNCTION crm.visible_ids(regclass, name) IS 'the ids in a column of a table that the current user may see (privileges and row-level security apply): policies of child tables call it, so only the roles whose policy reaches it need access to the parent table';

CREATE FUNCTION crm.in_crm_group() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN crm.member_of('crm_admin') OR crm.member_of('crm_manager')
        OR crm.member_of('crm_agent') OR crm.member_of('crm_analyst');
COMMENT ON FUNCTION crm.in_crm_group() IS 'true when the current user belongs to one of the group roles crm_admin, crm_manager, crm_agent, crm_analyst: such users are restricted by the crm_* row-level security policies';

CREATE FUNCTION crm.team_logins(login text) RETURNS text[]
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT array_agg(DISTINCT l ORDER BY l)
      FROM (SELECT login
            UNION ALL
            SELECT s.login
              FROM crm.staff me JOIN crm.staff s ON s.team = me.team
             WHERE me.login = team_logins.login AND me.active) x(l);
$$;
COMMENT ON FUNCTION crm.team_logins(text) IS 'the login and, when it is an active member of crm.staff, the logins of every member of the same team: the owners whose rows agents and managers see; reads crm.staff as its owner, so policies work for roles without access to it';

CREATE FUNCTION crm.create_roles() RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r text;
    t record;
    cols text;
    v text;
BEGIN
    FOREACH r IN ARRAY ARRAY['crm_admin', 'crm_manager', 'crm_agent', 'crm_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            RETURN NEXT format('created role %s', r);
        END IF;
    END LOOP;
    EXECUTE 'GRANT USAGE ON SCHEMA crm TO crm_admin, crm_manager, crm_agent, crm_analyst';

    -- Configuration: readable by everyone, written by admins.
    FOR t IN
        SELECT c.oid::regclass AS rel
          FROM pg_class c
         WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p')
           AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'builtin' AND NOT a.attisdropped)
                OR c.oid IN ('crm.team'::regclass, 'crm.staff'::regclass))
         ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO crm_admin, crm_manager, crm_agent, crm_analyst', t.rel);
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO crm_admin', t.rel);
    END LOOP;
    EXECUTE 'REVOKE SELECT ON crm.staff FROM crm_analyst';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON crm.tag_rule TO crm_admin';

    -- Customer data: admins all, staff per crm.protected_table, analysts
    -- the columns that are not personal (crm.customer: masked view only).
    FOR t IN
        SELECT d.table_name AS rel, min(d.access) AS access, min(d.staff_privileges) AS privs
          FROM crm.customer_data_tables() d GROUP BY d.table_name ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO crm_admin', t.rel);
        IF t.access = 'staff' THEN
            EXECUTE format('GRANT %s ON %s TO crm_manager, crm_agent', t.privs, t.rel);
            IF t.rel <> 'crm.customer'::regclass THEN
                SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
                  FROM pg_attribute a
                 WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attname <> ALL (crm.personal_columns(t.rel))
                   AND a.attname IS DISTINCT FROM (SELECT min(d.owner_column) FROM crm.customer_data_tables() d WHERE d.table_name = t.rel)
                   AND NOT EXISTS (SELECT 1 FROM crm.column_class k
                                    WHERE to_regclass(k.table_name) = t.rel AND k.column_name = a.attname AND k.class = 'staff');
                IF cols IS NOT NULL THEN
                    EXECUTE format('GRANT SELECT (%s) ON %s TO crm_analyst', cols, t.rel);
                END IF;
            END IF;
        END IF;
    END LOOP;

    -- Logs: read by admins; written only through the extension.
    EXECUTE 'GRANT SELECT ON crm.audit_log, crm.erasure TO crm_admin';
    EXECUTE 'GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_admin, crm_manager, crm_agent';
    EXECUTE 'GRANT EXECUTE ON FUNCTION crm.erase_customer(bigint, text), crm.apply_retention(timestamptz) TO crm_admin';

    -- Views without personal data, and the masked ones.
    FOREACH v IN ARRAY ARRAY['crm.customer_masked', 'crm.interaction_masked', 'crm.rfm_segment_summary',
                             'crm.tier_summary', 'crm.lifecycle_summary', 'crm.complaint_stats'] LOOP
        IF to_regclass(v) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON %s TO crm_admin, crm_manager, crm_analyst', to_regclass(v));
        END IF;
    END LOOP;
    -- Every other view reads its tables as its owner, past row-level security: admins only.
    FOR t IN
        SELECT c.oid::regclass AS rel FROM pg_class c
         WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('v', 'm') ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO crm_admin', t.rel);
    END LOOP;
    RETURN NEXT 'granted privileges in database ' || current_database();
END
$$;
COMMENT ON FUNCTION crm.create_roles() IS 'creates the group roles crm_admin, crm_manager, crm_agent and crm_analyst when missing and grants them their privileges in this database (see the roles matrix); idempotent, run it again after adding tables';

CREATE FUNCTION crm.enable_row_security(extension_only boolean DEFAULT false) RETURNS TABLE (table_name regclass, policies integer)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    p record;
    vis text;
    chk text;
    own text;
    -- Policies apply to PUBLIC and test membership by role name, so they
    -- need no role to exist and survive any dump and restore.
    team constant text := '(SELECT crm.team_logins(current_user::text))::text[]';
    is_admin constant text := '(SELECT crm.member_of(''crm_admin''))';
    is_manager constant text := '(SELECT crm.member_of(''crm_manager''))';
    is_agent constant text := '(SELECT crm.member_of(''crm_agent''))';
    is_analyst constant text := '(SELECT crm.member_of(''crm_analyst''))';
    n integer;
BEGIN
    FOR t IN
        SELECT d.table_name AS rel, min(d.access) AS access, min(d.owner_column) AS owner_col,
               array_agg(d.reference_column ORDER BY d.reference_column) FILTER (WHERE d.reference_column IS NOT NULL) AS refs,
               array_agg(CASE WHEN (SELECT a.atttypid FROM pg_attribute a
                                     WHERE a.attrelid = d.parent AND a.attname = d.parent_column)
                                   IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype)
                              THEN format('%I IN (SELECT crm.visible_ids(%L, %L))', d.reference_column, d.parent, d.parent_column)
                              -- other key types: a plain subquery (the parent's policies apply too)
                              ELSE format('%I IN (SELECT %I FROM %s)', d.reference_column, d.parent_column, d.parent) END
                         ORDER BY d.reference_column) FILTER (WHERE d.reference_column IS NOT NULL) AS conds,
               coalesce(bool_or(d.parent <> 'crm.customer'::regclass), false) AS level2
          FROM crm.customer_data_tables() d
         WHERE (NOT extension_only OR EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = d.table_name AND e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'))
         GROUP BY d.table_name ORDER BY 1
    LOOP
        FOR p IN SELECT pol.polname FROM pg_policy pol WHERE pol.polrelid = t.rel AND pol.polname LIKE 'crm\_%' LOOP
            EXECUTE format('DROP POLICY %I ON %s', p.polname, t.rel);
        END LOOP;
        IF NOT (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = t.rel) THEN
            BEGIN
                EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
            EXCEPTION WHEN object_in_use THEN
                -- Deferred checks are pending on the table in this transaction
                -- (a single-transaction restore): run them now, then alter.
                SET CONSTRAINTS ALL IMMEDIATE;
                EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
            END;
        END IF;
        -- Roles outside the crm groups keep what their privileges give them.
        EXECUTE format('CREATE POLICY crm_other ON %s USING ((SELECT NOT crm.in_crm_group())) WITH CHECK ((SELECT NOT crm.in_crm_group()))', t.rel);
        EXECUTE format('CREATE POLICY crm_admin ON %s USING (%s) WITH CHECK (%s)', t.rel, is_admin, is_admin);
        IF t.access = 'staff' THEN
            IF t.refs IS NOT NULL THEN
                -- Read: rows of customers the user may see (the subquery
                -- applies the parent table's own policies), or whose owner
                -- column names someone of the user's team.  Write: rows of
                -- customers the user may see; rows without customer owned by
                -- the team; rows of a child table (complaint_event) written by
                -- the user, whose parent may not exist yet.  Managers also
                -- reach rows without customer and owner.
                vis := array_to_string(t.conds, ' OR ');
                chk := vis;
                own := (SELECT string_agg(format('%I IS NULL', c), ' AND ') FROM unnest(t.refs) c);
                IF t.owner_col IS NOT NULL THEN
                    vis := format('%s OR %I = ANY (%s)', vis, t.owner_col, team);
                    IF t.level2 THEN
                        chk := format('%s OR %I = current_user', chk, t.owner_col);
                    ELSE
                        chk := format('%s OR (%s AND %I = ANY (%s))', chk, own, t.owner_col, team);
                    END IF;
                    own := format('%s AND %I IS NULL', own, t.owner_col);
                END IF;
                EXECUTE format('CREATE POLICY crm_manager ON %s USING (%s AND (%s OR (%s))) WITH CHECK (%s AND (%s OR (%s)))',
                               t.rel, is_manager, vis, own, is_manager, chk, own);
                EXECUTE format('CREATE POLICY crm_agent ON %s USING (%s AND (%s)) WITH CHECK (%s AND (%s))',
                               t.rel, is_agent, vis, is_agent, chk);
            ELSIF t.owner_col IS NOT NULL THEN
                -- Owned rows: agents read their team's and write their own;
                -- managers read and write their team's and unassigned ones.
                own := format('%s AND %I = current_user', is_agent, t.owner_col);
                vis := format('%1$s AND (%2$I IS NULL OR %2$I = ANY (%3$s))', is_manager, t.owner_col, team);
                EXECUTE format('CREATE POLICY crm_manager ON %s USING (%s) WITH CHECK (%s)', t.rel, vis, vis);
                EXECUTE format('CREATE POLICY crm_agent_read ON %s FOR SELECT USING (%s AND %I = ANY (%s))',
                               t.rel, is_agent, t.owner_col, team);
                EXECUTE format('CREATE POLICY crm_agent_insert ON %s FOR INSERT WITH CHECK (%s)', t.rel, own);
                EXECUTE format('CREATE POLICY crm_agent_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', t.rel, own, own);
                EXECUTE format('CREATE POLICY crm_agent_delete ON %s FOR DELETE USING (%s)', t.rel, own);
            END IF;
            IF t.rel <> 'crm.customer'::regclass THEN
                -- Analysts read every row, through column privileges that leave out personal data.
                EXECUTE format('CREATE POLICY crm_analyst ON %s FOR SELECT USING (%s)', t.rel, is_analyst);
            END IF;
        END IF;
        SELECT count(*) INTO n FROM pg_policy pol WHERE pol.polrelid = t.rel;
        table_name := t.rel;
        policies := n;
        RETURN NEXT;
    END LOOP;
    UPDATE crm.security_setting s SET enabled = true WHERE s.name = 'row_security' AND NOT s.enabled;
END
$$;
COMMENT ON FUNCTION crm.enable_row_security(boolean) IS 'enables row-level security with the crm_* policies on every table of crm.customer_data_tables() (only the extension''s own when extension_only) and records the choice in crm.security_setting: members of crm_agent see rows of their team''s customers and write customers they own, crm_manager their team''s and unassigned rows, crm_admin all, crm_analyst all rows (personal columns withheld by privileges); roles outside these groups are not restricted; idempotent, run it again after adding tables';

CREATE FUNCTION crm.disable_row_security() RETURNS SETOF regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT DISTINCT pol.polrelid::regclass AS rel, pol.polname
          FROM pg_policy pol WHERE pol.polname LIKE 'crm\_%'
           AND pol.polrelid IN (SELECT d.table_name FROM crm.customer_data_tables() d)
         ORDER BY 1, 2
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', t.polname, t.rel);
    END LOOP;
    FOR t IN SELECT DISTINCT d.table_name AS rel FROM crm.customer_data_tables() d ORDER BY 1 LOOP
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t.rel);
        RETURN NEXT t.rel;
    END LOOP;
    UPDATE crm.security_setting SET enabled = false WHERE name = 'row_security' AND enabled;
END
$$;
COMMENT ON FUNCTION crm.disable_row_security() IS 'drops the crm_* policies and disables row-level security on every table holding customer data (and records the choice in crm.security_setting); returns the tables';

-- ---------------------------------------------------------------------------
-- Erasure and retention
-- ---------------------------------------------------------------------------

-- Condition selecting the rows of a customer-data table that belong to a
-- customer ($1), from the rows of crm.customer_data_tables().
CREATE FUNCTION crm.customer_rows_condition(tbl regclass) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN tbl = 'crm.customer'::regclass THEN 'id = ANY ($1)' ELSE
           string_agg(CASE WHEN d.parent = 'crm.customer'::regclass
                           THEN format('%I = ANY ($1)', d.reference_column)
                           ELSE format('%I IN (SELECT p.%I FROM %s p WHERE %s)', d.reference_column, d.parent_column, d.parent,
                                       (SELECT string_agg(format('p.%I = ANY ($1)', d2.reference_column), ' OR ')
                                          FROM crm.customer_data_tables() d2
                                         WHERE d2.table_name = d.parent AND d2.parent = 'crm.customer'::regclass))
                      END, ' OR ' ORDER BY d.reference_column) END
      FROM crm.customer_data_tables() d
     WHERE d.table_name = tbl AND d.reference_column IS NOT NULL;
$$;
COMMENT ON FUNCTION crm.customer_rows_condition(regclass) IS 'SQL condition true for the rows of a table that belong to one of the customers whose ids are the array $1 (directly or through a parent table); NULL for tables without a customer reference';

-- The primary key of a row as crm.audit() writes it (text values), as an expression over alias e.
CREATE FUNCTION crm.row_key_expression(tbl regclass) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT 'pg_catalog.jsonb_build_object(' || string_agg(format('%L, e.%I::text', a.attname, a.attname), ', ' ORDER BY a.attnum) || ')'
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = tbl AND i.indisprimary
       AND a.attname <> ALL (crm.secret_columns(tbl));
$$;
COMMENT ON FUNCTION crm.row_key_expression(regclass) IS 'SQL expression (over alias e) building the row_key that crm.audit() records for a row of the table; NULL without a primary key';

CREATE FUNCTION crm.erase_customer(customer_id bigint, reason text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET crm.audit_values = off
    AS $$
DECLARE
    t record;
    cond text;
    keyexpr text;
    b record;
    n bigint;
    affected jsonb := '{}';
    cid bigint := erase_customer.customer_id;
    ids bigint[];
BEGIN
    IF cid IS NULL OR reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'customer id and reason must be given'
            USING ERRCODE = '22004',
                  DETAIL = 'Every erasure is recorded with its reason in crm.erasure.',
                  HINT = 'Pass the customer id and the request or legal ground, without personal data.';
    END IF;
    PERFORM 1 FROM crm.customer c WHERE c.id = cid FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', cid
            USING ERRCODE = 'P0002',
                  DETAIL = 'Only existing customers can be erased.',
                  HINT = 'Check the id; a customer merged into another lives on under the kept id (see crm.customer_merge).';
    END IF;

    -- The customer and every duplicate merged into it, whose rows now carry
    -- its id but whose old audit entries carry their own.
    WITH RECURSIVE m(id) AS (
        SELECT cid
        UNION
        SELECT g.merged_id FROM crm.customer_merge g JOIN m ON g.kept_id = m.id
    )
    SELECT array_agg(m.id ORDER BY m.id) INTO ids FROM m;

    -- Tables referencing others first (complaint_event before complaint),
    -- crm.customer last.  For each: clean the audit log of the rows, then
    -- anonymise or delete them.
    FOR t IN
        SELECT d.table_name AS rel, min(d.on_erase) AS on_erase,
               bool_or(d.parent IS DISTINCT FROM 'crm.customer'::regclass AND d.parent IS NOT NULL) AS level2
          FROM crm.customer_data_tables() d
         GROUP BY d.table_name
         ORDER BY (d.table_name = 'crm.customer'::regclass), bool_or(d.parent IS DISTINCT FROM 'crm.customer'::regclass AND d.parent IS NOT NULL) DESC, 1
    LOOP
        cond := crm.customer_rows_condition(t.rel);
        CONTINUE WHEN cond IS NULL;
        keyexpr := crm.row_key_expression(t.rel);
        EXECUTE format('UPDATE crm.audit_log l
                           SET row_key = l.row_key - $2::text[], old_values = l.old_values - $2::text[],
                               new_values = l.new_values - $2::text[]
                         WHERE l.table_name = $3
                           AND (l.customer_id = ANY ($1) %s)',
                       CASE WHEN keyexpr IS NULL THEN ''
                            ELSE format('OR l.row_key IN (SELECT %s FROM %s e WHERE %s)', keyexpr, t.rel, cond) END)
            USING ids, crm.personal_columns(t.rel)::text[], t.rel::text;
        IF t.on_erase = 'delete' THEN
            EXECUTE format('DELETE FROM %s WHERE %s', t.rel, cond) USING ids;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                affected := affected || jsonb_build_object(t.rel::text, jsonb_build_object('deleted', n));
            END IF;
        ELSE
            SELECT * INTO b FROM crm.blank_assignments(t.rel);
            CONTINUE WHEN b.sets IS NULL;
            EXECUTE format('UPDATE %s SET %s WHERE (%s) AND (%s)', t.rel, b.sets, cond, b.pending) USING ids;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                affected := affected || jsonb_build_object(t.rel::text, jsonb_build_object('anonymised', n));
            END IF;
        END IF;
    END LOOP;

    INSERT INTO crm.erasure (customer_id, reason, affected) VALUES (cid, reason, affected);
    RETURN jsonb_build_object('customer_id', cid, 'affected', affected);
END
$$;
COMMENT ON FUNCTION crm.erase_customer(bigint, text) IS 'erases the personal data of one customer everywhere (crm.customer_data_tables(): customer row, identities, documents, free text, merge records, audit log values): personal columns emptied or rows deleted per crm.protected_table, facts kept under the customer id as a pseudonym; recorded in crm.erasure; crm_admin only';
REVOKE ALL ON FUNCTION crm.erase_customer(bigint, text) FROM PUBLIC;

CREATE FUNCTION crm.apply_retention(as_of timestamptz DEFAULT now())
    RETURNS TABLE (table_name text, action text, rows bigint)
    LANGUAGE plpgsql VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET crm.audit_values = off
    AS $$
DECLARE
    p record;
    b record;
    n bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the time retention is computed from, normally now().';
    END IF;
    FOR p IN
        SELECT to_regclass(r.table_name) AS rel, r.time_column, r.keep, r.action
          FROM crm.retention_policy r
         WHERE to_regclass(r.table_name) IS NOT NULL
         ORDER BY r.table_name
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = p.rel AND a.attname = p.time_column AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'retention policy of % names column "%", which does not exist', p.rel, p.time_column
                USING ERRCODE = '42703', HINT = 'Fix the row in crm.retention_policy.';
        END IF;
        IF p.action = 'delete' THEN
            EXECUTE format('DELETE FROM %s WHERE %I < $1', p.rel, p.time_column) USING as_of - p.keep;
        ELSE
            SELECT * INTO b FROM crm.blank_assignments(p.rel);
            CONTINUE WHEN b.sets IS NULL;
            EXECUTE format('UPDATE %s SET %s WHERE %I < $1 AND (%s)', p.rel, b.sets, p.time_column, b.pending)
                USING as_of - p.keep;
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        table_name := p.rel::text;
        action := p.action;
        rows := n;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION crm.apply_retention(timestamptz) IS 'applies crm.retention_policy: in each listed table, rows older than keep (by their time column, counted back from as_of) have their personal columns emptied or are deleted; returns the rows changed per table; crm_admin only; schedule it daily';
REVOKE ALL ON FUNCTION crm.apply_retention(timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- What was switched on, kept across dump and restore
-- ---------------------------------------------------------------------------

-- pg_dump keeps neither the policies nor the triggers of extension tables.
-- It keeps this table's rows: restoring them switches the same things on
-- again on the extension's tables (user tables get theirs from the dump).
CREATE TABLE crm.security_setting (
    name    text PRIMARY KEY CHECK (name IN ('row_security', 'audit')),
    enabled boolean NOT NULL DEFAULT false,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.security_setting IS 'whether row-level security (crm.enable_row_security) and auditing (crm.enable_audit) are on; changing a row, or restoring it from a dump, applies it to the extension''s tables';
COMMENT ON COLUMN crm.security_setting.name IS 'row_security or audit';
COMMENT ON COLUMN crm.security_setting.enabled IS 'on or off';
COMMENT ON COLUMN crm.security_setting.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.security_setting (name, enabled, builtin) VALUES ('row_security', false, true), ('audit', false, true);
CREATE TRIGGER security_setting_config_upsert BEFORE INSERT ON crm.security_setting
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('name');
ALTER TABLE crm.security_setting ENABLE ALWAYS TRIGGER security_setting_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.security_setting', '');
REVOKE ALL ON crm.security_setting FROM PUBLIC;

CREATE FUNCTION crm.security_setting_apply() RETURNS trigger
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.enabled IS NOT DISTINCT FROM OLD.enabled THEN
        RETURN NULL;
    END IF;
    IF NEW.name = 'row_security' THEN
        IF NEW.enabled THEN
            PERFORM crm.enable_row_security(true);
        ELSE
            PERFORM crm.disable_row_security();
        END IF;
    ELSIF NEW.name = 'audit' THEN
        IF NEW.enabled THEN
            PERFORM crm.enable_audit(NULL, true);
        ELSE
            PERFORM crm.disable_audit();
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.security_setting_apply() IS 'trigger on crm.security_setting: switches row-level security or auditing of the extension''s tables on or off to match the row, also when pg_restore loads it';
CREATE TRIGGER security_setting_apply AFTER INSERT OR UPDATE ON crm.security_setting
    FOR EACH ROW EXECUTE FUNCTION crm.security_setting_apply();
ALTER TABLE crm.security_setting ENABLE ALWAYS TRIGGER security_setting_apply;  -- also during a restore in replica mode
