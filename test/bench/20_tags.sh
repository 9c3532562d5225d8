# shellcheck shell=bash
# make bench, section "tags": selecting customers by tags on 1,000,000 rows.
# The same labels (0 to 8 per customer out of a vocabulary of 200, skewed so
# that a few labels are common and most are rare) are stored three ways:
#   crm.tagset + GIN,  text[] + GIN,  and a (customer_id, tag) join table
#   with a btree index on (tag, customer_id).
# Each query counts the matching customers; the ratio is to text[] + GIN.

n=${BENCH_TAG_ROWS:-1000000}
runs=${BENCH_TAG_RUNS:-10}

crm_log "tags: generating $n customers"
crm_psql <<SQL
\o /dev/null
SELECT setseed(0.2026);
\o
CREATE TABLE bench_vocab AS
SELECT i, (ARRAY['region', 'pref', 'age', 'channel', 'segment', 'interest', 'life', 'store'])[1 + i % 8]
          || ':' || 'l' || i AS label
  FROM generate_series(0, 199) i;
-- Each customer draws 0 to 8 labels; power(random(), 2) makes low ids common.
CREATE TABLE bench_tag_join AS
SELECT DISTINCT c AS customer_id, v.label AS tag
  FROM generate_series(1, $n) c
  CROSS JOIN LATERAL (SELECT floor(200 * power(random(), 2))::int AS li
                        FROM generate_series(1, floor(random() * 9)::int + (c * 0)::int)) k
  JOIN bench_vocab v ON v.i = k.li;
CREATE INDEX bench_tag_join_idx ON bench_tag_join (tag, customer_id);
CREATE TABLE bench_tag_array AS
SELECT c AS id, coalesce(a.tags, '{}') AS tags
  FROM generate_series(1, $n) c
  LEFT JOIN (SELECT customer_id, array_agg(tag ORDER BY tag COLLATE "C") AS tags
               FROM bench_tag_join GROUP BY customer_id) a ON a.customer_id = c;
CREATE TABLE bench_tagset AS SELECT id, tags::crm.tagset AS tags FROM bench_tag_array;
CREATE INDEX bench_tag_array_gin ON bench_tag_array USING gin (tags);
CREATE INDEX bench_tagset_gin ON bench_tagset USING gin (tags);
VACUUM ANALYZE bench_tag_join;
VACUUM ANALYZE bench_tag_array;
VACUUM ANALYZE bench_tagset;
SQL

# Query labels: two common ones, two of middling frequency, three for the AND.
and2="'region:l0','pref:l1'"
or2="'interest:l13','life:l30'"
and3="'region:l0','pref:l1','age:l2'"

# Each form must give the same answers before it is timed.
check=$(crm_psql -At <<SQL
SELECT (SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.@>) ARRAY[$and2]::crm.tagset)
     = (SELECT count(*) FROM bench_tag_array WHERE tags @> ARRAY[$and2])
   AND (SELECT count(*) FROM bench_tag_array WHERE tags @> ARRAY[$and2])
     = (SELECT count(*) FROM (SELECT customer_id FROM bench_tag_join WHERE tag IN ($and2)
                               GROUP BY customer_id HAVING count(*) = 2) s)
   AND (SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.&&) ARRAY[$or2]::crm.tagset)
     = (SELECT count(*) FROM bench_tag_array WHERE tags && ARRAY[$or2])
   AND (SELECT count(*) FROM bench_tag_array WHERE tags && ARRAY[$or2])
     = (SELECT count(DISTINCT customer_id) FROM bench_tag_join WHERE tag IN ($or2))
   AND (SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.@>) ARRAY[$and3]::crm.tagset)
     = (SELECT count(*) FROM bench_tag_array WHERE tags @> ARRAY[$and3]);
SQL
)
if [ "$check" != t ]; then
    echo "  tags: the three forms disagree; not timing" >&2
    return 1
