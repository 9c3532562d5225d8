
-- ---------------------------------------------------------------------------
-- crm.tagset: a sorted, de-duplicated set of customer labels, with GIN
-- ---------------------------------------------------------------------------

CREATE TYPE crm.tagset;

CREATE FUNCTION crm.tagset_in(cstring) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_out(crm.tagset) RETURNS cstring
    AS 'MODULE_PATHNAME', 'tagset_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_recv(internal) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_send(crm.tagset) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tagset_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_typanalyze(internal) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_typanalyze' LANGUAGE C STRICT PARALLEL SAFE;

-- Small sets are stored with a one-byte varlena header (packed), like text.
CREATE TYPE crm.tagset (
    INPUT = crm.tagset_in,
    OUTPUT = crm.tagset_out,
    RECEIVE = crm.tagset_recv,
    SEND = crm.tagset_send,
    ANALYZE = crm.tagset_typanalyze,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE crm.tagset IS 'set of customer labels such as vip or region:north: trimmed, lower case, sorted, without duplicates; text form {vip,region:north} (one label may be written without braces)';

-- Comparison, hashing and set predicates.
CREATE FUNCTION crm.tagset_eq(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_ne(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_lt(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_le(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_gt(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_ge(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_cmp(crm.tagset, crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_hash(crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_hash_extended(crm.tagset, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tagset_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_contains(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_contained(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_contained' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_overlap(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_overlap' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_has_label(crm.tagset, text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_has_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Set algebra.
CREATE FUNCTION crm.tagset_union(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_union' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_intersect(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_intersect' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_minus(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_minus' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_add_label(crm.tagset, text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_add_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_remove_label(crm.tagset, text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_remove_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Restriction estimators of the set operators: from the label frequencies
-- ANALYZE stores (pg_stats.most_common_elems), labels taken as independent.
CREATE FUNCTION crm.tagset_contains_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_contains_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_contained_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_contained_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_overlap_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_overlap_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_has_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_has_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Operators.
CREATE OPERATOR crm.= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR crm.<> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR crm.< (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR crm.<= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR crm.> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR crm.>= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR crm.@> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_contains,
    COMMUTATOR = OPERATOR(crm.<@),
    RESTRICT = crm.tagset_contains_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.<@ (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_contained,
    COMMUTATOR = OPERATOR(crm.@>),
    RESTRICT = crm.tagset_contained_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.&& (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_overlap,
    COMMUTATOR = OPERATOR(crm.&&),
    RESTRICT = crm.tagset_overlap_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.? (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_has_label,
    RESTRICT = crm.tagset_has_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.+ (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_add_label
);
CREATE OPERATOR crm.+ (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_union,
    COMMUTATOR = OPERATOR(crm.+)
);
CREATE OPERATOR crm.- (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_remove_label
);
CREATE OPERATOR crm.- (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_minus
);
CREATE OPERATOR crm.| (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_union,
    COMMUTATOR = OPERATOR(crm.|)
);
CREATE OPERATOR crm.& (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_intersect,
    COMMUTATOR = OPERATOR(crm.&)
);

CREATE OPERATOR CLASS crm.tagset_ops DEFAULT FOR TYPE crm.tagset USING btree AS
    OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= ,
    OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
    FUNCTION 1 crm.tagset_cmp(crm.tagset, crm.tagset);
CREATE OPERATOR CLASS crm.tagset_hash_ops DEFAULT FOR TYPE crm.tagset USING hash AS
    OPERATOR 1 crm.= ,
    FUNCTION 1 crm.tagset_hash(crm.tagset),
    FUNCTION 2 crm.tagset_hash_extended(crm.tagset, bigint);

-- GIN: one key per label, stored as text and ordered bytewise.
CREATE FUNCTION crm.tagset_gin_compare(text, text) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_gin_compare' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_extract_value(crm.tagset, internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'tagset_gin_extract_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'tagset_gin_extract_query' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_gin_consistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal) RETURNS "char"
    AS 'MODULE_PATHNAME', 'tagset_gin_triconsistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS crm.tagset_gin_ops DEFAULT FOR TYPE crm.tagset USING gin AS
    OPERATOR 1 crm.&& (crm.tagset, crm.tagset),
    OPERATOR 2 crm.@> (crm.tagset, crm.tagset),
    OPERATOR 3 crm.<@ (crm.tagset, crm.tagset),
    OPERATOR 4 crm.= (crm.tagset, crm.tagset),
    OPERATOR 5 crm.? (crm.tagset, text),
    FUNCTION 1 crm.tagset_gin_compare(text, text),
    FUNCTION 2 crm.tagset_gin_extract_value(crm.tagset, internal, internal),
    FUNCTION 3 crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal),
    FUNCTION 6 crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal),
    STORAGE text;

-- Casts: text[] in and out (assignment, so "=" never falls back to arrays).
CREATE FUNCTION crm.tagset(text[]) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_to_array(crm.tagset) RETURNS text[]
    AS 'MODULE_PATHNAME', 'tagset_to_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (text[] AS crm.tagset) WITH FUNCTION crm.tagset(text[]) AS ASSIGNMENT;
CREATE CAST (crm.tagset AS text[]) WITH FUNCTION crm.tagset_to_array(crm.tagset) AS ASSIGNMENT;

-- Accessors.
CREATE FUNCTION crm.tag_count(crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tags_in_namespace(tags crm.tagset, namespace text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_in_namespace' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.unnest(tags crm.tagset) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.unnest(crm.tagset_to_array(tags));
CREATE FUNCTION crm.tag_labels(tags crm.tagset)
    RETURNS TABLE (label text, namespace text, name text)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    BEGIN ATOMIC
        SELECT l,
               CASE WHEN pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.>) 0
                    THEN pg_catalog.split_part(l, ':', 1) END,
               CASE WHEN pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.>) 0
                    THEN pg_catalog.substr(l, pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.+) 1)
                    ELSE l END
          FROM pg_catalog.unnest(crm.tagset_to_array(tags)) AS u(l);
    END;

-- Aggregate: union of sets; the state is a crm.tagset, so it is parallel and
-- distributable without serialisation.
CREATE FUNCTION crm.tagset_union_trans(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_union_trans' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE crm.tag_union(crm.tagset) (
    SFUNC = crm.tagset_union_trans,
    STYPE = crm.tagset,
    COMBINEFUNC = crm.tagset_union_trans,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON FUNCTION crm.tagset_in(cstring) IS 'text input of crm.tagset: {label,...} or a single label; labels are trimmed, lower-cased, sorted and de-duplicated';
COMMENT ON FUNCTION crm.tagset_out(crm.tagset) IS 'text output of crm.tagset: {label,...} in byte order';
COMMENT ON FUNCTION crm.tagset_recv(internal) IS 'binary input of crm.tagset: int32 count, then each label as int32 length and text; validated like the text input';
COMMENT ON FUNCTION crm.tagset_send(crm.tagset) IS 'binary output of crm.tagset: int32 count, then each label as int32 length and text';
COMMENT ON FUNCTION crm.tagset_typanalyze(internal) IS 'ANALYZE support: statistics of whole sets plus the frequencies of the most common labels';
COMMENT ON FUNCTION crm.tagset_contains_sel(internal, oid, internal, integer) IS 'restriction estimator of @> from label frequencies';
COMMENT ON FUNCTION crm.tagset_contained_sel(internal, oid, internal, integer) IS 'restriction estimator of <@ from label frequencies';
COMMENT ON FUNCTION crm.tagset_overlap_sel(internal, oid, internal, integer) IS 'restriction estimator of && from label frequencies';
COMMENT ON FUNCTION crm.tagset_has_sel(internal, oid, internal, integer) IS 'restriction estimator of ? from label frequencies';
COMMENT ON FUNCTION crm.tagset_eq(crm.tagset, crm.tagset) IS 'the same labels';
COMMENT ON FUNCTION crm.tagset_ne(crm.tagset, crm.tagset) IS 'not the same labels';
COMMENT ON FUNCTION crm.tagset_lt(crm.tagset, crm.tagset) IS 'less than, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_le(crm.tagset, crm.tagset) IS 'less than or equal, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_gt(crm.tagset, crm.tagset) IS 'greater than, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_ge(crm.tagset, crm.tagset) IS 'greater than or equal, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_cmp(crm.tagset, crm.tagset) IS 'btree support: -1, 0 or 1';
COMMENT ON FUNCTION crm.tagset_hash(crm.tagset) IS 'hash support';
COMMENT ON FUNCTION crm.tagset_hash_extended(crm.tagset, bigint) IS 'hash support, 64-bit with seed';
COMMENT ON FUNCTION crm.tagset_contains(crm.tagset, crm.tagset) IS 'the first set holds every label of the second';
COMMENT ON FUNCTION crm.tagset_contained(crm.tagset, crm.tagset) IS 'every label of the first set is in the second';
COMMENT ON FUNCTION crm.tagset_overlap(crm.tagset, crm.tagset) IS 'the sets share at least one label';
COMMENT ON FUNCTION crm.tagset_has_label(crm.tagset, text) IS 'the set holds the label (normalised first)';
COMMENT ON FUNCTION crm.tagset_union(crm.tagset, crm.tagset) IS 'labels in either set';
COMMENT ON FUNCTION crm.tagset_intersect(crm.tagset, crm.tagset) IS 'labels in both sets';
COMMENT ON FUNCTION crm.tagset_minus(crm.tagset, crm.tagset) IS 'labels of the first set that are not in the second';
COMMENT ON FUNCTION crm.tagset_add_label(crm.tagset, text) IS 'the set with one more label (normalised and validated)';
COMMENT ON FUNCTION crm.tagset_remove_label(crm.tagset, text) IS 'the set without the label (normalised and validated)';
COMMENT ON FUNCTION crm.tagset_gin_compare(text, text) IS 'GIN support: bytewise order of labels';
COMMENT ON FUNCTION crm.tagset_gin_extract_value(crm.tagset, internal, internal) IS 'GIN support: the labels of an indexed set';
COMMENT ON FUNCTION crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal) IS 'GIN support: the labels of a query and its search mode';
COMMENT ON FUNCTION crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal) IS 'GIN support: whether an indexed set can match';
COMMENT ON FUNCTION crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal) IS 'GIN support: ternary match for the fast scan';
COMMENT ON FUNCTION crm.tagset(text[]) IS 'cast from text[]: each element is a label; NULL elements are an error';
COMMENT ON FUNCTION crm.tagset_to_array(crm.tagset) IS 'cast to text[]: the labels in sorted order';
COMMENT ON FUNCTION crm.tag_count(crm.tagset) IS 'number of labels in the set';
COMMENT ON FUNCTION crm.tags_in_namespace(crm.tagset, text) IS 'the labels of the set in a namespace (the part before the first colon), such as region';
COMMENT ON FUNCTION crm.unnest(crm.tagset) IS 'one row per label, in sorted order';
COMMENT ON FUNCTION crm.tag_labels(crm.tagset) IS 'one row per label with its namespace (NULL when it has none) and the name after the colon';
COMMENT ON FUNCTION crm.tagset_union_trans(crm.tagset, crm.tagset) IS 'transition and combine function of crm.tag_union';
COMMENT ON AGGREGATE crm.tag_union(crm.tagset) IS 'union of the label sets of all rows; parallel safe; {} when there are no rows';
COMMENT ON OPERATOR crm.= (crm.tagset, crm.tagset) IS 'the same labels';
COMMENT ON OPERATOR crm.<> (crm.tagset, crm.tagset) IS 'not the same labels';
COMMENT ON OPERATOR crm.< (crm.tagset, crm.tagset) IS 'less than';
COMMENT ON OPERATOR crm.<= (crm.tagset, crm.tagset) IS 'less than or equal';
COMMENT ON OPERATOR crm.> (crm.tagset, crm.tagset) IS 'greater than';
COMMENT ON OPERATOR crm.>= (crm.tagset, crm.tagset) IS 'greater than or equal';
COMMENT ON OPERATOR crm.@> (crm.tagset, crm.tagset) IS 'contains all labels of';
COMMENT ON OPERATOR crm.<@ (crm.tagset, crm.tagset) IS 'every label is in';
COMMENT ON OPERATOR crm.&& (crm.tagset, crm.tagset) IS 'shares at least one label with';
COMMENT ON OPERATOR crm.? (crm.tagset, text) IS 'holds the label';
COMMENT ON OPERATOR crm.+ (crm.tagset, text) IS 'add a label';
COMMENT ON OPERATOR crm.+ (crm.tagset, crm.tagset) IS 'add the labels of a set (union)';
COMMENT ON OPERATOR crm.- (crm.tagset, text) IS 'remove a label';
COMMENT ON OPERATOR crm.- (crm.tagset, crm.tagset) IS 'remove the labels of a set';
COMMENT ON OPERATOR crm.| (crm.tagset, crm.tagset) IS 'union';
COMMENT ON OPERATOR crm.& (crm.tagset, crm.tagset) IS 'intersection';
COMMENT ON OPERATOR CLASS crm.tagset_ops USING btree IS 'btree order of crm.tagset: labels compared in turn, bytewise';
COMMENT ON OPERATOR FAMILY crm.tagset_ops USING btree IS 'btree order of crm.tagset';
COMMENT ON OPERATOR CLASS crm.tagset_hash_ops USING hash IS 'hashing of crm.tagset (GROUP BY, DISTINCT, hash joins)';
COMMENT ON OPERATOR FAMILY crm.tagset_hash_ops USING hash IS 'hashing of crm.tagset';
COMMENT ON OPERATOR CLASS crm.tagset_gin_ops USING gin IS 'GIN index of crm.tagset, one key per label: serves @>, <@, &&, = and ?';
COMMENT ON OPERATOR FAMILY crm.tagset_gin_ops USING gin IS 'GIN index of crm.tagset';
COMMENT ON CAST (text[] AS crm.tagset) IS 'each element is a label; NULL elements are an error';
COMMENT ON CAST (crm.tagset AS text[]) IS 'the labels in sorted order';

-- ---------------------------------------------------------------------------
-- Customer tags: the column, its index, tagging by hand
-- ---------------------------------------------------------------------------

ALTER TABLE crm.customer ADD COLUMN tags crm.tagset NOT NULL DEFAULT '{}';
CREATE INDEX customer_tags_idx ON crm.customer USING gin (tags);
COMMENT ON INDEX crm.customer_tags_idx IS 'GIN index of customer tags: serves @>, <@, &&, = and ?';
COMMENT ON COLUMN crm.customer.tags IS 'labels of the customer (crm.tagset), by hand (crm.tag, crm.untag) and by rules (crm.apply_tag_rules); GIN-indexed';

CREATE FUNCTION crm.tag(customer_id bigint, VARIADIC labels text[]) RETURNS crm.tagset
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result crm.tagset;
BEGIN
    IF tag.customer_id IS NULL OR labels IS NULL THEN
        RAISE EXCEPTION 'customer id and labels must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = 'Both the customer id and the labels are required.',
                  HINT = 'Call crm.tag(customer_id, ''label'', ...).';
    END IF;
    UPDATE crm.customer c SET tags = c.tags OPERATOR(crm.|) crm.tagset(labels)
     WHERE c.id = tag.customer_id
    RETURNING c.tags INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', tag.customer_id
            USING ERRCODE = 'P0002',
                  DETAIL = 'No row of crm.customer has this id.',
                  HINT = 'Check the id; a customer merged into another has been deleted (see crm.customer_merge).';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION crm.tag(bigint, text[]) IS 'adds labels to a customer and returns the customer''s new tags; labels are validated and normalised';

CREATE FUNCTION crm.untag(customer_id bigint, VARIADIC labels text[]) RETURNS crm.tagset
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result crm.tagset;
BEGIN
    IF untag.customer_id IS NULL OR labels IS NULL THEN
        RAISE EXCEPTION 'customer id and labels must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = 'Both the customer id and the labels are required.',
                  HINT = 'Call crm.untag(customer_id, ''label'', ...).';
    END IF;
    UPDATE crm.customer c SET tags = c.tags OPERATOR(crm.-) crm.tagset(labels)
     WHERE c.id = untag.customer_id
    RETURNING c.tags INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', untag.customer_id
            USING ERRCODE = 'P0002',
                  DETAIL = 'No row of crm.customer has this id.',
                  HINT = 'Check the id; a customer merged into another has been deleted (see crm.customer_merge).';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION crm.untag(bigint, text[]) IS 'removes labels from a customer and returns the customer''s new tags';

-- crm.merge_customers logs the merge in crm.customer_merge while both rows
-- still exist: at that moment the kept customer takes the duplicate's tags.
CREATE FUNCTION crm.customer_merge_tags() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE crm.customer k SET tags = k.tags OPERATOR(crm.|) d.tags
      FROM crm.customer d
     WHERE k.id = NEW.kept_id AND d.id = NEW.merged_id
       AND NOT k.tags OPERATOR(crm.@>) d.tags;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.customer_merge_tags() IS 'trigger: when two customers are merged, the kept one gets the union of both customers'' tags';
CREATE TRIGGER customer_merge_tags AFTER INSERT ON crm.customer_merge
    FOR EACH ROW EXECUTE FUNCTION crm.customer_merge_tags();
COMMENT ON TRIGGER customer_merge_tags ON crm.customer_merge IS 'the kept customer of a merge gets the union of both customers'' tags';

-- ---------------------------------------------------------------------------
-- Rule-based tagging
-- ---------------------------------------------------------------------------

CREATE VIEW crm.customer_metrics AS
SELECT c.id AS customer_id,
       c.gender,
       date_part('year', age(current_date, c.birth_date))::integer AS age,
       c.region,
       c.city,
       c.occupation,
       c.income_band,
       c.education,
       c.family_status,
       c.owner,
       c.created_at,
       c.tags,
       coalesce(p.total_spend, 0)::numeric(14, 2) AS total_spend,
       coalesce(p.purchase_count, 0) AS purchase_count,
       p.first_purchase_at,
       p.last_purchase_at,
       (current_date - p.last_purchase_at::date) AS days_since_last_purchase,
       coalesce(p.spend_12m, 0)::numeric(14, 2) AS spend_12m,
       coalesce(p.purchases_12m, 0) AS purchases_12m,
       round(p.total_spend / nullif(p.purchase_count, 0), 2) AS avg_order_value,
       coalesce(p.channels, '{}') AS channels,
       coalesce(p.channel_count, 0) AS channel_count,
       p.main_channel,
       coalesce(p.store_spend, 0)::numeric(14, 2) AS store_spend,
       coalesce(p.online_spend, 0)::numeric(14, 2) AS online_spend,
       coalesce(p.app_spend, 0)::numeric(14, 2) AS app_spend,
       coalesce(p.mini_program_spend, 0)::numeric(14, 2) AS mini_program_spend,
       coalesce(p.phone_spend, 0)::numeric(14, 2) AS phone_spend,
       coalesce(i.interaction_count, 0) AS interaction_count,
       coalesce(i.complaint_count, 0) AS complaint_count,
       i.last_interaction_at
  FROM crm.customer c
  LEFT JOIN (
        SELECT pu.customer_id,
               sum(pu.amount) AS total_spend,
               count(*) AS purchase_count,
               min(pu.purchased_at) AS first_purchase_at,
               max(pu.purchased_at) AS last_purchase_at,
               sum(pu.amount) FILTER (WHERE pu.purchased_at >= now() - interval '12 months') AS spend_12m,
               count(*) FILTER (WHERE pu.purchased_at >= now() - interval '12 months') AS purchases_12m,
               array_agg(DISTINCT pu.channel ORDER BY pu.channel) AS channels,
               count(DISTINCT pu.channel) AS channel_count,
               mode() WITHIN GROUP (ORDER BY pu.channel) AS main_channel,
               sum(pu.amount) FILTER (WHERE pu.channel = 'store') AS store_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'online') AS online_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'app') AS app_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'mini_program') AS mini_program_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'phone') AS phone_spend
          FROM crm.purchase pu
         GROUP BY pu.customer_id) p ON p.customer_id = c.id
  LEFT JOIN (
        SELECT it.customer_id,
               count(*) AS interaction_count,
               count(*) FILTER (WHERE it.kind = 'complaint') AS complaint_count,
               max(it.occurred_at) AS last_interaction_at
          FROM crm.interaction it
         GROUP BY it.customer_id) i ON i.customer_id = c.id;
COMMENT ON VIEW crm.customer_metrics IS 'one row per customer: profile, purchase totals, recency, channel mix and interactions; tag rule predicates are expressions over its columns';
COMMENT ON COLUMN crm.customer_metrics.customer_id IS 'customer id';
COMMENT ON COLUMN crm.customer_metrics.gender IS 'female, male, other or unknown';
COMMENT ON COLUMN crm.customer_metrics.age IS 'age in whole years today (NULL without a birth date)';
COMMENT ON COLUMN crm.customer_metrics.region IS 'region or province';
COMMENT ON COLUMN crm.customer_metrics.city IS 'city';
COMMENT ON COLUMN crm.customer_metrics.occupation IS 'occupation';
COMMENT ON COLUMN crm.customer_metrics.income_band IS 'income band';
COMMENT ON COLUMN crm.customer_metrics.education IS 'education level';
COMMENT ON COLUMN crm.customer_metrics.family_status IS 'family status';
COMMENT ON COLUMN crm.customer_metrics.owner IS 'staff role responsible for the customer';
COMMENT ON COLUMN crm.customer_metrics.created_at IS 'when the customer was first recorded';
COMMENT ON COLUMN crm.customer_metrics.tags IS 'the customer''s current labels';
COMMENT ON COLUMN crm.customer_metrics.total_spend IS 'sum of all purchase amounts (0 without purchases)';
COMMENT ON COLUMN crm.customer_metrics.purchase_count IS 'number of purchases';
COMMENT ON COLUMN crm.customer_metrics.first_purchase_at IS 'time of the first purchase';
COMMENT ON COLUMN crm.customer_metrics.last_purchase_at IS 'time of the last purchase';
COMMENT ON COLUMN crm.customer_metrics.days_since_last_purchase IS 'whole days from the last purchase to today (NULL without purchases)';
COMMENT ON COLUMN crm.customer_metrics.spend_12m IS 'spend in the last 12 months';
COMMENT ON COLUMN crm.customer_metrics.purchases_12m IS 'purchases in the last 12 months';
COMMENT ON COLUMN crm.customer_metrics.avg_order_value IS 'total spend divided by the number of purchases, to the cent';
COMMENT ON COLUMN crm.customer_metrics.channels IS 'channels the customer has bought through, sorted';
COMMENT ON COLUMN crm.customer_metrics.channel_count IS 'number of distinct purchase channels';
COMMENT ON COLUMN crm.customer_metrics.main_channel IS 'channel of most purchases (ties: first by name)';
COMMENT ON COLUMN crm.customer_metrics.store_spend IS 'spend through the store channel';
COMMENT ON COLUMN crm.customer_metrics.online_spend IS 'spend through the online channel';
COMMENT ON COLUMN crm.customer_metrics.app_spend IS 'spend through the app channel';
COMMENT ON COLUMN crm.customer_metrics.mini_program_spend IS 'spend through the mini_program channel';
COMMENT ON COLUMN crm.customer_metrics.phone_spend IS 'spend through the phone channel';
COMMENT ON COLUMN crm.customer_metrics.interaction_count IS 'number of recorded interactions';
COMMENT ON COLUMN crm.customer_metrics.complaint_count IS 'number of interactions of kind complaint';
COMMENT ON COLUMN crm.customer_metrics.last_interaction_at IS 'time of the last interaction';

CREATE FUNCTION crm.tag_rule_parse_predicate(text) RETURNS void
    AS 'MODULE_PATHNAME', 'tag_rule_parse_predicate' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.tag_rule_parse_predicate(text) IS 'raises an error unless the text is exactly one SQL expression (no second statement, no clauses)';

CREATE FUNCTION crm.check_tag_predicate(predicate text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = crm, pg_catalog, pg_temp
    AS $$
DECLARE
    msg    text;
    det    text;
    code   text;
BEGIN
    IF predicate IS NULL OR btrim(predicate) = '' THEN
        RAISE EXCEPTION 'tag rule predicate must not be empty'
            USING ERRCODE = '22023',
                  DETAIL = 'A rule needs a condition that says which customers get its label.',
                  HINT = 'Write a boolean expression over crm.customer_metrics, such as total_spend > 1000.';
    END IF;
    BEGIN
        PERFORM crm.tag_rule_parse_predicate(predicate);
        -- Plan, never run, the predicate against the view (with the same
        -- search_path as crm.apply_tag_rules, so crm's operators such as
        -- tags ? 'vip' resolve the same way): unknown columns,
        -- type errors and non-boolean results fail here.  The line breaks
        -- end any trailing -- comment inside the predicate.
        EXECUTE format(E'EXPLAIN (COSTS OFF) SELECT m.customer_id FROM crm.customer_metrics m WHERE (\n%s\n)', predicate);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, code = RETURNED_SQLSTATE;
        IF code LIKE '25%' THEN
            RAISE;      -- not a problem of the predicate (e.g. a read-only transaction)
        END IF;
        RAISE EXCEPTION 'invalid tag rule predicate: %', predicate
            USING ERRCODE = code,
                  DETAIL = CASE WHEN msg LIKE 'tag rule predicate is not one expression%' THEN det
                                ELSE upper(left(msg, 1)) || substr(msg, 2) || '.' END,
                  HINT = 'Write a boolean expression over the columns of crm.customer_metrics, such as total_spend > 1000 AND region = ''north''.';
    END;
END
$$;
COMMENT ON FUNCTION crm.check_tag_predicate(text) IS 'raises a clear error unless the text is one boolean SQL expression over the columns of crm.customer_metrics';

CREATE TABLE crm.tag_rule (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    label       text NOT NULL UNIQUE,
    predicate   text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text,
    created_by  text NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.tag_rule IS 'rules of rule-based tagging: crm.apply_tag_rules() gives label to exactly the customers for whom predicate is true; only the owner (and roles it grants INSERT/UPDATE to) can write rules';
COMMENT ON COLUMN crm.tag_rule.name IS 'rule name: lower case letters, digits and _';
COMMENT ON COLUMN crm.tag_rule.label IS 'the label the rule manages (normalised; one rule per label)';
COMMENT ON COLUMN crm.tag_rule.predicate IS 'boolean SQL expression over the columns of crm.customer_metrics, checked when saved';
COMMENT ON COLUMN crm.tag_rule.enabled IS 'disabled rules are skipped and leave their label as it is';
COMMENT ON COLUMN crm.tag_rule.description IS 'what the rule is for';
COMMENT ON COLUMN crm.tag_rule.created_by IS 'the role that created the rule';
COMMENT ON COLUMN crm.tag_rule.created_at IS 'when the rule was created';
REVOKE ALL ON crm.tag_rule FROM PUBLIC;

CREATE FUNCTION crm.tag_rule_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    normalised crm.tagset;
BEGIN
    normalised := crm.tagset(ARRAY[NEW.label]);
    NEW.label := (crm.tagset_to_array(normalised))[1];
    NEW.predicate := btrim(NEW.predicate);
    PERFORM crm.check_tag_predicate(NEW.predicate);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.tag_rule_check() IS 'trigger: normalises the label and rejects a rule whose predicate does not parse or refers to unknown columns';
CREATE TRIGGER tag_rule_check BEFORE INSERT OR UPDATE OF label, predicate ON crm.tag_rule
    FOR EACH ROW EXECUTE FUNCTION crm.tag_rule_check();
COMMENT ON TRIGGER tag_rule_check ON crm.tag_rule IS 'checks a rule''s predicate and normalises its label when it is saved';

SELECT pg_catalog.pg_extension_config_dump('crm.tag_rule', '');

CREATE FUNCTION crm.apply_tag_rules()
    RETURNS TABLE (rule text, label text, added bigint, removed bigint, tagged bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = crm, pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.name, t.label, t.predicate FROM crm.tag_rule t WHERE t.enabled ORDER BY t.name
    LOOP
        -- One pass per rule: evaluate the predicate for every customer once,
        -- and touch only the rows whose label must change.
        RETURN QUERY EXECUTE format($q$
            WITH m AS MATERIALIZED (
                SELECT m.customer_id, coalesce((
                    %s
                ), false) AS hit
                  FROM crm.customer_metrics m
            ), u AS (
                UPDATE crm.customer c
                   SET tags = CASE WHEN m.hit THEN c.tags OPERATOR(crm.+) $1
                                   ELSE c.tags OPERATOR(crm.-) $1 END
                  FROM m
                 WHERE m.customer_id = c.id
                   AND m.hit IS DISTINCT FROM (c.tags OPERATOR(crm.?) $1)
                RETURNING m.hit
            )
            SELECT $2, $1,
                   (SELECT count(*) FROM u WHERE u.hit),
                   (SELECT count(*) FROM u WHERE NOT u.hit),
                   (SELECT count(*) FROM m WHERE m.hit)$q$, r.predicate)
            USING r.label, r.name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION crm.apply_tag_rules() IS 'runs every enabled tag rule: adds its label to the customers matching its predicate and removes it from the others, one pass per rule; returns per rule the customers added, removed and tagged in total';
