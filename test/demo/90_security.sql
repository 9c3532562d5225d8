-- Tour stop: roles and row-level security, masking for analysts, audit,
-- a bulk-export alert, encryption of a document number and erasure.
\pset null '-'

\echo
\echo '== Security: roles, row-level security, masking, audit, erasure'
\echo '-- group roles and their privileges in this database (roles are cluster-wide, created once),'
\echo '-- then row-level security on every table holding customer data'
SELECT crm.create_roles() AS done;
SELECT count(*) AS tables_protected FROM crm.enable_row_security();
\echo '-- two agents of one team, one of another, an analyst'
DO $$
BEGIN
    PERFORM 1 FROM pg_roles WHERE rolname = 'demo_lin';
    IF NOT FOUND THEN
        CREATE ROLE demo_lin IN ROLE crm_agent;
        CREATE ROLE demo_wang IN ROLE crm_agent;
        CREATE ROLE demo_zhao IN ROLE crm_agent;
        CREATE ROLE demo_analyst IN ROLE crm_analyst;
    END IF;
END
$$;
INSERT INTO crm.team (name, region) VALUES ('demo_east', 'east'), ('demo_south', 'south') ON CONFLICT DO NOTHING;
INSERT INTO crm.staff (login, display_name, team) VALUES
    ('demo_lin', 'Lin', 'demo_east'), ('demo_wang', 'Wang', 'demo_east'), ('demo_zhao', 'Zhao', 'demo_south')
ON CONFLICT DO NOTHING;
UPDATE crm.customer SET owner = (ARRAY['demo_lin', 'demo_wang', 'demo_zhao'])[1 + id % 3] WHERE id <= 30;

\echo '-- what each agent sees of the first 30 customers: Lin and Wang share a team'
SET ROLE demo_lin;
SELECT current_user AS agent, count(*) AS customers_seen, count(*) FILTER (WHERE owner = current_user) AS own
  FROM crm.customer WHERE id <= 30;
\echo '-- Lin may read Wang''s customers but not change them'
WITH u AS (UPDATE crm.customer SET city = 'Hangzhou' WHERE id <= 30 AND owner = 'demo_wang' RETURNING 1)
SELECT count(*) AS rows_changed FROM u;
RESET ROLE;
SET ROLE demo_zhao;
SELECT current_user AS agent, count(*) AS customers_seen FROM crm.customer WHERE id <= 30;
RESET ROLE;

\echo '-- an analyst reads masked data only; the customer table itself is refused'
SET ROLE demo_analyst;
SELECT customer_id, name_initials, birth_year, email, phone, city, tier
  FROM crm.customer_masked ORDER BY customer_id LIMIT 5;
\set ON_ERROR_STOP 0
SELECT name FROM crm.customer LIMIT 1;
\set ON_ERROR_STOP 1
RESET ROLE;

\echo '-- audit: every change to customer data, with old and new values'
SELECT count(*) AS tables_audited FROM crm.enable_audit();
SET ROLE demo_lin;
UPDATE crm.customer SET address = 'No. 8 West Lake Road' WHERE id = (SELECT min(id) FROM crm.customer WHERE owner = 'demo_lin');
RESET ROLE;
SELECT actor, table_name, operation, customer_id, changed_columns, old_values ->> 'address' AS old_address,
       new_values ->> 'address' AS new_address
  FROM crm.audit_log WHERE operation = 'UPDATE' ORDER BY id DESC LIMIT 1;

\echo '-- a bulk export is logged and, above crm.export_alert_rows, sends NOTIFY crm_alert'
SET crm.export_alert_rows = 100;
SELECT count(*) AS exported FROM crm.export_customers_masked();
SELECT actor, table_name, rows, detail FROM crm.audit_log WHERE operation = 'READ' ORDER BY id DESC LIMIT 1;
RESET crm.export_alert_rows;

\echo '-- a document number encrypted with a key the database never stores (needs pgcrypto)'
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SET crm.encryption_key = 'demo key, kept by the application';
INSERT INTO crm.customer_document (customer_id, kind, number_encrypted, country)
VALUES (1, 'id_card', crm.encrypt_text('330106199001011234'), 'CN');
SELECT kind, length(number_encrypted) AS stored_bytes, crm.decrypt_text(number_encrypted) AS decrypted
  FROM crm.customer_document WHERE customer_id = 1;
RESET crm.encryption_key;

\echo '-- erasure on request: personal data gone everywhere, purchases kept under the id'
SELECT count(*) AS purchases, sum(amount) AS revenue FROM crm.purchase;
SELECT jsonb_pretty(crm.erase_customer(1, 'customer request 2026-001') -> 'affected') AS erased;
SELECT id, name, email, phone, address, birth_date, region FROM crm.customer WHERE id = 1;
SELECT count(*) AS purchases, sum(amount) AS revenue FROM crm.purchase;
SELECT customer_id, reason, erased_by FROM crm.erasure;
