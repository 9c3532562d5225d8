-- crm.tagset: input rules, operators, btree/hash/GIN, casts, binary I/O, aggregate
SET search_path = crm, public;

-- Normalisation: trimmed, ASCII lower case, sorted, without duplicates.
SELECT '{ VIP , Region:North,vip,pref:oolong}'::tagset;
SELECT '{}'::tagset AS empty, '  { }  '::tagset AS empty_spaced, '{high intent, needs nurturing}'::tagset AS with_spaces;
SELECT 'VIP'::tagset AS one_label_without_braces, ' region:North '::tagset AS trimmed;
SELECT '{b,a,c,a,b}'::tagset AS sorted, '{é,E,e}'::tagset AS non_ascii_kept;
-- Text output round-trips exactly.
SELECT t::text::tagset = t AS roundtrip, t::text
  FROM (VALUES ('{zeta,alpha:x,Alpha:Y,beta}'::tagset), ('{}'), ('{a b,a}')) v(t);
-- Labels of exactly 64 bytes are accepted, and counted in bytes.
SELECT tag_count(('{' || repeat('a', 64) || '}')::tagset) AS len64_ok,
       tag_count(('{' || repeat('é', 32) || '}')::tagset) AS utf8_64_bytes_ok;

-- Each kind of bad input and its error.
\set VERBOSITY default
SELECT '{a,,b}'::tagset;
SELECT '{a, }'::tagset;
SELECT ''::tagset;
SELECT '{a'::tagset;
SELECT '{a} x'::tagset;
SELECT '{"a"}'::tagset;
SELECT '{a\b}'::tagset;
SELECT '{a,{b}}'::tagset;
SELECT 'a,b'::tagset;
SELECT E'{a\tb}'::tagset;
SELECT E'{a\u007fb}'::tagset;
SELECT '{:north}'::tagset;
SELECT '{region:}'::tagset;
SELECT ('{' || repeat('a', 65) || '}')::tagset;
SELECT ('{' || repeat('é', 33) || '}')::tagset;
SELECT ('{' || (SELECT string_agg('l' || g, ',') FROM generate_series(1, 1001) g) || '}')::tagset;
SELECT tag_count(('{' || (SELECT string_agg('l' || g, ',') FROM generate_series(1, 1000) g) || '}')::tagset) AS thousand_ok;
SELECT ARRAY['a', NULL]::tagset;
SELECT ARRAY[['a'], ['b']]::tagset;
SELECT '{a}'::tagset + '';
SELECT '{a}'::tagset - 'b,c';
SELECT tags_in_namespace('{a:b}', 'a:b');
\set VERBOSITY terse

-- Operators on literals.
SELECT '{a,b}'::tagset @> '{a}' AS contains, '{a,b}'::tagset @> '{a,c}' AS not_contains,
       '{a}'::tagset <@ '{a,b}' AS contained, '{a,b}'::tagset && '{c,b}' AS overlaps,
       '{a,b}'::tagset && '{c}' AS no_overlap, '{a,b}'::tagset = '{B, A}' AS eq,
       '{a,b}'::tagset <> '{a}' AS ne, '{}'::tagset <@ '{}' AS empty_in_empty,
       '{a}'::tagset && '{}' AS overlap_empty, '{a}'::tagset ? 'A' AS has;
SELECT '{a,b}'::tagset + 'C' AS add_label, '{a,b}'::tagset + '{d,e}'::tagset AS add_set,
       '{a,b}'::tagset - 'a' AS remove_label, '{a,b,c}'::tagset - '{b,c,d}'::tagset AS remove_set,
       '{a,b}'::tagset | '{c,a}' AS union_, '{a,b,c}'::tagset & '{b,c,d}' AS intersection,
       '{a}'::tagset - 'zz' AS remove_absent, '{a}'::tagset + 'a' AS add_present;
-- A text value (not a literal) uses the (tagset, text) operators.
SELECT '{a}'::tagset + x AS plus_text, '{a,b}'::tagset - x AS minus_text FROM (VALUES ('B'::text)) v(x);

