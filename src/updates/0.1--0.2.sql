-- crm: upgrade from 0.1 to 0.2.
-- This file is assembled by make from src/updates/0.1--0.2.sql and the modules
-- new in 0.2 (SQL_NEW in the Makefile); edit those instead.

\echo Use "ALTER EXTENSION crm UPDATE TO '0.2'" to load this file. \quit

-- Changes to objects that 0.1 created go here, before the new modules.

-- workflow_guard gained the event_key= setting (the id column of the event table).
COMMENT ON FUNCTION crm.workflow_guard() IS 'BEFORE INSERT OR UPDATE row trigger enforcing a workflow of crm.workflow_transition: arguments are the workflow name, then key=value settings (column names, events=, event_key=, notify=); validates moves (SQLSTATE WF001), stamps times, computes SLA deadlines, pauses the clock in waiting_customer, writes events, sends NOTIFY';

-- complaint_event: one index instead of two.  The key becomes (complaint_id,
-- id), which also serves a complaint's history in order, so every event row
-- costs one index entry less to write.
ALTER TABLE crm.complaint_event DROP CONSTRAINT complaint_event_pkey,
    ADD CONSTRAINT complaint_event_pkey PRIMARY KEY (complaint_id, id);
DROP INDEX crm.complaint_event_complaint_idx;

-- rfm_analyze reads a plain table directly, in parallel when it is large.
COMMENT ON FUNCTION crm.rfm_analyze(timestamptz, regclass, name, name, name, interval) IS 'RFM of every customer of a purchase table in one pass: recency (whole days since the last purchase up to as_of), frequency (rows), monetary (sum of amount), quintile scores, crm.rfm and segment; only purchases in (as_of - period, as_of] count; a plain table is read directly (by parallel workers sharing one hash table when it is large), any other source through one crm.rfm_collect query';

-- Stored scores of a customer that no longer exists (deleted, or merged into
-- another by crm.merge_customers) go with it, so that the summaries never
-- count a customer twice.  SECURITY DEFINER: whoever may delete a customer
-- may drop its scores, with or without privileges on the score table.
CREATE FUNCTION crm.forget_rfm_score() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM crm.customer_rfm_score WHERE customer_id = OLD.id;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.forget_rfm_score() FROM PUBLIC;
COMMENT ON FUNCTION crm.forget_rfm_score() IS 'AFTER DELETE row trigger on crm.customer: deletes the stored RFM scores of the deleted (or merged) customer';
CREATE TRIGGER crm_forget_rfm_score AFTER DELETE ON crm.customer
    FOR EACH ROW EXECUTE FUNCTION crm.forget_rfm_score();
COMMENT ON TRIGGER crm_forget_rfm_score ON crm.customer IS 'a deleted customer''s stored RFM scores go with it (crm.forget_rfm_score)';

-- rfm: the state of crm.rfm_collect is an expanded object while the aggregate
-- runs and flattens to its used entries (same text and binary forms).
COMMENT ON TYPE crm.rfm_table IS 'state of crm.rfm_collect: purchases, last purchase and exact spend of every customer of a table (a hash table while aggregating, the used entries only when stored or passed between processes); exact text and binary round trip';
COMMENT ON FUNCTION crm.rfm_collect_final(crm.rfm_table) IS 'final function of crm.rfm_collect: the table with its last batch of purchases moved in, as a flat value of its used entries';
