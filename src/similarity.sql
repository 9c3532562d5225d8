
-- ---------------------------------------------------------------------------
-- String similarity for duplicate detection
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.jaro_winkler(text, text) RETURNS double precision
    AS 'MODULE_PATHNAME', 'jaro_winkler' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.jaro_winkler(text, text) IS 'Jaro-Winkler similarity of two strings, by character: 1 when equal, 0 when nothing in common';

CREATE FUNCTION crm.normalize_name(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.lower(pg_catalog.regexp_replace(pg_catalog.btrim($1), '\s+', ' ', 'g'));
COMMENT ON FUNCTION crm.normalize_name(text) IS 'a name prepared for comparison: trimmed, inner whitespace collapsed, lower case';