-- Casts from and to text[].
SELECT ARRAY[' X', 'y', 'x']::tagset AS from_array, '{b,a}'::tagset::text[] AS to_array,
       pg_typeof('{b,a}'::tagset::text[]), '{}'::text[]::tagset AS empty_from_array,
       '{}'::tagset::text[] AS empty_to_array;

-- Accessors and expansion.
SELECT tag_count('{a,b,c}') AS three, tag_count('{}') AS zero,
       tags_in_namespace('{region:north,region:south,vip,regionx:a,Region:East}', 'Region') AS region,
       tags_in_namespace('{region:north,vip}', 'region:') AS trailing_colon,
       tags_in_namespace('{region:north,vip}', 'pref') AS none;
SELECT * FROM crm.unnest('{b,a,region:c}'::tagset);
SELECT * FROM crm.tag_labels('{vip,region:north,pref:tea:green}'::tagset);
SELECT tag_count(NULL) IS NULL AS null_count, (NULL::tagset @> '{a}') IS NULL AS null_contains;

-- Compact on disk: smaller than the same labels as text[].
SELECT pg_column_size('{vip,region:north,pref:oolong,age:30-39}'::tagset) AS tagset_bytes,
       pg_column_size('{vip,region:north,pref:oolong,age:30-39}'::text[]) AS text_array_bytes;

-- Random sets over a vocabulary, kept as tagset and as a sorted text[].
SELECT setseed(0.42);
CREATE TABLE tag_t (id int PRIMARY KEY, tags tagset NOT NULL, arr text[] NOT NULL);
INSERT INTO tag_t
SELECT g, coalesce(array_agg(l ORDER BY l COLLATE "C") FILTER (WHERE l IS NOT NULL), '{}')::tagset,
       coalesce(array_agg(l ORDER BY l COLLATE "C") FILTER (WHERE l IS NOT NULL), '{}')
  FROM generate_series(1, 3000) g
  LEFT JOIN LATERAL (
        SELECT DISTINCT (ARRAY['vip', 'region:north', 'region:south', 'pref:oolong', 'pref:green',
                               'age:18-29', 'age:30-39', 'high intent', 'needs nurturing', 'churn risk',
                               'gender:female', 'gender:male'])[1 + floor(random() * 12)::int] AS l
          FROM generate_series(1, (g % 7)) k) s ON true
 GROUP BY g;
-- The stored value equals the array it came from.
SELECT count(*) AS rows, count(*) FILTER (WHERE tags::text[] = arr) AS same_labels,
       count(*) FILTER (WHERE tag_count(tags) = cardinality(arr)) AS same_count
  FROM tag_t;
SELECT sum(pg_column_size(tags)) < sum(pg_column_size(arr)) AS smaller_than_text_array FROM tag_t;

-- Every operator on 160,000 pairs against the same computation on arrays.
CREATE TABLE tag_pairs AS
SELECT a.tags AS ta, b.tags AS tb, a.arr AS aa, b.arr AS ab
  FROM tag_t a JOIN tag_t b ON a.id <= 400 AND b.id <= 400;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (ta @> tb) <> (aa @> ab)) AS contains_wrong,
       count(*) FILTER (WHERE (ta <@ tb) <> (aa <@ ab)) AS contained_wrong,
       count(*) FILTER (WHERE (ta && tb) <> (aa && ab)) AS overlap_wrong,
       count(*) FILTER (WHERE (ta = tb) <> (aa = ab)) AS eq_wrong,
       count(*) FILTER (WHERE (ta <> tb) <> (aa <> ab)) AS ne_wrong,
       count(*) FILTER (WHERE sign(tagset_cmp(ta, tb)) <> sign(btarraycmp(aa COLLATE "C", ab))) AS cmp_wrong,
       count(*) FILTER (WHERE (ta < tb) <> (aa COLLATE "C" < ab)) AS lt_wrong,
       count(*) FILTER (WHERE (ta >= tb) <> (aa COLLATE "C" >= ab)) AS ge_wrong,
       count(*) FILTER (WHERE (ta | tb)::text[] <> ARRAY(SELECT x FROM unnest(aa || ab) x GROUP BY x ORDER BY x COLLATE "C")) AS union_wrong,
       count(*) FILTER (WHERE (ta & tb)::text[] <> ARRAY(SELECT x FROM unnest(aa) x WHERE x = ANY (ab) ORDER BY x COLLATE "C")) AS intersect_wrong,
       count(*) FILTER (WHERE (ta - tb)::text[] <> ARRAY(SELECT x FROM unnest(aa) x WHERE x <> ALL (ab) ORDER BY x COLLATE "C")) AS minus_wrong
  FROM tag_pairs;