fi
crm_psql -At -c "SELECT format('  %s customers, %s labels in all (%s per customer on average)', $n, count(*), round(count(*)::numeric / $n, 2)) FROM bench_tag_join"
crm_psql -At <<SQL
SELECT format('  matches: AND of 2 labels %s, OR of 2 labels %s, AND of 3 labels %s',
       (SELECT count(*) FROM bench_tag_array WHERE tags @> ARRAY[$and2]),
       (SELECT count(*) FROM bench_tag_array WHERE tags && ARRAY[$or2]),
       (SELECT count(*) FROM bench_tag_array WHERE tags @> ARRAY[$and3]));
SQL

# Times one query in the three forms and prints three rows.  Each run executes
# the query twice in one session and keeps the second time (bench_ms takes the
# last), so every form is timed in a warm session, as from a connection pool:
# the extension's library loaded, catalog caches filled.
bench_tags_query() {
    local title=$1 tagset_sql=$2 array_sql=$3 join_sql=$4 t_set t_arr t_join
    t_arr=$(bench_ms "$runs" "$array_sql; $array_sql")
    t_set=$(bench_ms "$runs" "$tagset_sql; $tagset_sql")
    t_join=$(bench_ms "$runs" "$join_sql; $join_sql")
    echo "  $title"
    bench_row "    crm.tagset + GIN" "$t_set" "$t_arr"
    bench_row "    text[] + GIN (reference)" "$t_arr" "$t_arr"
    bench_row "    (customer_id, tag) join table + btree" "$t_join" "$t_arr"
}

bench_tags_query "@> AND of two labels" \
    "SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.@>) '{region:l0,pref:l1}'" \
    "SELECT count(*) FROM bench_tag_array WHERE tags @> '{region:l0,pref:l1}'" \
    "SELECT count(*) FROM (SELECT customer_id FROM bench_tag_join WHERE tag IN ($and2) GROUP BY customer_id HAVING count(*) = 2) s"
bench_tags_query "&& OR of two labels" \
    "SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.&&) '{interest:l13,life:l30}'" \
    "SELECT count(*) FROM bench_tag_array WHERE tags && '{interest:l13,life:l30}'" \
    "SELECT count(DISTINCT customer_id) FROM bench_tag_join WHERE tag IN ($or2)"
bench_tags_query "@> AND of three labels" \
    "SELECT count(*) FROM bench_tagset WHERE tags OPERATOR(crm.@>) '{region:l0,pref:l1,age:l2}'" \
    "SELECT count(*) FROM bench_tag_array WHERE tags @> '{region:l0,pref:l1,age:l2}'" \
    "SELECT count(*) FROM (SELECT customer_id FROM bench_tag_join WHERE tag IN ($and3) GROUP BY customer_id HAVING count(*) = 3) s"

echo "  on-disk size, table + indexes (ratio to text[] + GIN)"
crm_psql -At <<'SQL'
WITH s AS (
    SELECT 'crm.tagset + GIN' AS form, pg_total_relation_size('bench_tagset') AS bytes, 1 AS o
    UNION ALL SELECT 'text[] + GIN (reference)', pg_total_relation_size('bench_tag_array'), 2
    UNION ALL SELECT '(customer_id, tag) join table + btree', pg_total_relation_size('bench_tag_join'), 3)
SELECT format('    %-56s %10s %10s  %6sx', form, round(bytes / 1048576.0, 1) || ' MB',
              '(' || round(pg_relation_size(CASE o WHEN 1 THEN 'bench_tagset' WHEN 2 THEN 'bench_tag_array' ELSE 'bench_tag_join' END::regclass) / 1048576.0, 1) || ' heap)',
              to_char(bytes::numeric / (SELECT bytes FROM s WHERE o = 2), 'FM0.00'))
  FROM s ORDER BY o;
SQL
crm_psql -c "DROP TABLE bench_tagset, bench_tag_array, bench_tag_join, bench_vocab"
