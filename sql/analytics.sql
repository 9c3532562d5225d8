-- Analytics aggregates: NPS, CSAT, ratings, funnel, A/B and Welch tests,
-- attribution, cohort retention and purchase KPIs.
SET search_path = crm, public;
SET extra_float_digits = 0;

-- ---------------------------------------------------------------------------
-- NPS: 100 * (promoters 9-10 - detractors 0-6) / responses
-- ---------------------------------------------------------------------------
-- 10, 9 promoters; 8, 7 passives; 6, 0 detractors; NULL skipped: (2 - 2) / 6 = 0.
SELECT nps(s) FROM (VALUES (10), (9), (8), (7), (6), (0), (NULL)) v(s);
-- 3 promoters, 1 passive: 100 * 3 / 4 = 75.
SELECT nps(s) FROM (VALUES (9), (10), (10), (7)) v(s);
-- Every score from 0 to 10 once: (2 - 7) / 11 * 100 = -45.4545...
SELECT round(nps(s)::numeric, 6) FROM generate_series(0, 10) s;
SELECT nps(s) AS empty FROM (VALUES (1)) v(s) WHERE false;
SELECT nps(NULL::integer) AS only_null;
SELECT nps(6) AS one_detractor, nps(9) AS one_promoter;
SELECT nps(s) FROM (VALUES (5), (11)) v(s);
SELECT nps(s) FROM (VALUES (-1)) v(s);
-- The state is {detractors,passives,promoters}; its text form is a bigint[].
SELECT nps_final(nps_trans(nps_trans('{0,0,0}', 9), 3));
SELECT nps_final('{1,2}');
SELECT nps_final('{-1,0,0}');
SELECT counts_add('{1,2,3}', '{10,20,30}');
SELECT counts_add('{9223372036854775807,0,0}', '{1,0,0}');

-- ---------------------------------------------------------------------------
-- CSAT: percent satisfied, satisfied = score - 1 >= 0.75 * (scale - 1)
-- ---------------------------------------------------------------------------
-- 1..5: 4 and 5 satisfied, 2 of 5 = 40%.
SELECT csat(s, 5) FROM generate_series(1, 5) s;
-- 1..10: 8, 9, 10 satisfied (s - 1 >= 6.75), 3 of 10 = 30%.
SELECT csat(s, 10) FROM generate_series(1, 10) s;
-- 1..3 and 1..2: only the top score.
SELECT csat(s, 3) AS scale3, csat(s, 2) AS scale2 FROM (VALUES (1), (2)) v(s);
SELECT csat(s, 5) FROM (VALUES (5), (NULL), (4), (1)) v(s);
SELECT csat(s, NULL) AS null_scale FROM (VALUES (5)) v(s);
SELECT csat(s, 5) AS empty FROM (VALUES (5)) v(s) WHERE false;
SELECT csat(6, 5);
SELECT csat(0, 5);
SELECT csat(1, 1);
SELECT csat_final('{3,4}');
SELECT csat_final(csat_trans(csat_trans('{0,0}', 5, 5), 2, 5)) AS direct_calls;
SELECT csat_trans(NULL, 5, 5);

-- ---------------------------------------------------------------------------
-- crm.tally, the state of the keyed aggregates: exact text round trip
-- ---------------------------------------------------------------------------
SELECT '{"kind": "rating", "label": null, "data": {"b": [1, 0.1], "a": [2, 1e300]}}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {"b": [1, 0.1], "a": [2, 1e300]}}'::tally::text::tally::text;
SELECT '{"kind": "welch", "label": "A \"x\"", "data": {"A \"x\"": [3, 0.30000000000000004, 5e-324], "B": [2, -1.7976931348623157e308, 0]}}'::tally;
-- Keys of any text, in byte order.
SELECT '{"kind": "ab_test", "label": "ctrl", "data": {"ctrl": [10, 1], "Zed": [1, 0], "é": [2, 2], "": [1, 1]}}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {}}'::tally;
SELECT 'junk'::tally;
SELECT '[1]'::tally;
SELECT '{"kind": "nope", "label": null, "data": {}}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {"a": [1]}}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {"a": [1, "x"]}}'::tally;
SELECT '{"kind": "rating", "label": 3, "data": {}}'::tally;
SELECT '{"kind": "rating", "label": null}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {}, "extra": 1}'::tally;
SELECT '{"kind": "rating", "label": null, "data": {"a": [1, 1e400]}}'::tally;
-- Binary round trip.
CREATE TEMP TABLE tallies (id int, t tally);
INSERT INTO tallies VALUES
    (1, '{"kind": "rating", "label": null, "data": {"b": [1, 0.1], "a": [2, 1e300]}}'),
    (2, '{"kind": "welch", "label": "A", "data": {"A": [3, 0.30000000000000004, 5e-324]}}'),
    (3, (SELECT t FROM tallies WHERE false));