-- The comparisons above are not vacuous:
SELECT count(*) FILTER (WHERE ta @> tb) > 400 AS some_contain, count(*) FILTER (WHERE NOT ta && tb) > 0 AS some_disjoint
  FROM tag_pairs;

-- btree and hash: ORDER BY, GROUP BY and DISTINCT by sorting and by hashing.
SELECT count(*) AS misordered FROM (
    SELECT tags, lag(tags) OVER (ORDER BY tags) AS prev FROM tag_t) s WHERE prev > tags;
SET enable_hashagg = off;
CREATE TEMP TABLE grp_sort AS SELECT tags, count(*) AS n FROM tag_t GROUP BY tags;
SET enable_hashagg = on; SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT tags, count(*) FROM tag_t GROUP BY tags;
CREATE TEMP TABLE grp_hash AS SELECT tags, count(*) AS n FROM tag_t GROUP BY tags;
RESET enable_sort;
SELECT (SELECT count(*) FROM grp_sort) = (SELECT count(DISTINCT arr) FROM tag_t) AS groups_match_arrays,
       (SELECT count(*) FROM grp_sort s FULL JOIN grp_hash h USING (tags) WHERE s.n IS DISTINCT FROM h.n) AS sort_hash_differ,
       (SELECT count(DISTINCT tags) FROM tag_t) = (SELECT count(DISTINCT arr) FROM tag_t) AS distinct_matches;
SELECT tagset_hash('{A,b}') = tagset_hash('{b,a}') AS same_hash,
       tagset_hash_extended('{A,b}', 3) = tagset_hash_extended('{b, a}', 3) AS same_hash64;
SET enable_mergejoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tag_t a JOIN tag_t b ON a.tags = b.tags;
SELECT (SELECT count(*) FROM tag_t a JOIN tag_t b ON a.tags = b.tags) =
       (SELECT count(*) FROM tag_t a JOIN tag_t b ON a.arr = b.arr) AS hash_join_matches;
RESET enable_mergejoin; RESET enable_nestloop;
CREATE INDEX tag_t_btree ON tag_t (tags);
SET enable_seqscan = off;
SELECT count(*) = (SELECT count(*) FROM tag_t WHERE arr = '{vip}') AS btree_eq_matches FROM tag_t WHERE tags = '{VIP}';
RESET enable_seqscan;
DROP INDEX tag_t_btree;

-- The operator classes pass amvalidate.
SELECT opcname, amname, amvalidate(c.oid)
  FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
 WHERE opcname LIKE 'tagset%' ORDER BY opcname;

-- GIN: every operator through the index and by sequential scan, for many
-- queries, including the empty set; the answers must be identical.
CREATE INDEX tag_t_gin ON tag_t USING gin (tags);
CREATE TEMP TABLE queries (q tagset);
INSERT INTO queries VALUES ('{}'), ('{vip}'), ('{vip,region:north}'), ('{region:north,region:south,pref:green}'),
    ('{unknown}'), ('{vip,unknown}'), ('{high intent,needs nurturing}'), ('{churn risk}');
