# Bench section: security.  Masking functions against the SQL a user would
# write; the cost of row-level security for an agent against the owner's bare
# scan; the audit trigger in C against a PL/pgSQL audit trigger writing the
# same JSON, and against no trigger.
# Sourced by test/bench.sh (bench_ms, bench_row and a running database "bench").
# shellcheck shell=bash

n=${SEC_ROWS:-200000}
echo "Masking $n contacts (best of 3)."
crm_psql -q <<SQL
CREATE TABLE sec_contact AS
SELECT 'Customer.' || g || '@mail' || (g % 50) || '.example.com' AS email,
       '+8613' || lpad((g::bigint * 7919 % 1000000000)::text, 9, '0') AS phone,
       'Given' || g || ' Family' || (g % 977) AS name
  FROM generate_series(1, $n) g;
VACUUM ANALYZE sec_contact;
SQL
floor=$(bench_ms 3 "SELECT count(email), count(phone), count(name) FROM sec_contact")
sql_mask=$(bench_ms 3 "SELECT count(DISTINCT left(email, 1) || '***' || substring(email from '@.*\$')),
                              count(DISTINCT left(phone, 4) || repeat('*', length(phone) - 8) || right(phone, 4)),
                              count(DISTINCT (SELECT string_agg(left(w, 1) || '.', ' ') FROM regexp_split_to_table(btrim(name), '\s+') w))
                         FROM sec_contact")
crm_mask=$(bench_ms 3 "SELECT count(DISTINCT crm.mask_email(email)), count(DISTINCT crm.mask_phone(phone)), count(DISTINCT crm.mask_name(name))
                         FROM sec_contact")
bench_row "bare scan of the three columns (floor)" "$floor" "$floor"
bench_row "email, phone, initials masked in plain SQL + DISTINCT" "$sql_mask" "$floor"
bench_row "crm.mask_email, mask_phone, mask_name + DISTINCT" "$crm_mask" "$floor"
crm_psql -q -c "DROP TABLE sec_contact"

c=${SEC_CUSTOMERS:-20000}
echo
echo "Row-level security: an agent of one team of 10 reads purchases of $c customers (best of 3)."
crm_psql -q -v customers="$c" -f "$CRM_TOP/test/demo/00_data.sql" >/dev/null
crm_psql -q <<'SQL'
SELECT count(*) FROM crm.create_roles() \g /dev/null
SELECT count(*) FROM crm.enable_row_security() \g /dev/null
DROP ROLE IF EXISTS bench_agent;
CREATE ROLE bench_agent IN ROLE crm_agent;
INSERT INTO crm.team (name) SELECT 'bench_team_' || g FROM generate_series(0, 9) g;
INSERT INTO crm.staff (login, display_name, team) VALUES ('bench_agent', 'Bench agent', 'bench_team_0');
INSERT INTO crm.staff (login, display_name, team)
SELECT 'bench_staff_' || g, 'Staff ' || g, 'bench_team_' || (g % 10) FROM generate_series(1, 99) g;
UPDATE crm.customer SET owner = CASE WHEN abs(hashint8(id)) % 100 = 0 THEN 'bench_agent' ELSE 'bench_staff_' || (abs(hashint8(id)) % 100) END;
ANALYZE crm.customer; ANALYZE crm.purchase;
SQL
owner_all=$(bench_ms 3 "SELECT count(*), sum(amount) FROM crm.purchase")
owner_team=$(bench_ms 3 "SELECT count(*), sum(p.amount) FROM crm.purchase p JOIN crm.customer c ON c.id = p.customer_id
                          JOIN crm.staff s ON s.login = c.owner WHERE s.team = 'bench_team_0'")
agent=$(bench_ms 3 "SET ROLE bench_agent; SELECT count(*), sum(amount) FROM crm.purchase")
check=$(crm_psql -At -c "SET ROLE bench_agent" -c "SELECT count(*) FROM crm.purchase")
want=$(crm_psql -At -c "SELECT count(*) FROM crm.purchase p JOIN crm.customer c ON c.id = p.customer_id JOIN crm.staff s ON s.login = c.owner WHERE s.team = 'bench_team_0'")
bench_row "owner: every purchase (bare scan, floor)" "$owner_all" "$owner_all"
bench_row "owner: the team's purchases by a hand-written join" "$owner_team" "$owner_all"
bench_row "agent: SELECT under row-level security (same $check rows)" "$agent" "$owner_all"
[ "$check" = "$want" ] || echo "  FAILED: the agent saw $check rows, the join $want"

echo
echo "Audit: $n single-row inserts in one statement into a 6-column table (best of 3)."
crm_psql -q <<'SQL'
CREATE TABLE sec_none (id bigint PRIMARY KEY, customer_id bigint, kind text, note text, amount numeric, at timestamptz);
CREATE TABLE sec_plpgsql (LIKE sec_none INCLUDING ALL);
CREATE TABLE sec_c (LIKE sec_none INCLUDING ALL);
CREATE TABLE sec_plpgsql_log (LIKE crm.audit_log INCLUDING ALL);
CREATE FUNCTION sec_plpgsql_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sec_plpgsql_log (actor, session_actor, table_name, operation, customer_id, row_key, new_values)
    VALUES (current_user, session_user, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, NEW.customer_id,
            jsonb_build_object('id', NEW.id::text),
            (SELECT jsonb_object_agg(key, value) FROM jsonb_each_text(to_jsonb(NEW)) WHERE key <> 'note'));
    RETURN NULL;
END
$$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON sec_plpgsql FOR EACH ROW EXECUTE FUNCTION sec_plpgsql_audit();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON sec_c FOR EACH ROW EXECUTE FUNCTION crm.audit('note');
SQL
ins="SELECT g, g % 1000, 'k' || g % 7, 'secret ' || g, g * 0.5, now() FROM generate_series(1, $n) g"
none=$(bench_ms 3 "TRUNCATE sec_none; INSERT INTO sec_none $ins")
plp=$(bench_ms 3 "TRUNCATE sec_plpgsql, sec_plpgsql_log; INSERT INTO sec_plpgsql $ins")
cau=$(bench_ms 3 "TRUNCATE sec_c; DELETE FROM crm.audit_log WHERE table_name = 'public.sec_c'; INSERT INTO sec_c $ins")
bench_row "no trigger (floor)" "$none" "$none"
bench_row "PL/pgSQL audit trigger (to_jsonb, secret column left out)" "$plp" "$none"
bench_row "crm.audit('note')" "$cau" "$none"
awk -v a="$plp" -v b="$cau" -v f="$none" 'BEGIN { printf "  audit overhead: crm.audit %.2fx the speed of the PL/pgSQL trigger\n", (a - f) / (b - f) }'
crm_psql -q -c "DROP TABLE sec_none, sec_plpgsql, sec_c, sec_plpgsql_log" -c "DROP FUNCTION sec_plpgsql_audit()"