\getenv abs_builddir PG_ABS_BUILDDIR
\set f :abs_builddir '/results/analytics_tally.bin'
COPY tallies TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE tallies_back (id int, t tally);
COPY tallies_back FROM :'f' WITH (FORMAT binary);
SELECT a.id, a.t::text IS NOT DISTINCT FROM b.t::text AS equal FROM tallies a JOIN tallies_back b USING (id) ORDER BY 1;

-- Fuzzing the text input: mutated states must either be refused with 22P02,
-- 22003 or 22P05 (JSON \u0000) or read back to the same text, and every final function must either
-- take them or refuse them with 22023, never crash.
SELECT setseed(0.25) IS NULL AS seeded;
CREATE TEMP TABLE tally_seeds(s) AS VALUES
    ('{"kind": "rating", "label": null, "data": {"a": [2, 9], "b": [1, 0.5]}}'),
    ('{"kind": "ab_test", "label": "A", "data": {"A": [10, 3], "B": [12, 5]}}'),
    ('{"kind": "welch", "label": "A", "data": {"A": [3, 1.5, 2], "B": [1, 0, 0]}}'),
    ('{"kind": "funnel", "label": null, "data": {"x": [1, 2], "y": [2, 3]}}'),
    ('{"kind": "attribution", "label": null, "data": {"\u0001\u0002\u001fA": [2, 0], "\u0001A\u001f\u0003": [1, 0], "\u0001A\u001f\u0004": [1, 0], "\u0005A": [1, 4], "\u0008": [1, 4]}}'),
    ('{"kind": "attribution", "label": "2", "data": {"\u0001\u0002\u001fA": [1, 0], "\u0001A\u001fA\u001eB": [1, 0], "\u0001A\u001eB\u001f\u0003": [1, 0]}}');
CREATE TEMP TABLE tally_fuzz AS
SELECT CASE WHEN g % 4 = 0 THEN s
            ELSE overlay(s placing substr('{}[]",:0123456789.e-+ \u0001abnull', 1 + (random() * 33)::int, 1 + (random() * 2)::int)
                         from 1 + (random() * (length(s) - 1))::int for (random() * 3)::int) END AS s
  FROM (SELECT s, g FROM tally_seeds, generate_series(1, 500) g) x;
DO $$
DECLARE
    r record; t crm.tally;
BEGIN
    FOR r IN SELECT s FROM tally_fuzz LOOP
        BEGIN
            t := r.s::crm.tally;
        EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR untranslatable_character THEN
            CONTINUE;
        END;
        IF t::text::crm.tally::text <> t::text THEN
            RAISE EXCEPTION 'tally % does not round-trip', r.s;
        END IF;
        BEGIN PERFORM crm.rating_summary_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
        BEGIN PERFORM crm.funnel_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
        BEGIN PERFORM crm.ab_test_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
        BEGIN PERFORM crm.welch_test_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
        BEGIN PERFORM crm.markov_attribution_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
        BEGIN PERFORM crm.heuristic_attribution_final(t); EXCEPTION WHEN invalid_parameter_value THEN NULL; END;
    END LOOP;
END $$;
SELECT 'survived' AS tally_fuzz;

-- ---------------------------------------------------------------------------
-- Rating summary
-- ---------------------------------------------------------------------------
-- taste: 5, 4, 3 -> mean 4; service: 4, 2 -> 3; delivery: 1 -> 1 (null skipped).
SELECT rating_summary(r) FROM (VALUES
    ('{"taste": 5, "service": 4}'::jsonb), ('{"taste": 4, "delivery": null}'), (NULL),
    ('{"taste": 3, "service": 2, "delivery": 1}')) v(r);
SELECT rating_summary(d, x) FROM (VALUES ('taste', 4.5), ('taste', 3.5), ('service', NULL), (NULL, 5)) v(d, x);
SELECT rating_summary(r) AS empty FROM (VALUES ('{}'::jsonb)) v(r) WHERE false;
SELECT rating_summary(r) AS nothing_rated FROM (VALUES ('{}'::jsonb), ('{"taste": null}'), (NULL)) v(r);
SELECT rating_summary('{"taste": "good"}'::jsonb);
SELECT rating_summary('[5, 4]'::jsonb);
SELECT rating_summary('{"taste": {"sweet": 3}}'::jsonb);
SELECT rating_summary('taste', 'NaN'::float8);
SELECT rating_summary(d, x) FROM (VALUES ('a', 1e308), ('a', 1e308)) v(d, x);
SELECT rating_summary_final('{"kind": "funnel", "label": null, "data": {}}');

