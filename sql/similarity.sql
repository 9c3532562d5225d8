-- crm.jaro_winkler and crm.normalize_name
SET search_path = crm, public;

-- Reference values from the record-linkage literature (Winkler 1990, Jaro-Winkler with p = 0.1).
SELECT a, b, round(jaro_winkler(a, b)::numeric, 3) AS jw, expected
  FROM (VALUES ('MARTHA', 'MARHTA', 0.961), ('DWAYNE', 'DUANE', 0.840),
               ('DIXON', 'DICKSONX', 0.813), ('JELLYFISH', 'SMELLYFISH', 0.896)) AS t(a, b, expected);
SELECT bool_and(round(jaro_winkler(a, b)::numeric, 3) = expected) AS all_match
  FROM (VALUES ('MARTHA', 'MARHTA', 0.961), ('DWAYNE', 'DUANE', 0.840),
               ('DIXON', 'DICKSONX', 0.813), ('JELLYFISH', 'SMELLYFISH', 0.896)) AS t(a, b, expected);

-- Edge cases: equal, disjoint, empty, one character, symmetry.
SELECT jaro_winkler('abc', 'abc') AS equal, jaro_winkler('abc', 'xyz') AS disjoint,
       jaro_winkler('', '') AS both_empty, jaro_winkler('', 'a') AS one_empty,
       jaro_winkler('a', 'a') AS one_char, jaro_winkler('a', 'b') AS one_char_differs,
       jaro_winkler('martha', 'marhta') = jaro_winkler('marhta', 'martha') AS symmetric,
       jaro_winkler(NULL, 'a') IS NULL AS strict;

-- Characters, not bytes: multibyte names compare by character.
SELECT round(jaro_winkler('张伟', '张玮')::numeric, 4) AS zh_one_of_two,
       round(jaro_winkler('ab', 'ac')::numeric, 4) AS ascii_one_of_two,
       jaro_winkler('Müller', 'Müller') AS umlaut_equal,
       round(jaro_winkler('Müller', 'Muller')::numeric, 4) AS umlaut_vs_plain,
       round(jaro_winkler('Möller', 'Muller')::numeric, 4) AS one_letter_differs_each;

-- Long strings (beyond the stack buffers).
SELECT jaro_winkler(repeat('ab', 200), repeat('ab', 200)) AS long_equal,
       jaro_winkler(repeat('a', 500), repeat('a', 499) || 'b') > 0.99 AS long_close;

-- normalize_name trims, collapses whitespace and lower-cases.
SELECT normalize_name('  Anna   MARIA  Schmidt ') AS n, normalize_name(E'Li\tWei') AS tab;
RESET search_path;
