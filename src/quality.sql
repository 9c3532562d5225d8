
-- ---------------------------------------------------------------------------
-- Identity resolution, duplicate detection and merging
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.resolve_customer(channel text, external_id text) RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN (SELECT i.customer_id FROM crm.customer_identity i
             WHERE i.channel OPERATOR(pg_catalog.=) $1
               AND i.external_id OPERATOR(pg_catalog.=) $2);
COMMENT ON FUNCTION crm.resolve_customer(text, text) IS 'the customer id an external id of a channel belongs to, or NULL when it is unknown';

CREATE FUNCTION crm.find_duplicates(threshold double precision DEFAULT 0.9)
    RETURNS TABLE (customer_a bigint, customer_b bigint, score double precision,
                   name_similarity double precision, reasons text[])
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = '22023',
                  DETAIL = 'The threshold is the smallest name similarity (Jaro-Winkler) that makes two customers a candidate pair.',
                  HINT = 'Use a value such as 0.9.';
    END IF;
    RETURN QUERY
    WITH k AS MATERIALIZED (
        SELECT c.id, n.nname,
               left(n.nname, 3) || '|' || right(n.nname, 3) AS ka,   -- a change in the middle keeps this
               right(n.nname, 6) AS kb,                              -- a change before the last six letters keeps this
               left(n.nname, 6) AS kc,                               -- a change after the first six letters keeps this
               c.email, c.phone, c.birth_date, lower(btrim(c.city)) AS ncity
          FROM crm.customer c, LATERAL (SELECT crm.normalize_name(c.name) AS nname) n
    ),
    pairs AS (
        -- Blocking: customers are compared only when they share a phone, an
        -- email, a birth date, or a city and one of three name keys, one of
        -- which survives any one-letter change, insertion, deletion or swap
        -- in a name of more than six letters.  Each arm leaves out
        -- the pairs an earlier arm finds, so every pair is scored once.
        SELECT a.id AS ida, b.id AS idb, crm.jaro_winkler(a.nname, b.nname) AS sim
          FROM k a JOIN k b ON a.phone OPERATOR(crm.=) b.phone AND a.id < b.id
        UNION ALL
        SELECT a.id, b.id, crm.jaro_winkler(a.nname, b.nname)
          FROM k a JOIN k b ON a.email OPERATOR(crm.=) b.email AND a.id < b.id
         WHERE a.phone IS NULL OR b.phone IS NULL OR a.phone OPERATOR(crm.<>) b.phone
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.ka = b.ka AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.kb = b.kb AND a.ka <> b.ka AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.kc = b.kc AND a.ka <> b.ka AND a.kb <> b.kb AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.birth_date = b.birth_date AND a.id < b.id
               AND (a.ncity IS DISTINCT FROM b.ncity OR (a.ka <> b.ka AND a.kb <> b.kb AND a.kc <> b.kc)),
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
    ),
    scored AS (
        SELECT p.ida, p.idb, max(p.sim) AS sim,
               coalesce(bool_or(a.phone OPERATOR(crm.=) b.phone), false) AS same_phone,
               coalesce(bool_or(a.email OPERATOR(crm.=) b.email), false) AS same_email,
               coalesce(bool_or(a.ncity = b.ncity), false) AS same_city,
               coalesce(bool_or(a.birth_date = b.birth_date), false) AS same_birth,
               coalesce(bool_or(a.birth_date <> b.birth_date), false) AS birth_conflict
          FROM pairs p
          JOIN k a ON a.id = p.ida
          JOIN k b ON b.id = p.idb
         GROUP BY p.ida, p.idb
    )
    SELECT s.ida, s.idb,
           round((0.40 * s.sim + 0.25 * s.same_phone::int + 0.20 * s.same_email::int
                  + 0.10 * s.same_birth::int + 0.05 * s.same_city::int)::numeric, 4)::double precision,
           round(s.sim::numeric, 4)::double precision,
           array_remove(ARRAY[
               CASE WHEN s.same_phone THEN 'same phone' END,
               CASE WHEN s.same_email THEN 'same email' END,
               CASE WHEN s.sim >= threshold THEN 'similar name' END,
               CASE WHEN s.same_city THEN 'same city' END,
               CASE WHEN s.same_birth THEN 'same birth date' END], NULL)
      FROM scored s
     WHERE s.same_phone OR s.same_email
        OR (s.sim >= threshold AND (s.same_city OR s.same_birth) AND NOT s.birth_conflict)
     ORDER BY 3 DESC, 4 DESC, 1, 2;