-- ---------------------------------------------------------------------------
-- Funnel: reached(stage) = rows whose furthest stage is that one or later
-- ---------------------------------------------------------------------------
-- lead 2, qualified 1, proposal 1, won 1 (furthest): reached 5, 3, 2, 1;
-- conversion 3/5, 2/3, 1/2; overall 1, 0.6, 0.4, 0.2.
SELECT jsonb_array_elements(funnel(s, ARRAY['lead', 'qualified', 'proposal', 'won']))
  FROM (VALUES ('lead'), ('lead'), ('qualified'), ('won'), ('proposal'), (NULL)) v(s);
-- A stage nobody stopped at still shows; nobody reached won.
SELECT jsonb_array_elements(funnel(s, '{a,b,c}')) FROM (VALUES ('a'), ('a'), ('b')) v(s);
SELECT funnel(s, '{a,b}') AS empty FROM (VALUES ('a')) v(s) WHERE false;
SELECT funnel(s, '{a,b}') AS only_null FROM (VALUES (NULL::text)) v(s);
SELECT funnel('x', '{a,b}');
SELECT funnel('a', '{}');
SELECT funnel('a', '{a,NULL}');
SELECT funnel('a', '{a,a}');
SELECT funnel('a', NULL);
SELECT funnel(s, st) FROM (VALUES ('a', '{a,b}'::text[]), ('a', '{a,c}')) v(s, st);

-- ---------------------------------------------------------------------------
-- A/B test: two-proportion z test against the control
-- ---------------------------------------------------------------------------
-- A: 200 units, 20 conversions (0.1); B: 200, 30 (0.15); C: 100, 10 (0.1).
-- B: lift 0.05, relative 0.5; pooled p = 50/400 = 0.125,
--    se = sqrt(0.125 * 0.875 * (1/200 + 1/200)) = 0.0330719..., z = 1.5118578...
--    p = erfc(1.5118578 / sqrt 2) = 0.13057...
--    unpooled se = sqrt(0.1*0.9/200 + 0.15*0.85/200) = 0.0329772..., 95% ci 0.05 -/+ 1.96 * se
-- C: lift 0, z 0, p 1.
CREATE TEMP TABLE ab AS
SELECT v, g <= c AS converted
  FROM (VALUES ('A', 200, 20), ('B', 200, 30), ('C', 100, 10)) t(v, n, c), generate_series(1, n) g;
SELECT x->>'variant' AS variant, x->'n' AS n, x->'conversions' AS conv, x->'rate' AS rate,
       x->'control_rate' AS control_rate, round((x->>'lift')::numeric, 12) AS lift,
       round((x->>'relative_lift')::numeric, 12) AS rel, round((x->>'z')::numeric, 6) AS z,
       round((x->>'p_value')::numeric, 6) AS p, round((x->>'ci_low')::numeric, 6) AS ci_low,
       round((x->>'ci_high')::numeric, 6) AS ci_high
  FROM (SELECT jsonb_array_elements(ab_test(v, converted, 'A')) AS x FROM ab) s;
SELECT ab_test(v, converted, 'A') -> 0 ?& ARRAY['variant', 'n', 'conversions', 'rate', 'control_rate', 'lift',
       'relative_lift', 'z', 'p_value', 'ci_low', 'ci_high'] AS has_every_key FROM ab;
-- Only the control: an empty array.
SELECT ab_test(v, converted, 'A') FROM ab WHERE v = 'A';
-- Nobody converted anywhere: no z, no p; the interval collapses to 0.
SELECT ab_test(v, false, 'A') FROM ab WHERE v IN ('A', 'C');
-- NULL variant or outcome: row skipped.
SELECT ab_test(v, c, 'A') FROM (VALUES ('A', true), ('A', false), ('B', NULL), (NULL, true), ('B', true)) t(v, c);
SELECT ab_test(v, converted, 'A') AS empty FROM ab WHERE false;
SELECT ab_test(v, converted, 'Z') FROM ab;
SELECT ab_test(v, converted, NULL) FROM ab;
SELECT ab_test(v, converted, v) FROM ab;

