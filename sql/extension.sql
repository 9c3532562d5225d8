-- DROP EXTENSION removes every object; CREATE EXTENSION brings it all back.
-- (Counts go into psql variables, so the check itself adds no catalog rows.)
SELECT (SELECT count(*) FROM pg_class) AS n_class, (SELECT count(*) FROM pg_proc) AS n_proc,
       (SELECT count(*) FROM pg_type) AS n_type, (SELECT count(*) FROM pg_operator) AS n_operator,
       (SELECT count(*) FROM pg_opclass) AS n_opclass, (SELECT count(*) FROM pg_opfamily) AS n_opfamily,
       (SELECT count(*) FROM pg_cast) AS n_cast, (SELECT count(*) FROM pg_trigger) AS n_trigger,
       (SELECT count(*) FROM pg_constraint) AS n_constraint, (SELECT count(*) FROM pg_depend) AS n_depend,
       (SELECT count(*) FROM pg_description) AS n_description, (SELECT count(*) FROM pg_namespace) AS n_namespace
\gset

DROP EXTENSION crm;
-- Nothing of the extension is left: no object in schema crm, no cast or operator on its types.
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace) AS relations,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'crm'::regnamespace) AS functions,
       (SELECT count(*) FROM pg_type WHERE typnamespace = 'crm'::regnamespace) AS types,
       (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'crm'::regnamespace) AS operators,
       (SELECT count(*) FROM pg_opfamily WHERE opfnamespace = 'crm'::regnamespace) AS opfamilies,
       (SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.oid = refobjid)) AS orphan_members;
-- The empty schema that CREATE EXTENSION made stays, as PostgreSQL does for a control file's schema.
SELECT nspname FROM pg_namespace WHERE nspname = 'crm';

CREATE EXTENSION crm;
SELECT extversion, extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'crm';

-- Every catalog holds exactly as many rows as before the drop.
SELECT (SELECT count(*) FROM pg_class) = :n_class AS class,
       (SELECT count(*) FROM pg_proc) = :n_proc AS proc,
       (SELECT count(*) FROM pg_type) = :n_type AS type,
       (SELECT count(*) FROM pg_operator) = :n_operator AS operator,
       (SELECT count(*) FROM pg_opclass) = :n_opclass AS opclass,
       (SELECT count(*) FROM pg_opfamily) = :n_opfamily AS opfamily,
       (SELECT count(*) FROM pg_cast) = :n_cast AS "cast",
       (SELECT count(*) FROM pg_trigger) = :n_trigger AS trigger,
       (SELECT count(*) FROM pg_constraint) = :n_constraint AS "constraint",
       (SELECT count(*) FROM pg_depend) = :n_depend AS depend,
       (SELECT count(*) FROM pg_description) = :n_description AS description,
       (SELECT count(*) FROM pg_namespace) = :n_namespace AS namespace;
