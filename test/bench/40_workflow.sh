# Workflow section of make bench: pgbench throughput of one insert and two
# status moves per transaction (2 clients, synchronous_commit off) on the same
# table with no trigger, with a PL/pgSQL trigger doing the same work as the
# engine (validation against crm.workflow_transition, stamps, deadlines from
# crm.sla_policy, pause clock, event row, NOTIFY) and with crm.workflow_guard.
# NOTIFY serialises the commits of every notifying transaction, so both
# triggers are also measured without it (PL/pgSQL without the pg_notify call,
# the engine with notify=none), the engine once more without event rows
# (events=none, notify=none) to show what its own logic costs, and a trigger
# that does nothing, for what PostgreSQL charges any BEFORE row trigger.
# Last, the writes alone without any trigger: each statement also inserts its
# event row and sends its notification from writable CTEs, with no
# validation, no deadlines and no foreign key on the event table; a lower
# bound of what the work the engine must do costs.
# Every table has the foreign keys of the shipped crm.complaint and
# crm.complaint_event, so the work is that of the real tables.
# shellcheck shell=bash

WF_PGBENCH=${PGBENCH:-$("$PG_CONFIG" --bindir)/pgbench}
WF_SECS=${WF_SECS:-5}
WF_ROUNDS=${WF_ROUNDS:-3}