-- ---------------------------------------------------------------------------
-- Welch t test
-- ---------------------------------------------------------------------------
-- A: 1, 2, 3, 4 (mean 2.5, var 5/3); B: 2, 4, 6, 8, 10 (mean 6, var 10).
-- se = sqrt(5/12 + 2) = 1.5545631..., t = 3.5 / se = 2.2514363...
-- df = (29/12)^2 / ((5/12)^2/3 + 2^2/4) = 5.5207877...
SELECT x->>'variant' AS variant, x->'n' AS n, x->'mean' AS mean, round((x->>'sd')::numeric, 12) AS sd,
       x->'control_mean' AS control_mean, x->'diff' AS diff, round((x->>'t')::numeric, 9) AS t,
       round((x->>'df')::numeric, 9) AS df, round((x->>'p_value')::numeric, 9) AS p,
       round((x->>'ci_low')::numeric, 9) AS ci_low, round((x->>'ci_high')::numeric, 9) AS ci_high
  FROM (SELECT jsonb_array_elements(welch_test(v, y, 'A')) AS x
          FROM (VALUES ('A', 1), ('A', 2), ('A', 3), ('A', 4), ('B', 2), ('B', 4), ('B', 6), ('B', 8), ('B', 10), ('C', NULL)) t(v, y)) s;
-- One unit in a group: no variance, no test.
SELECT welch_test(v, y, 'A') FROM (VALUES ('A', 1.0), ('A', 2.0), ('B', 5.0)) t(v, y);
SELECT welch_test(v, y, 'A') FROM (VALUES ('A', 'Infinity'::float8)) t(v, y);
SELECT welch_test(v, y, 'A') AS empty FROM (VALUES ('A', 1.0)) t(v, y) WHERE false;
-- The t distribution: p for t = 2 with 10 df is 0.0733880347707404; t = 0 gives 1.
SELECT round(student_t_p_value(2, 10)::numeric, 15), student_t_p_value(0, 3), student_t_p_value('Infinity', 3);
SELECT student_t_p_value(1, 0);

-- ---------------------------------------------------------------------------
-- Markov attribution, checked by hand
-- ---------------------------------------------------------------------------
-- Journeys: A > B (1 conversion, 1 null), B (1 conversion), A (1 null).
-- Transition counts: start->A 3, start->B 1; A->B 2, A->null 1; B->conv 2, B->null 1.
-- P(conv from B) = 2/3; from A = 2/3 * 2/3 = 4/9; from start = 3/4 * 4/9 + 1/4 * 2/3 = 1/2.
-- Without A (its arrivals go to null): 1/4 * 2/3 = 1/6, removal effect 1 - (1/6)/(1/2) = 2/3.
-- Without B: 0, removal effect 1.  2 conversions split 2/3 : 1 -> A 0.8, B 1.2.
SELECT markov_attribution(p, c, n) FROM (VALUES (ARRAY['A', 'B'], 1::bigint, 1::bigint), (ARRAY['B'], 1, 0), (ARRAY['A'], 0, 1)) v(p, c, n);
-- With values 30 (A > B), 10 (B): 40 split the same way: 16 and 24.
SELECT markov_attribution(p, c, n, val) FROM (VALUES (ARRAY['A', 'B'], 1::bigint, 1::bigint, 30.0), (ARRAY['B'], 1, 0, 10.0), (ARRAY['A'], 0, 1, NULL)) v(p, c, n, val);
-- A loop: A > B > A (2 conversions), B (2 nulls).
-- start->A 2, start->B 2; A->B 2, A->conv 2; B->A 2, B->null 2.
-- xA = 1/2 xB + 1/2, xB = 1/2 xA -> xA = 2/3, xB = 1/3; start: 1/2 (2/3 + 1/3) = 1/2.
-- Without A: xB = 0 -> 0, effect 1.  Without B: xA = 1/2, start = 1/4, effect 1/2.
-- 2 conversions split 1 : 1/2 -> A 4/3, B 2/3.
SELECT markov_attribution(p, c, n) FROM (VALUES (ARRAY['A', 'B', 'A'], 2::bigint, 0::bigint), (ARRAY['B'], 0, 2)) v(p, c, n);
-- Higher order.  Journeys A > B (1 conversion), C > B (1 null).
-- First order: B converts half the time whoever came before; P = 1/2;
-- without A 1/4 (effect 1/2), without C 1/4 (1/2), without B 0 (1): A 0.25, B 0.5, C 0.25.
SELECT markov_attribution(p, c, n) FROM (VALUES (ARRAY['A', 'B'], 1::bigint, 0::bigint), (ARRAY['C', 'B'], 0, 1)) v(p, c, n);
-- Second order: states (A), (C), (A,B), (C,B); (A,B) always converts, (C,B) never.
-- P = 1/2; without A 0 (effect 1), without C still 1/2 (effect 0), without B 0 (1): A 0.5, B 0.5, C 0.
SELECT markov_attribution(p, c, n, NULL, 2) FROM (VALUES (ARRAY['A', 'B'], 1::bigint, 0::bigint), (ARRAY['C', 'B'], 0, 1)) v(p, c, n);
-- Order 1 through the five-argument form is the first-order chain.
SELECT markov_attribution(p, c, n, 0, 1) = markov_attribution(p, c, n, 0) AS order_one
  FROM (VALUES (ARRAY['A', 'B', 'A'], 2::bigint, 0::bigint), (ARRAY['B'], 0, 2)) v(p, c, n);
