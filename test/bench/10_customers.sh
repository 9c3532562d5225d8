# Bench section: customer types and duplicate detection.
# Sourced by test/bench.sh (bench_ms, bench_row and a running database "bench").
# shellcheck shell=bash

n=${BENCH_ROWS:-1000000}
echo "Customer types: $n raw contact strings, parsed and normalised (best of 3)."
crm_psql -q <<SQL
CREATE TABLE raw_contact AS
SELECT 'Customer.' || g || '@Mail' || (g % 50) || '.Example.com' AS email_text,
       '+86 1' || (3 + g % 7) || lpad((g::bigint * 7919 % 1000000000)::text, 9, '0') AS phone_text
  FROM generate_series(1, $n) g;
VACUUM ANALYZE raw_contact;
SQL
floor=$(bench_ms 3 "SELECT count(email_text), count(phone_text) FROM raw_contact")
sql_email=$(bench_ms 3 "SELECT count(DISTINCT lower(btrim(email_text))) FROM raw_contact WHERE btrim(email_text) ~* '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\$'")
crm_email=$(bench_ms 3 "SELECT count(DISTINCT email_text::crm.email) FROM raw_contact")
sql_phone=$(bench_ms 3 "SELECT count(DISTINCT regexp_replace(phone_text, '[^0-9+]', '', 'g')) FROM raw_contact WHERE regexp_replace(phone_text, '[^0-9]', '', 'g') ~ '^86[0-9]{10,11}\$'")
crm_phone=$(bench_ms 3 "SELECT count(DISTINCT phone_text::crm.phone) FROM raw_contact")
bench_row "bare scan of the strings (floor)" "$floor" "$floor"
bench_row "email: regex check + lower() + DISTINCT (plain SQL)" "$sql_email" "$floor"
bench_row "email: ::crm.email + DISTINCT" "$crm_email" "$floor"
bench_row "phone: regexp_replace digits + length regex + DISTINCT (plain SQL)" "$sql_phone" "$floor"
bench_row "phone: ::crm.phone (full E.164 validation) + DISTINCT" "$crm_phone" "$floor"
awk -v a="$sql_email" -v b="$crm_email" -v c="$sql_phone" -v d="$crm_phone" \
    'BEGIN { printf "  crm.email is %.2fx the speed of the plain SQL; crm.phone %.2fx\n", a / b, c / d }'
crm_psql -q -c "DROP TABLE raw_contact"

for size in 20000 100000; do
    echo
    echo "Duplicate detection on $size customers (demo generator; best of 2)."
    crm_psql -q -c "TRUNCATE crm.customer, crm.purchase, crm.interaction, crm.customer_identity, crm.customer_merge CASCADE"
    crm_psql -q -v customers="$size" -f "$CRM_TOP/test/demo/00_data.sql" >/dev/null
    scan=$(bench_ms 2 "SELECT count(*) FROM crm.customer")
    ours=$(bench_ms 2 "SELECT count(*) FROM crm.find_duplicates(0.9)")
    bench_row "bare scan of crm.customer (floor)" "$scan" "$scan"
    bench_row "crm.find_duplicates(0.9)" "$ours" "$scan"
    if [ "$size" -le 20000 ]; then
        # What a user writes without the extension: the same three kinds of
        # evidence, with fuzzystrmatch's levenshtein on names within a city.
        crm_psql -q -c "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch"
        plain=$(bench_ms 2 "SELECT count(*) FROM (
            SELECT a.id, b.id FROM crm.customer a JOIN crm.customer b ON a.phone::text = b.phone::text AND a.id < b.id
            UNION
            SELECT a.id, b.id FROM crm.customer a JOIN crm.customer b ON lower(a.email::text) = lower(b.email::text) AND a.id < b.id
            UNION
            SELECT a.id, b.id FROM crm.customer a JOIN crm.customer b
                ON (a.city = b.city OR a.birth_date = b.birth_date) AND a.id < b.id
               AND levenshtein(lower(a.name), lower(b.name)) <= 2) s")
        bench_row "plain SQL: self-joins + levenshtein within city or birth date" "$plain" "$scan"
        awk -v a="$plain" -v b="$ours" 'BEGIN { printf "  crm.find_duplicates is %.1fx faster than the plain SQL\n", a / b }'
    fi
done
crm_psql -q -c "TRUNCATE crm.customer, crm.purchase, crm.interaction, crm.customer_identity, crm.customer_merge CASCADE"
