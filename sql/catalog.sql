-- Catalog checks over every object of the extension (runs after all modules)

-- Every object of the extension has a comment.
SELECT pg_describe_object(d.classid, d.objid, 0) AS without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm')
   AND d.deptype = 'e'
   AND d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass, 'pg_operator'::regclass)
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL
   AND NOT (d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class WHERE oid = d.objid) IN ('S', 'i'))
   AND NOT (d.classid = 'pg_type'::regclass AND EXISTS (SELECT 1 FROM pg_type t WHERE t.oid = d.objid AND (t.typrelid <> 0 OR t.typelem <> 0)))
 ORDER BY 1;

-- Every column of every table and view has a comment.
SELECT c.relname, a.attname AS column_without_comment
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

-- Every table is registered for pg_dump.
SELECT c.relname AS table_not_dumped
  FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.oid <> ALL (coalesce((SELECT extconfig FROM pg_extension WHERE extname = 'crm'), '{}'))
 ORDER BY 1;

-- Functions not marked parallel safe: only those that write or must run in the leader.
SELECT p.oid::regprocedure AS not_parallel_safe, p.provolatile AS volatility, p.proparallel AS parallel
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND p.proparallel <> 's'
 ORDER BY p.oid::regprocedure::text;

-- SECURITY DEFINER functions pin their search_path.
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig::text LIKE '%search_path=%', false);

-- Operator classes pass the access methods' own validation.
SELECT opc.opcname, am.amname, amvalidate(opc.oid) AS valid
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
 WHERE opc.opcnamespace = 'crm'::regnamespace
 ORDER BY 1, 2;