SELECT markov_attribution(ARRAY['A'], 1, 1, NULL, 0);
SELECT markov_attribution(ARRAY['A'], 1, 1, NULL, NULL);
SELECT markov_attribution(p, 1, 1, NULL, o) FROM (VALUES (ARRAY['A'], 1), (ARRAY['B'], 2)) v(p, o);
-- One channel: effect 1, all conversions.
SELECT markov_attribution(ARRAY['email'], 3, 5);
-- No conversion at all: effects 0.
SELECT markov_attribution(ARRAY['email', 'sms'], 0, 5);
-- Empty paths and rows with nothing to count are skipped; NULL rows too.
SELECT markov_attribution(p, c, n) FROM (VALUES ('{}'::text[], 5::bigint, 5::bigint), (ARRAY['x'], 0, 0), (NULL, 1, 1), (ARRAY['y'], NULL, 1)) v(p, c, n);
SELECT markov_attribution(p, c, n) AS empty FROM (VALUES (ARRAY['A'], 1::bigint, 1::bigint)) v(p, c, n) WHERE false;
SELECT markov_attribution(ARRAY['A', NULL], 1, 1);
SELECT markov_attribution(ARRAY['A', ''], 1, 1);
SELECT markov_attribution(ARRAY[E'A\tB'], 1, 1);
SELECT markov_attribution(ARRAY['A'], -1, 1);
SELECT markov_attribution(ARRAY['A'], 1, 1, 'NaN');
SELECT markov_attribution(ARRAY[['A'], ['B']], 1, 1);
SELECT markov_attribution_final('{"kind": "attribution", "label": null, "data": {"\u0001A": [1, 0]}}');
SELECT markov_attribution_final('{"kind": "attribution", "label": null, "data": {"zz": [1, 0]}}');
SELECT markov_attribution_final('{"kind": "rating", "label": null, "data": {}}');

-- Heuristics on the same journeys: A > B (1 conversion, 30), B (1 conversion, 10).
-- first touch: A 1 (30), B 1 (10); last touch: B 2 (40); linear: A 1/2 (15), B 3/2 (25).
SELECT heuristic_attribution(p, c, val) FROM (VALUES (ARRAY['A', 'B'], 1::bigint, 30.0), (ARRAY['B'], 1, 10.0), (ARRAY['A'], 0, NULL)) v(p, c, val);
SELECT heuristic_attribution(p, c) FROM (VALUES (ARRAY['A', 'A', 'B'], 3::bigint)) v(p, c);
SELECT heuristic_attribution(p, c) AS no_conversions FROM (VALUES (ARRAY['A'], 0::bigint)) v(p, c);
-- A heuristic state holds no journeys for the Markov model.
SELECT markov_attribution_final('{"kind": "attribution", "label": null, "data": {"\u0005A": [1, 0], "\u0008": [1, 0]}}') AS no_journeys;

-- ---------------------------------------------------------------------------
-- Huge inputs: counters near the bigint limit, sums near the double limit
-- ---------------------------------------------------------------------------
SELECT nps_final(counts_add('{4611686018427387904,0,4611686018427387903}', '{0,0,0}'));
SELECT counts_add('{4611686018427387904,0,4611686018427387904}', '{4611686018427387904,0,0}');
SELECT ab_test_final('{"kind": "ab_test", "label": "A", "data": {"A": [4e15, 1e15], "B": [4e15, 1.0001e15]}}') -> 0 -> 'z';
-- t = 1 / sqrt(2) with 2e15 degrees of freedom: the normal value erfc(1/2) = 0.4795001221869535.
SELECT round((welch_test_final('{"kind": "welch", "label": "A", "data": {"A": [1e15, 1e10, 1e30], "B": [1e15, 10000000001, 1e30]}}') -> 0 ->> 'p_value')::numeric, 13);
SELECT markov_attribution(ARRAY['A', 'B'], 4000000000000000, 4000000000000000);
SELECT funnel_final('{"kind": "funnel", "label": null, "data": {"a": [1, 4e15], "b": [2, 5e15]}}');
SELECT rating_summary_final('{"kind": "rating", "label": null, "data": {"taste": [9e15, 4.5e16]}}');
-- One row each.
SELECT csat(5, 5) AS csat, funnel('b', '{a,b}') -> 1 -> 'reached' AS funnel_b,
       welch_test('A', 1.5, 'A') AS welch_control_only, rating_summary('{"taste": 4}'::jsonb) AS rating;