END
$$;
COMMENT ON FUNCTION crm.find_duplicates(double precision) IS 'candidate pairs of customers that are probably the same person: same phone or email, or a name similarity (Jaro-Winkler) of at least threshold with the same city or birth date and no conflicting birth date; score = 0.40 name similarity + 0.25 same phone + 0.20 same email + 0.10 same birth date + 0.05 same city';

CREATE FUNCTION crm.merge_customers(keep bigint, duplicate bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    fk       record;
    moved    jsonb := '{}';
    filled   text[] := '{}';
    n        bigint;
    col      record;
    dup_row  jsonb;
    sets     text := '';
    locked   int;
BEGIN
    IF keep IS NULL OR duplicate IS NULL THEN
        RAISE EXCEPTION 'customer ids to merge must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = format('keep is %s and duplicate is %s.', coalesce(keep::text, 'NULL'), coalesce(duplicate::text, 'NULL')),
                  HINT = 'Pass the id of the customer to keep and the id of its duplicate.';
    END IF;
    IF keep = duplicate THEN
        RAISE EXCEPTION 'cannot merge customer % with itself', keep
            USING ERRCODE = '22023',
                  DETAIL = 'The customer to keep and the duplicate are the same row.',
                  HINT = 'Pass two different customer ids; crm.find_duplicates() lists candidate pairs.';
    END IF;
    -- Lock both rows in id order, so concurrent merges cannot deadlock.
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM crm.customer WHERE id IN (keep, duplicate) ORDER BY id FOR UPDATE) l;
    IF locked < 2 THEN
        RAISE EXCEPTION 'customer % does not exist',
              CASE WHEN NOT EXISTS (SELECT 1 FROM crm.customer WHERE id = keep) THEN keep ELSE duplicate END
            USING ERRCODE = 'P0002',
                  DETAIL = 'Both customers must exist to be merged.',
                  HINT = 'Check the ids; a customer merged earlier has been deleted (see crm.customer_merge).';
    END IF;

    SELECT to_jsonb(d) INTO dup_row FROM crm.customer d WHERE d.id = duplicate;

    -- Move every row that references the duplicate, in every table with a
    -- foreign key to crm.customer (ours, later modules' and the user's).
    FOR fk IN
        SELECT c.conrelid::regclass AS tbl, a.attname AS col
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.confrelid = 'crm.customer'::regclass
           AND array_length(c.conkey, 1) = 1
         ORDER BY c.conrelid::regclass::text, a.attname
    LOOP
        EXECUTE format('UPDATE %s SET %I = $1 WHERE %I = $2', fk.tbl, fk.col, fk.col)
            USING keep, duplicate;
        GET DIAGNOSTICS n = ROW_COUNT;
        moved := moved || jsonb_build_object(fk.tbl::text || '.' || fk.col, n);
    END LOOP;

    -- Fill the kept customer's empty fields from the duplicate.
    FOR col IN
        SELECT a.attname, a.atttypid
          FROM pg_attribute a
         WHERE a.attrelid = 'crm.customer'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname NOT IN ('id', 'created_at', 'updated_at')
         ORDER BY a.attnum
    LOOP
        IF (dup_row -> col.attname) IS NOT NULL AND jsonb_typeof(dup_row -> col.attname) <> 'null' THEN
            EXECUTE format('SELECT count(*) FROM crm.customer WHERE id = $1 AND (%1$I IS NULL%2$s)',
                           col.attname,
                           CASE WHEN col.atttypid = 'text'::regtype
                                THEN format(' OR btrim(%I) = %L', col.attname, '') ELSE '' END)
                INTO n USING keep;
            IF n > 0 THEN
                filled := filled || col.attname::text;
                sets := sets || format('%1$I = d.%1$I, ', col.attname);
            END IF;
        END IF;
    END LOOP;
    EXECUTE format('UPDATE crm.customer k SET %s created_at = least(k.created_at, d.created_at)
                      FROM crm.customer d WHERE k.id = $1 AND d.id = $2', sets)
        USING keep, duplicate;

    INSERT INTO crm.customer_merge (kept_id, merged_id, moved, filled, merged_row)
    VALUES (keep, duplicate, moved, filled, dup_row);
    DELETE FROM crm.customer WHERE id = duplicate;

    RETURN jsonb_build_object('kept', keep, 'merged', duplicate, 'moved', moved, 'filled', to_jsonb(filled));
END
$$;
COMMENT ON FUNCTION crm.merge_customers(bigint, bigint) IS 'merges duplicate into keep: moves every referencing row (purchases, interactions, identities and any table with a foreign key to crm.customer), fills keep''s empty fields, logs the merge in crm.customer_merge and deletes the duplicate, all in one transaction';
