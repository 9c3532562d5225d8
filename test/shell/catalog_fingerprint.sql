-- A text fingerprint of everything extension crm defines: one line per fact,
-- sorted, so that two databases can be compared with diff.  Used by
-- upgrade.sh to check that every update path ends where a fresh install does.
\pset format unaligned
\pset tuples_only on
WITH member AS (
    SELECT d.classid, d.objid, d.objsubid
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'crm' AND d.deptype = 'e'
), rel AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
), facts AS (
    -- every member object, and its comment
    SELECT 'object ' || pg_describe_object(classid, objid, objsubid)
           || coalesce(' -- ' || obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)), '')
    FROM member
    UNION ALL
    -- functions: full definition (volatility, strictness, parallel safety, security, body)
    SELECT 'function ' || p.oid::regprocedure || ' ' || p.prokind::text || ' ' || p.provolatile::text || ' ' || p.proparallel::text
           || ' strict=' || p.proisstrict || ' secdef=' || p.prosecdef || ' cost=' || p.procost || ' rows=' || p.prorows
           || ' config=' || coalesce(p.proconfig::text, '') || ' acl=' || coalesce(p.proacl::text, '')
           || ' returns=' || pg_get_function_result(p.oid) || ' args=' || pg_get_function_arguments(p.oid)
           || ' src=' || md5(p.prosrc) || ' bin=' || coalesce(p.probin, '')
    FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' ' || a.aggkind::text || ' sfunc=' || a.aggtransfn::regproc
           || ' final=' || a.aggfinalfn::regproc || ' combine=' || a.aggcombinefn::regproc
           || ' ser=' || a.aggserialfn::regproc || ' deser=' || a.aggdeserialfn::regproc
           || ' stype=' || a.aggtranstype::regtype || ' init=' || coalesce(a.agginitval, '<null>')
           || ' modify=' || a.aggfinalmodify::text
    FROM pg_aggregate a JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = a.aggfnoid
    UNION ALL
    -- columns of tables, views and composite types, in order, with their comments
    SELECT 'column ' || r.relname || '.' || row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum) || ' '
           || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
           || coalesce(' -- ' || col_description(r.oid, a.attnum), '')
    FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'relation ' || r.relname || ' ' || r.relkind::text || ' acl=' || coalesce(c.relacl::text, '')
           || ' rls=' || c.relrowsecurity || ' options=' || coalesce(c.reloptions::text, '')
    FROM rel r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'constraint ' || r.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM rel r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM rel r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'view ' || r.relname || ' ' || pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'policy ' || pol.polname || ' on ' || r.relname || ' ' || pol.polcmd::text || ' ' || pol.polpermissive
           || ' roles=' || pol.polroles::text || ' using=' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || ' check=' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
    FROM rel r JOIN pg_policy pol ON pol.polrelid = r.oid
    UNION ALL
    SELECT 'enum ' || t.typname || ' ' || string_agg(en.enumlabel, ',' ORDER BY en.enumsortorder)
    FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    JOIN pg_enum en ON en.enumtypid = t.oid GROUP BY t.typname
    UNION ALL
    SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' len=' || t.typlen || ' byval=' || t.typbyval
           || ' align=' || t.typalign::text || ' storage=' || t.typstorage::text || ' in=' || t.typinput::regproc
           || ' out=' || t.typoutput::regproc || ' recv=' || t.typreceive::regproc || ' send=' || t.typsend::regproc
    FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT 'opclass ' || oc.opcname || ' ' || am.amname || ' ' || oc.opcintype::regtype || ' default=' || oc.opcdefault
           || ' ops=' || coalesce((SELECT string_agg(ao.amopstrategy || ':' || ao.amopopr::regoperator, ',' ORDER BY ao.amopstrategy, ao.amopopr::regoperator::text)
                                     FROM pg_amop ao WHERE ao.amopfamily = oc.opcfamily), '')
           || ' procs=' || coalesce((SELECT string_agg(ap.amprocnum || ':' || ap.amproc::regprocedure, ',' ORDER BY ap.amprocnum, ap.amproc::regprocedure::text)
                                      FROM pg_amproc ap WHERE ap.amprocfamily = oc.opcfamily), '')
    FROM pg_opclass oc JOIN member m ON m.classid = 'pg_opclass'::regclass AND m.objid = oc.oid
    JOIN pg_am am ON am.oid = oc.opcmethod
    UNION ALL
    SELECT 'operator ' || o.oid::regoperator || ' proc=' || o.oprcode::regproc || ' com=' || o.oprcom::regoperator
           || ' neg=' || o.oprnegate::regoperator || ' rest=' || o.oprrest::regproc || ' join=' || o.oprjoin::regproc
           || ' hashes=' || o.oprcanhash || ' merges=' || o.oprcanmerge
    FROM pg_operator o JOIN member m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
    UNION ALL
    SELECT 'cast ' || format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL) || ' '
           || c.castcontext::text || ' ' || c.castmethod::text || coalesce(' ' || nullif(c.castfunc, 0)::regprocedure::text, '')
    FROM pg_cast c JOIN member m ON m.classid = 'pg_cast'::regclass AND m.objid = c.oid
    UNION ALL
    -- tables registered for pg_dump, with their filters
    SELECT 'dump ' || cfg.rel::regclass || ' ' || coalesce(cfg.cond, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS cfg(rel, cond) WHERE e.extname = 'crm'
)
SELECT * FROM facts ORDER BY 1;