-- ---------------------------------------------------------------------------
-- Forced parallel plans give the serial results
-- ---------------------------------------------------------------------------
CREATE TABLE an_big AS
SELECT g,
       (g * 7919) % 11 AS score,
       1 + (g * 31) % 5 AS csat_score,
       jsonb_build_object('taste', 1 + g % 5, 'service', 1 + (g / 3) % 5) AS ratings,
       (ARRAY['lead', 'qualified', 'proposal', 'won'])[1 + (g * 13) % 4] AS stage,
       (ARRAY['A', 'B', 'C'])[1 + g % 3] AS variant,
       (g * 17) % 10 < 1 + g % 3 AS converted,
       ((g * 37) % 101) / 4.0 + g % 3 AS spend,
       (string_to_array((ARRAY['s,e,d', 'e,d,s', 'd,d,e', 's,x,e'])[1 + g % 4], ','))[1:1 + g % 3] AS path,
       (g % 5 = 0)::int::bigint AS conv,
       (g % 5 <> 0)::int::bigint AS nulls
  FROM generate_series(1, 60000) g;
ANALYZE an_big;
CREATE TEMP TABLE serial_res AS
SELECT nps(score), csat(csat_score, 5), rating_summary(ratings), funnel(stage, '{lead,qualified,proposal,won}'),
       ab_test(variant, converted, 'A'), welch_test(variant, spend, 'A'),
       markov_attribution(path, conv, nulls, spend::numeric), heuristic_attribution(path, conv, spend::numeric),
       markov_attribution(path, conv, nulls, NULL, 3) AS markov3
  FROM an_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT nps(score), csat(csat_score, 5), rating_summary(ratings), funnel(stage, '{lead,qualified,proposal,won}'),
       ab_test(variant, converted, 'A'), welch_test(variant, spend, 'A'),
       markov_attribution(path, conv, nulls, spend::numeric), heuristic_attribution(path, conv, spend::numeric),
       markov_attribution(path, conv, nulls, NULL, 3) AS markov3
  FROM an_big;
CREATE TEMP TABLE parallel_res AS
SELECT nps(score), csat(csat_score, 5), rating_summary(ratings), funnel(stage, '{lead,qualified,proposal,won}'),
       ab_test(variant, converted, 'A'), welch_test(variant, spend, 'A'),
       markov_attribution(path, conv, nulls, spend::numeric), heuristic_attribution(path, conv, spend::numeric),
       markov_attribution(path, conv, nulls, NULL, 3) AS markov3
  FROM an_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- Counts are exact; sums of fractions may differ in the last bits, so
-- numbers are compared to 12 significant digits (Welch: 10, as its running
-- means are merged in a different order).
CREATE FUNCTION pg_temp.round_sig(j jsonb, d int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, pg_temp.round_sig(v, d)), '{}') FROM jsonb_each(j) e(k, v))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(pg_temp.round_sig(v, d) ORDER BY i), '[]') FROM jsonb_array_elements(j) WITH ORDINALITY e(v, i))
        WHEN 'number' THEN to_jsonb(CASE WHEN j::text::numeric = 0 THEN 0 ELSE round(j::text::numeric, d - 1 - floor(log(abs(j::text::numeric)))::int) END)
        ELSE j END $$;
SELECT s.nps = p.nps AS nps, s.csat = p.csat AS csat,
       s.rating_summary = p.rating_summary AS ratings, s.funnel = p.funnel AS funnel,
       s.ab_test = p.ab_test AS ab_test,
       pg_temp.round_sig(s.welch_test, 10) = pg_temp.round_sig(p.welch_test, 10) AS welch,
       pg_temp.round_sig(s.markov_attribution, 12) = pg_temp.round_sig(p.markov_attribution, 12) AS markov,
       pg_temp.round_sig(s.heuristic_attribution, 12) = pg_temp.round_sig(p.heuristic_attribution, 12) AS heuristic,
       s.markov3 = p.markov3 AS markov3
  FROM serial_res s, parallel_res p;
-- Partial states by group, combined after a text round trip, equal the whole.
SELECT nps_final(counts_add(counts_add('{0,0,0}', a::text::bigint[]), b::text::bigint[])) = (SELECT nps(score) FROM an_big) AS nps_combined
  FROM (SELECT (SELECT array_agg(x) FROM unnest(ARRAY[
            count(*) FILTER (WHERE score <= 6), count(*) FILTER (WHERE score IN (7, 8)), count(*) FILTER (WHERE score >= 9)]) x) AS a
          FROM an_big WHERE g % 2 = 0) x,
       (SELECT (SELECT array_agg(x) FROM unnest(ARRAY[
            count(*) FILTER (WHERE score <= 6), count(*) FILTER (WHERE score IN (7, 8)), count(*) FILTER (WHERE score >= 9)]) x) AS b
          FROM an_big WHERE g % 2 = 1) y;