crm_psql <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS wf_none, wf_noop, wf_plpgsql, wf_c, wf_cn, wf_pn, wf_cne, wf_floor, wf_plpgsql_event, wf_c_event, wf_cn_event, wf_pn_event, wf_floor_event;
DROP FUNCTION IF EXISTS wf_plpgsql_guard(), wf_pn_guard(), wf_noop_guard();
CREATE TABLE wf_none (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE wf_none ALTER COLUMN status SET DEFAULT 'received', ALTER COLUMN priority SET DEFAULT 'normal';
-- What any BEFORE row trigger costs before it does anything (PostgreSQL locks
-- the old row before it calls a BEFORE UPDATE row trigger).
CREATE TABLE wf_noop (LIKE wf_none INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE FUNCTION wf_noop_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_noop FOR EACH ROW EXECUTE FUNCTION wf_noop_guard();
CREATE TABLE wf_plpgsql (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_c (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_cn (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_cn_event (LIKE crm.complaint_event INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
CREATE TABLE wf_plpgsql_event (LIKE crm.complaint_event INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
CREATE TABLE wf_c_event (LIKE crm.complaint_event INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
CREATE TABLE wf_pn (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_pn_event (LIKE crm.complaint_event INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
CREATE TABLE wf_cne (LIKE crm.complaint INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_floor (LIKE wf_none INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE wf_floor_event (LIKE crm.complaint_event INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);

-- The copies carry the foreign keys of the shipped tables (LIKE leaves them
-- out): every complaint table those of crm.complaint, every event table that
-- of crm.complaint_event, pointing at its own complaint table.  So each
-- variant pays the checks that crm.complaint and crm.complaint_event pay.
DO $$
DECLARE
    c record;
    k record;
    def text;
BEGIN
    FOR c IN SELECT * FROM (VALUES ('wf_none', NULL), ('wf_noop', NULL), ('wf_plpgsql', 'wf_plpgsql_event'),
                                   ('wf_c', 'wf_c_event'), ('wf_cn', 'wf_cn_event'), ('wf_pn', 'wf_pn_event'),
                                   ('wf_cne', NULL), ('wf_floor', NULL)) v(t, e) LOOP
        FOR k IN SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
                  WHERE conrelid = 'crm.complaint'::regclass AND contype = 'f' LOOP
            EXECUTE format('ALTER TABLE %I ADD %s', c.t, k.def);
        END LOOP;
        IF c.e IS NOT NULL THEN
            FOR k IN SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
                      WHERE conrelid = 'crm.complaint_event'::regclass AND contype = 'f' LOOP
                def := replace(k.def, 'REFERENCES crm.complaint(', format('REFERENCES %I(', c.t));
                IF def = k.def THEN
                    RAISE EXCEPTION 'unexpected foreign key on crm.complaint_event: %', k.def;
                END IF;
                EXECUTE format('ALTER TABLE %I ADD %s', c.e, def);
            END LOOP;
        END IF;
    END LOOP;
END $$;

-- What a user would write in PL/pgSQL for the same rules.
CREATE FUNCTION wf_plpgsql_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t crm.workflow_transition;
    p crm.sla_policy;
    old_status text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
    moved boolean;
    recompute boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.status := coalesce(NEW.status, 'received');
        NEW.created_at := coalesce(NEW.created_at, now());
        IF NEW.priority IS NULL THEN
            NEW.priority := coalesce((SELECT default_priority FROM crm.complaint_category
                                       WHERE category = NEW.category), 'normal');
        END IF;
        NEW.sla_paused := coalesce(NEW.sla_paused, interval '0');
        NEW.sla_paused_at := NULL;
        moved := true;
        recompute := true;
    ELSE
        NEW.response_due := OLD.response_due;
        NEW.resolution_due := OLD.resolution_due;
        NEW.sla_paused := OLD.sla_paused;
        NEW.sla_paused_at := OLD.sla_paused_at;
        NEW.created_at := OLD.created_at;
        moved := NEW.status IS DISTINCT FROM OLD.status;
        recompute := NEW.priority IS DISTINCT FROM OLD.priority;
    END IF;
    IF moved THEN
        SELECT * INTO t FROM crm.workflow_transition
         WHERE workflow = 'complaint' AND from_status IS NOT DISTINCT FROM old_status AND to_status = NEW.status;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'invalid transition from "%" to "%"', old_status, NEW.status USING ERRCODE = 'WF001',
                HINT = (SELECT 'Allowed: ' || string_agg(to_status, ', ') FROM crm.workflow_transition
                         WHERE workflow = 'complaint' AND from_status IS NOT DISTINCT FROM old_status);
        END IF;
        IF t.role IS NOT NULL AND NOT pg_has_role(t.role, 'USAGE') THEN
            RAISE EXCEPTION 'permission denied' USING ERRCODE = '42501';
        END IF;
        IF t.requires_confirmation AND NOT NEW.customer_confirmed THEN
            RAISE EXCEPTION 'not confirmed' USING ERRCODE = 'WF002';
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF OLD.first_response_at IS NULL THEN NEW.first_response_at := coalesce(NEW.first_response_at, now()); END IF;
            IF NEW.status = 'resolved' THEN NEW.resolved_at := now(); END IF;
            IF NEW.status = 'closed' THEN NEW.closed_at := now(); END IF;
            IF NEW.status = 'reopened' THEN NEW.resolved_at := NULL; NEW.closed_at := NULL; END IF;
            IF NEW.status = 'waiting_customer' THEN NEW.sla_paused_at := now(); END IF;
            IF OLD.status = 'waiting_customer' THEN
                SELECT * INTO p FROM crm.sla_policy WHERE priority = NEW.priority;
                NEW.sla_paused := NEW.sla_paused + crm.business_diff(OLD.sla_paused_at, now(), p.calendar);
                NEW.sla_paused_at := NULL;
                recompute := true;
            END IF;
        END IF;
        INSERT INTO wf_plpgsql_event (complaint_id, from_status, to_status, note)
        VALUES (NEW.id, old_status, NEW.status, NEW.status_note);
        PERFORM pg_notify('crm_complaint', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'from', old_status,
                                                             'to', NEW.status, 'priority', NEW.priority)::text);
    END IF;
    NEW.status_note := NULL;
    IF recompute THEN
        SELECT * INTO p FROM crm.sla_policy WHERE priority = NEW.priority;
        NEW.response_due := crm.business_add(NEW.created_at, p.first_response, p.calendar);
        NEW.resolution_due := crm.business_add(NEW.created_at, p.resolution + NEW.sla_paused, p.calendar);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_plpgsql FOR EACH ROW EXECUTE FUNCTION wf_plpgsql_guard();
-- The same function without its pg_notify call, writing into its own event table.
DO $$
DECLARE
    src text := pg_get_functiondef('wf_plpgsql_guard()'::regprocedure);
    pn text := replace(replace(regexp_replace(src, 'PERFORM pg_notify\(.*?::text\);', ''),
                               'wf_plpgsql_event', 'wf_pn_event'), 'wf_plpgsql_guard', 'wf_pn_guard');
BEGIN
    IF pn ~ 'notify' OR pn = src THEN
        RAISE EXCEPTION 'could not derive the PL/pgSQL trigger without NOTIFY';
    END IF;
    EXECUTE pn;
END $$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_pn FOR EACH ROW EXECUTE FUNCTION wf_pn_guard();
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_c FOR EACH ROW
    EXECUTE FUNCTION crm.workflow_guard('complaint', 'events=wf_c_event');
-- The same without NOTIFY, to show what the notifications cost.
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_cn FOR EACH ROW
    EXECUTE FUNCTION crm.workflow_guard('complaint', 'events=wf_cn_event', 'notify=none');
-- No autovacuum on these tables: its workers would count in the CPU figures below.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ '^wf_' AND c.relnamespace = 'public'::regnamespace LOOP
        EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = off)', t);
    END LOOP;
END $$;
-- The engine's own logic alone: no event rows, no NOTIFY.
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON wf_cne FOR EACH ROW
    EXECUTE FUNCTION crm.workflow_guard('complaint', 'events=none', 'notify=none');
SQL

wf_script() {
    if [ "$1" = wf_floor ]; then
        # No trigger: the statements write the event rows and send the
        # notifications themselves (one line per statement for pgbench).
        cat <<'EOF2'
BEGIN;
WITH c AS (INSERT INTO wf_floor (channel, category, subject) VALUES ('phone', 'billing', 'bench') RETURNING id, status, priority), e AS (INSERT INTO wf_floor_event (complaint_id, from_status, to_status) SELECT id, NULL, status FROM c) SELECT id, pg_notify('crm_complaint', json_build_object('table', 'wf_floor', 'id', id, 'from', NULL, 'to', status, 'priority', priority)::text) AS n FROM c \gset
WITH u AS (UPDATE wf_floor SET status = 'classified' WHERE id = :id RETURNING id, priority), e AS (INSERT INTO wf_floor_event (complaint_id, from_status, to_status) SELECT id, 'received', 'classified' FROM u) SELECT pg_notify('crm_complaint', json_build_object('table', 'wf_floor', 'id', id, 'from', 'received', 'to', 'classified', 'priority', priority)::text) FROM u;
WITH u AS (UPDATE wf_floor SET status = 'investigating' WHERE id = :id RETURNING id, priority), e AS (INSERT INTO wf_floor_event (complaint_id, from_status, to_status) SELECT id, 'classified', 'investigating' FROM u) SELECT pg_notify('crm_complaint', json_build_object('table', 'wf_floor', 'id', id, 'from', 'classified', 'to', 'investigating', 'priority', priority)::text) FROM u;
END;
EOF2
        return
    fi
    cat <<EOF2
BEGIN;
INSERT INTO $1 (channel, category, subject) VALUES ('phone', 'billing', 'bench') RETURNING id \gset
UPDATE $1 SET status = 'classified' WHERE id = :id;
UPDATE $1 SET status = 'investigating' WHERE id = :id;
END;
EOF2
}

# Prints the transactions per second of one pgbench run on a table.
wf_tps() {
    local f
    f=$(mktemp)
    wf_script "$1" >"$f"
    PGOPTIONS='-c synchronous_commit=off' "$WF_PGBENCH" -n -M "${WF_MODE:-prepared}" -c 2 -j 2 -T "$WF_SECS" -f "$f" 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
    rm -f "$f"
}

# Prints the server CPU time per transaction (microseconds) of a fixed number
# of transactions on a table: the CPU time of the backends, which the
# postmaster collects when they exit (cutime + cstime of the postmaster).
# Unlike throughput, this hardly moves with other load on the machine, and it
# does not count waiting (NOTIFY's commit lock, for one).
wf_cpu() {
    local f pm before after n=${WF_TX:-4000}
    f=$(mktemp)
    wf_script "$1" >"$f"
    pm=$(head -1 "$CRM_DATA/postmaster.pid")
    before=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
    PGOPTIONS='-c synchronous_commit=off' "$WF_PGBENCH" -n -M "${WF_MODE:-prepared}" -c 2 -j 2 -t "$n" -f "$f" >/dev/null 2>&1
    sleep 0.5
    after=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
    rm -f "$f"
    awk -v d=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", d / hz * 1e6 / (2 * n) }'
}

# Rounds interleaved so that background load hits all tables alike; best of each.
wf_tables="wf_none wf_noop wf_plpgsql wf_c wf_pn wf_cn wf_cne wf_floor"
declare -A wf_best=()
for t in $wf_tables; do wf_best[$t]=0; done
for _ in $(seq "$WF_ROUNDS"); do
    for t in $wf_tables; do
        tps=$(wf_tps "$t"); tps=${tps:-0}
        if awk "BEGIN{exit !($tps > ${wf_best[$t]})}"; then wf_best[$t]=$tps; fi
    done
done
declare -A wf_cpu_us=()
for t in $wf_tables; do wf_cpu_us[$t]=$(wf_cpu "$t"); done
echo "  pgbench: 1 insert + 2 status moves per transaction, 2 clients, -M ${WF_MODE:-prepared}, synchronous_commit off, best of ${WF_ROUNDS} interleaved runs of ${WF_SECS}s;"
echo "  then server CPU per transaction over ${WF_TX:-4000} transactions per client (ratio: no trigger's CPU / this one's)"
for t in $wf_tables; do
    case $t in
        wf_none) label="no trigger" ;;
        wf_noop) label="a PL/pgSQL trigger that does nothing (RETURN NEW)" ;;
        wf_plpgsql) label="PL/pgSQL trigger (same work, with NOTIFY)" ;;
        wf_c) label="crm.workflow_guard (C, with NOTIFY)" ;;
        wf_pn) label="PL/pgSQL trigger without NOTIFY" ;;
        wf_cn) label="crm.workflow_guard, notify=none" ;;
        wf_cne) label="crm.workflow_guard, events=none, notify=none" ;;
        wf_floor) label="no trigger; the writes alone (CTEs), with NOTIFY" ;;
    esac
    awk -v l="$label" -v t="${wf_best[$t]}" -v r="${wf_best[wf_none]}" -v c="${wf_cpu_us[$t]}" -v rc="${wf_cpu_us[wf_none]}" \
        'BEGIN { printf "  %-50s %7.0f tps %5.2f | %6.1f us CPU %5.2f\n", l, t, t / r, c, rc / c }'
done
# Cost of a trigger: the share of the no-trigger throughput it loses.
awk -v n="${wf_best[wf_none]}" -v p="${wf_best[wf_plpgsql]}" -v c="${wf_best[wf_c]}" \
    -v pn="${wf_best[wf_pn]}" -v cn="${wf_best[wf_cn]}" 'BEGIN {
    printf "  cost of the C engine / cost of PL/pgSQL (throughput lost): %.2f with NOTIFY, %.2f without\n",
           (1 - c / n) / (1 - p / n), (1 - cn / n) / (1 - pn / n) }'

awk -v n="${wf_best[wf_none]}" -v c="${wf_best[wf_c]}" -v f="${wf_best[wf_floor]}" 'BEGIN {
    printf "  the writes alone, with no trigger, keep %.2f of the no-trigger throughput; the C engine, which also validates, stamps and sets deadlines, %.2f\n",
           f / n, c / n }'

crm_psql -At -c "SELECT '  rows: ' || (SELECT count(*) FROM wf_c) || ' complaints, ' || (SELECT count(*) FROM wf_c_event) || ' events (C); '
                 || (SELECT count(*) FROM wf_plpgsql) || ' complaints, ' || (SELECT count(*) FROM wf_plpgsql_event) || ' events (PL/pgSQL); '
                 || (SELECT count(*) FROM wf_pn) || ' complaints, ' || (SELECT count(*) FROM wf_pn_event) || ' events (PL/pgSQL without NOTIFY)'"