INSERT INTO queries SELECT tags FROM tag_t WHERE id % 50 = 0 EXCEPT SELECT q FROM queries;
CREATE TEMP TABLE answers (op text, q tagset, ids int[], via text);
SET enable_seqscan = off; SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags @> '{vip,region:north}';
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags && '{vip,region:north}';
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags <@ '{vip,region:north}';
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags = '{vip,region:north}';
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags ? 'VIP';
INSERT INTO answers SELECT '@>', q, ARRAY(SELECT id FROM tag_t WHERE tags @> q ORDER BY id), 'index' FROM queries;
INSERT INTO answers SELECT '<@', q, ARRAY(SELECT id FROM tag_t WHERE tags <@ q ORDER BY id), 'index' FROM queries;
INSERT INTO answers SELECT '&&', q, ARRAY(SELECT id FROM tag_t WHERE tags && q ORDER BY id), 'index' FROM queries;
INSERT INTO answers SELECT '=', q, ARRAY(SELECT id FROM tag_t WHERE tags = q ORDER BY id), 'index' FROM queries;
INSERT INTO answers SELECT '?', q, ARRAY(SELECT id FROM tag_t WHERE tags ? (q::text[])[1] ORDER BY id), 'index' FROM queries WHERE tag_count(q) > 0;
RESET enable_seqscan; SET enable_bitmapscan = off; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM tag_t WHERE tags @> '{vip,region:north}';
INSERT INTO answers SELECT '@>', q, ARRAY(SELECT id FROM tag_t WHERE tags @> q ORDER BY id), 'seq' FROM queries;
INSERT INTO answers SELECT '<@', q, ARRAY(SELECT id FROM tag_t WHERE tags <@ q ORDER BY id), 'seq' FROM queries;
INSERT INTO answers SELECT '&&', q, ARRAY(SELECT id FROM tag_t WHERE tags && q ORDER BY id), 'seq' FROM queries;
INSERT INTO answers SELECT '=', q, ARRAY(SELECT id FROM tag_t WHERE tags = q ORDER BY id), 'seq' FROM queries;
INSERT INTO answers SELECT '?', q, ARRAY(SELECT id FROM tag_t WHERE tags ? (q::text[])[1] ORDER BY id), 'seq' FROM queries WHERE tag_count(q) > 0;
RESET enable_bitmapscan; RESET enable_indexscan;
-- The sequential answers also agree with text[] arrays.
INSERT INTO answers SELECT '@>', q, ARRAY(SELECT id FROM tag_t WHERE arr @> q::text[] ORDER BY id), 'array' FROM queries;
INSERT INTO answers SELECT '&&', q, ARRAY(SELECT id FROM tag_t WHERE arr && q::text[] ORDER BY id), 'array' FROM queries;
SELECT op, count(*) >= 20 AS enough_queries,
       count(*) FILTER (WHERE i.ids <> s.ids) AS index_differs_from_seq,
       count(*) FILTER (WHERE cardinality(i.ids) > 0) > 0 AS some_nonempty
  FROM answers i JOIN answers s USING (op, q)
 WHERE i.via = 'index' AND s.via = 'seq'
 GROUP BY op ORDER BY op;
SELECT count(*) >= 40 AS enough_checks, count(*) FILTER (WHERE a.ids <> s.ids) AS seq_differs_from_array
  FROM answers a JOIN answers s USING (op, q) WHERE a.via = 'array' AND s.via = 'seq';
-- The empty set: contained in, and contains, what it should.
SELECT cardinality(ids) = 3000 AS all_contain_empty FROM answers WHERE op = '@>' AND q = '{}' AND via = 'index';
SELECT cardinality(ids) = 0 AS none_overlap_empty FROM answers WHERE op = '&&' AND q = '{}' AND via = 'index';
SELECT cardinality(ids) = (SELECT count(*) FROM tag_t WHERE arr = '{}') AS empty_equals_empty
  FROM answers WHERE op = '=' AND q = '{}' AND via = 'index';