-- The numbers of the whole table, checked against plain SQL.
SELECT (SELECT nps FROM serial_res) = 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(*) AS nps_plain,
       (SELECT csat FROM serial_res) = 100.0 * count(*) FILTER (WHERE csat_score >= 4) / count(*) AS csat_plain
  FROM an_big;
SELECT (SELECT ab_test FROM serial_res) @> jsonb_build_array(jsonb_build_object('variant', 'B',
            'n', count(*) FILTER (WHERE variant = 'B'), 'conversions', count(*) FILTER (WHERE variant = 'B' AND converted))) AS ab_counts_plain
  FROM an_big;
-- Citus-style: partial states per group, shipped as text, merged and finished
-- elsewhere, give the result of one aggregate over everything.
CREATE AGGREGATE pg_temp.st_rating(jsonb) (SFUNC = crm.rating_summary_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_funnel(text, text[]) (SFUNC = crm.funnel_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_ab(text, boolean, text) (SFUNC = crm.ab_test_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_welch(text, double precision, text) (SFUNC = crm.welch_test_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_markov(text[], bigint, bigint, numeric, integer) (SFUNC = crm.markov_attribution_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_heuristic(text[], bigint, numeric) (SFUNC = crm.heuristic_attribution_trans, STYPE = crm.tally);
CREATE AGGREGATE pg_temp.st_merge(crm.tally) (SFUNC = crm.tally_combine, STYPE = crm.tally);
CREATE TEMP TABLE shipped AS
SELECT g % 7 AS node,
       pg_temp.st_rating(ratings)::text AS rating, pg_temp.st_funnel(stage, '{lead,qualified,proposal,won}')::text AS funnel,
       pg_temp.st_ab(variant, converted, 'A')::text AS ab, pg_temp.st_welch(variant, spend, 'A')::text AS welch,
       pg_temp.st_markov(path, conv, nulls, spend::numeric, 2)::text AS markov,
       pg_temp.st_heuristic(path, conv, spend::numeric)::text AS heuristic
  FROM an_big GROUP BY g % 7;
SELECT rating_summary_final(pg_temp.st_merge(rating::tally)) = (SELECT rating_summary(ratings) FROM an_big) AS rating,
       funnel_final(pg_temp.st_merge(funnel::tally)) = (SELECT funnel(stage, '{lead,qualified,proposal,won}') FROM an_big) AS funnel,
       ab_test_final(pg_temp.st_merge(ab::tally)) = (SELECT ab_test(variant, converted, 'A') FROM an_big) AS ab_test,
       pg_temp.round_sig(welch_test_final(pg_temp.st_merge(welch::tally)), 10)
         = (SELECT pg_temp.round_sig(welch_test(variant, spend, 'A'), 10) FROM an_big) AS welch,
       pg_temp.round_sig(markov_attribution_final(pg_temp.st_merge(markov::tally)), 12)
         = (SELECT pg_temp.round_sig(markov_attribution(path, conv, nulls, spend::numeric, 2), 12) FROM an_big) AS markov2,
       pg_temp.round_sig(heuristic_attribution_final(pg_temp.st_merge(heuristic::tally)), 12)
         = (SELECT pg_temp.round_sig(heuristic_attribution(path, conv, spend::numeric), 12) FROM an_big) AS heuristic
  FROM shipped;
-- The merge refuses states of different kinds or labels.
SELECT pg_temp.st_merge(t) FROM (VALUES ('{"kind": "ab_test", "label": "A", "data": {}}'::tally), ('{"kind": "ab_test", "label": "B", "data": {}}')) v(t);
SELECT pg_temp.st_merge(t) FROM (VALUES ('{"kind": "ab_test", "label": "A", "data": {}}'::tally), ('{"kind": "welch", "label": "A", "data": {}}')) v(t);
SELECT pg_temp.st_merge(t) FROM (VALUES ('{"kind": "funnel", "label": null, "data": {"a": [1, 3]}}'::tally), ('{"kind": "funnel", "label": null, "data": {"a": [2, 1]}}')) v(t);
SELECT pg_temp.st_merge(t) FROM (VALUES ('{"kind": "welch", "label": "A", "data": {"A": [2, 1, 0.5]}}'::tally), ('{"kind": "welch", "label": "A", "data": {"A": [2, 3, 0.5], "B": [1, 0, 0]}}')) v(t);
DROP TABLE an_big;

-- ---------------------------------------------------------------------------
-- Cohort retention and purchase KPIs
-- ---------------------------------------------------------------------------
SET TimeZone = 'UTC';
CREATE TEMP TABLE "Buys" ("Who" int, "When" timestamptz);
-- Customer 1: Jan, Feb, Apr; 2: Jan; 3: Jan, Mar (twice); 4: Feb, Feb, Mar; 5: NULL time.
INSERT INTO "Buys" VALUES
    (1, '2024-01-05'), (1, '2024-02-10'), (1, '2024-04-01'),
    (2, '2024-01-20'),
    (3, '2024-01-31 23:00'), (3, '2024-03-01'), (3, '2024-03-15'),
    (4, '2024-02-01'), (4, '2024-02-20'), (4, '2024-03-03'),
    (5, NULL), (NULL, '2024-01-01');
-- Jan cohort {1,2,3}: Jan 3, Feb 1 (1), Mar 1 (3), Apr 1 (1).  Feb cohort {4}: Feb 1, Mar 1, Apr 0.
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When', 'month', 12);
-- periods caps the grid; quarters: Q1 cohort {1,2,3,4}: Q1 4, Q2 1.
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When', 'month', 1);
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When', 'quarter');
SELECT count(*) AS weekly_rows, sum(active) FILTER (WHERE period_number = 0) AS week0_active
  FROM cohort_retention('"Buys"', 'Who', 'When', 'week', 100);
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When', 'fortnight');
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When', 'month', -1);
SELECT * FROM cohort_retention('"Buys"', 'nobody', 'When');
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When') WHERE false;
-- 4 customers, 3 with repeats (0.75); 10 purchases; cycle: customer 1 Jan 5 -> Apr 1 = 87 days
-- over 2 gaps, 3 Jan 31 23:00 -> Mar 15 = 43 days 1 hour over 2, 4 Feb 1 -> Mar 3 = 31 days over 2:
-- (87 + 43 + 1/24 + 31) / 6 = 26.840278 days.
SELECT customers, repeat_customers, repeat_purchase_rate, purchases, purchases_per_customer,
       round(mean_purchase_cycle_days::numeric, 6) AS cycle_days
  FROM purchase_kpis('"Buys"', 'Who', 'When');
SELECT * FROM purchase_kpis('"Buys"', 'Who', 'When') WHERE false;
DELETE FROM "Buys";
SELECT * FROM purchase_kpis('"Buys"', 'Who', 'When');
SELECT * FROM cohort_retention('"Buys"', 'Who', 'When');

-- The views over crm.purchase and crm.survey_response.
INSERT INTO customer (id, name, tier) VALUES (9001, 'Ann', 'diamond'), (9002, 'Bo', 'bronze'), (9003, 'Cy', 'bronze');
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES
    (9001, '2024-01-05', 'store', 'tea', 5), (9001, '2024-03-05', 'store', 'tea', 5), (9002, '2024-02-05', 'app', 'tea', 5);
SELECT * FROM cohort_retention_monthly;
SELECT * FROM purchase_kpi;
INSERT INTO customer_rfm_score (customer_id, recency_days, frequency, monetary, r, f, m, rfm, segment, as_of)
VALUES (9001, 1, 2, 10, 5, 5, 5, '555', 'Champions', '2024-04-01'), (9002, 30, 1, 5, 3, 1, 1, '311', 'About to Sleep', '2024-04-01');
-- March: Ann 10 and 9 (promoters), Bo 3 (detractor), Cy 8 (passive), anonymous 10: nps = (3 - 1) / 5 = 40.
INSERT INTO survey_response (customer_id, responded_at, nps_score, csat_score, ratings) VALUES
    (9001, '2024-03-02', 10, 5, '{"taste": 5}'), (9001, '2024-03-20', 9, NULL, NULL),
    (9002, '2024-03-03', 3, 2, '{"taste": 2, "service": 1}'), (9003, '2024-03-04', 8, 4, NULL),
    (NULL, '2024-03-05', 10, NULL, NULL), (9002, '2024-04-01', NULL, 3, NULL);
SELECT * FROM nps_monthly ORDER BY month, breakdown, tier, segment;
RESET TimeZone;
DROP TABLE "Buys";
-- Leave crm's tables as they were for the tests that follow.
DELETE FROM survey_response WHERE customer_id IN (9001, 9002, 9003) OR customer_id IS NULL;
DELETE FROM customer_rfm_score WHERE customer_id IN (9001, 9002);
DELETE FROM purchase WHERE customer_id IN (9001, 9002);
DELETE FROM customer WHERE id IN (9001, 9002, 9003);
