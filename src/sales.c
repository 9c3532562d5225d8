/*
 * sales.c: support for the triggers of the sales, marketing and service
 * tables.  crm.importing() tells a trigger whether the row it sees is part of
 * a bulk import of existing history (pg_restore, COPY FROM by the table's
 * owner), the same rule the workflow engine applies: such rows keep the
 * values they carry, and derived state (balances, assignments) is not moved
 * a second time.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(crm_importing);
/* Whether the current statement is a COPY FROM into a table the user owns. */
Datum
crm_importing(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY)
		PG_RETURN_BOOL(false);
	if (!OidIsValid(get_rel_relkind(relid)))
		PG_RETURN_BOOL(false);
#if PG_VERSION_NUM >= 160000
	PG_RETURN_BOOL(object_ownercheck(RelationRelationId, relid, GetUserId()));
#else
	PG_RETURN_BOOL(pg_class_ownercheck(relid, GetUserId()));
#endif
}