-- The index follows updates.
UPDATE tag_t SET tags = tags + 'updated' WHERE id % 100 = 0;
SET enable_seqscan = off;
SELECT count(*) AS updated_via_index FROM tag_t WHERE tags @> 'updated';
RESET enable_seqscan;

-- Statistics: ANALYZE keeps the frequency of each label, and the planner's
-- row estimates for the set operators follow them.
ANALYZE tag_t;
SELECT cardinality(most_common_elems::text::text[]) AS labels_in_stats,
       (most_common_elems::text::text[])[1:3] AS first_labels,
       n_distinct < 0 AS set_ndistinct
  FROM pg_stats WHERE tablename = 'tag_t' AND attname = 'tags';
CREATE FUNCTION pg_temp.estimated_rows(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
    RETURN (j -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;
CREATE FUNCTION pg_temp.actual_rows(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM (' || q || ') s' INTO n;
    RETURN n;
END $$;
SELECT q, a AS actual, e BETWEEN a / 2 AND a * 2 AS estimate_within_2x
  FROM (VALUES ($$SELECT * FROM tag_t WHERE tags @> '{vip}'$$),
               ($$SELECT * FROM tag_t WHERE tags @> '{vip,pref:green}'$$),
               ($$SELECT * FROM tag_t WHERE tags && '{churn risk,age:18-29}'$$),
               ($$SELECT * FROM tag_t WHERE tags <@ '{vip,region:north}'$$),
               ($$SELECT * FROM tag_t WHERE '{vip}' <@ tags$$),
               ($$SELECT * FROM tag_t WHERE tags ? 'Updated'$$)) v(q),
       LATERAL (SELECT pg_temp.actual_rows(q) AS a, pg_temp.estimated_rows(q) AS e) x;
SELECT pg_temp.estimated_rows($$SELECT * FROM tag_t WHERE tags @> '{unknown}'$$) < 10 AS unknown_label_is_rare;
-- Many distinct labels: counting stays bounded and keeps the frequent ones.
CREATE TABLE tag_many AS
SELECT g AS id, ARRAY['common', 'half:' || (g % 2), 'u' || g, 'v' || g, 'w' || g, 'x' || g]::tagset AS tags
  FROM generate_series(1, 20000) g;
ALTER TABLE tag_many ALTER COLUMN tags SET STATISTICS 10;
ANALYZE tag_many;
SELECT cardinality(most_common_elems::text::text[]) AS kept,
       (most_common_elems::text::text[])[1:3] AS first_kept,
       most_common_elem_freqs[1] = 1 AS common_everywhere,
       most_common_elem_freqs[2] BETWEEN 0.4 AND 0.6 AS half_in_half
  FROM pg_stats WHERE tablename = 'tag_many' AND attname = 'tags';
DROP TABLE tag_many;

\getenv abs_builddir PG_ABS_BUILDDIR
-- Binary input validates and normalises like text input: bytes written as a
-- bytea column are read back as a crm.tagset column.
CREATE TEMP TABLE raw_bin (b bytea);
CREATE TEMP TABLE tag_bin (t tagset);
\set rawfile :abs_builddir '/results/tagset_raw.bin'
INSERT INTO raw_bin VALUES ('\x000000020000000241420000000161'::bytea);
COPY raw_bin TO :'rawfile' WITH (FORMAT binary);
COPY tag_bin FROM :'rawfile' WITH (FORMAT binary);
SELECT t AS normalised_from_binary FROM tag_bin;
TRUNCATE raw_bin; TRUNCATE tag_bin;
\set VERBOSITY default
INSERT INTO raw_bin VALUES ('\x0000000100000003612c62'::bytea);
COPY raw_bin TO :'rawfile' WITH (FORMAT binary);
COPY tag_bin FROM :'rawfile' WITH (FORMAT binary);
TRUNCATE raw_bin;
INSERT INTO raw_bin VALUES ('\x00000001000000ff61'::bytea);
COPY raw_bin TO :'rawfile' WITH (FORMAT binary);
COPY tag_bin FROM :'rawfile' WITH (FORMAT binary);
TRUNCATE raw_bin;
INSERT INTO raw_bin VALUES ('\x00001000'::bytea);
COPY raw_bin TO :'rawfile' WITH (FORMAT binary);
COPY tag_bin FROM :'rawfile' WITH (FORMAT binary);
TRUNCATE raw_bin;
INSERT INTO raw_bin VALUES ('\x00000000ff'::bytea);
COPY raw_bin TO :'rawfile' WITH (FORMAT binary);
COPY tag_bin FROM :'rawfile' WITH (FORMAT binary);
\set VERBOSITY terse
SELECT count(*) AS rows_after_errors FROM tag_bin;

-- Binary COPY round trip.
CREATE TABLE tag_copy (LIKE tag_t);
\set copyfile :abs_builddir '/results/tagset.bin'
COPY tag_t TO :'copyfile' WITH (FORMAT binary);
COPY tag_copy FROM :'copyfile' WITH (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE c.tags = t.tags AND c.tags::text = t.tags::text) AS equal
  FROM tag_copy c JOIN tag_t t USING (id);
SELECT tagset_send('{b,a}');

-- crm.tag_union: serial, forced parallel, and against plain SQL.
SELECT tag_union(tags) = (SELECT ARRAY(SELECT x FROM tag_t, unnest(arr || '{updated}') x GROUP BY x ORDER BY x COLLATE "C"))::tagset AS union_matches
  FROM tag_t;
SELECT tag_union(tags) AS no_rows FROM tag_t WHERE false;
SELECT tag_union(tags) AS nulls_skipped FROM (VALUES (NULL::tagset), ('{x}'), (NULL)) v(tags);
SELECT g, tag_union(t) FROM (VALUES (1, '{b,a}'::tagset), (2, '{c}'), (1, '{a,d}'), (2, '{}'), (3, '{}')) v(g, t)
 GROUP BY g ORDER BY g;
CREATE TABLE tag_big AS SELECT g AS id, ('{n' || (g % 97) || ',m' || (g % 13) || '}')::tagset AS tags
  FROM generate_series(1, 100000) g;
ANALYZE tag_big;
CREATE TEMP TABLE serial_result AS SELECT tag_union(tags) AS u FROM tag_big;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT tag_union(tags) FROM tag_big;
SELECT tag_union(tags) = (SELECT u FROM serial_result) AS parallel_equals_serial,
       tag_count(tag_union(tags)) AS labels
  FROM tag_big;
RESET parallel_setup_cost; RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
-- The transition function is only for the aggregate.
SELECT tagset_union_trans('{a}', '{b}');

-- The customer table has a GIN-indexed tags column; tag and untag by hand.
SELECT pg_get_indexdef('crm.customer_tags_idx'::regclass);
INSERT INTO crm.customer (id, name) VALUES (900001, 'Ann Lee'), (900002, 'Bo Chen');
SELECT crm.tag(900001, 'VIP', 'region:north', 'pref:oolong') AS tagged;
SELECT crm.tag(900001, 'vip') AS again_unchanged;
SELECT crm.untag(900001, 'pref:oolong', 'not-there') AS untagged;
SELECT crm.tag(900002, VARIADIC '{}') AS no_labels;
SELECT id, tags FROM crm.customer WHERE tags @> 'vip' ORDER BY id;
\set VERBOSITY default
SELECT crm.tag(999999, 'vip');
SELECT crm.tag(900001, 'ok', 'bad,label');
SELECT crm.tag(NULL, 'vip');
SELECT crm.untag(900001, VARIADIC NULL::text[]);
\set VERBOSITY terse
SELECT tags AS unchanged_after_error FROM crm.customer WHERE id = 900001;
DELETE FROM crm.customer WHERE id IN (900001, 900002);

DROP TABLE tag_t, tag_pairs, tag_copy, tag_big;
RESET search_path;
