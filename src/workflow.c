/*
 * workflow.c: crm.workflow_guard(), the one workflow engine.  A BEFORE INSERT
 * OR UPDATE row trigger that validates status changes against
 * crm.workflow_transition, stamps timestamps, computes SLA deadlines from
 * crm.sla_policy and the business calendars of sla.c, stops and resumes the
 * SLA clock around the pause status, writes an event row per transition and
 * assignment, and sends a NOTIFY.
 *
 * Trigger arguments: the workflow name, then optional key=value settings
 * (column names where the table differs from crm.complaint, the event table
 * and the column of its rows that holds the row's id, the notification
 * channel, the status names with a meaning).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "access/table.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/pquery.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "crm.h"
#include "sla.h"

/* SQLSTATE of a transition the workflow does not allow. */
#define ERRCODE_CRM_INVALID_TRANSITION MAKE_SQLSTATE('W','F','0','0','1')
/* SQLSTATE of an allowed transition whose condition is not met. */
#define ERRCODE_CRM_TRANSITION_CONDITION MAKE_SQLSTATE('W','F','0','0','2')

/* Columns the engine knows, in the order of column_keys[]. */
typedef enum WfCol
{
	COL_ID,
	COL_STATUS,
	COL_PRIORITY,
	COL_CATEGORY,
	COL_ASSIGNEE,
	COL_NOTE,
	COL_CREATED,
	COL_FIRST_RESPONSE,
	COL_RESOLVED,
	COL_CLOSED,
	COL_RESPONSE_DUE,
	COL_RESOLUTION_DUE,
	COL_PAUSED_AT,
	COL_PAUSED,
	COL_CONFIRMED,
	NCOLS
} WfCol;

static const char *const column_keys[NCOLS] = {
	"id", "status", "priority", "category", "assignee", "note", "created_at",
	"first_response_at", "resolved_at", "closed_at", "response_due",
	"resolution_due", "paused_at", "paused", "confirmed"
};
static const char *const column_defaults[NCOLS] = {
	"id", "status", "priority", "category", "assignee", "status_note", "created_at",
	"first_response_at", "resolved_at", "closed_at", "response_due",
	"resolution_due", "sla_paused_at", "sla_paused", "customer_confirmed"
};

typedef struct WfTransition
{
	char	   *from;			/* NULL: an initial status */
	char	   *to;
	char	   *role;			/* NULL: anyone */
	bool		confirm;		/* needs the confirmed column true */
} WfTransition;

typedef struct WfWorkflow
{
	char	   *name;
	int			n;
	WfTransition *t;
	struct WfWorkflow *next;
} WfWorkflow;

typedef struct WfPolicy
{
	char	   *priority;
	bool		has_response;
	bool		has_resolution;
	int64		response;
	int64		resolution;
	char	   *calendar;		/* NULL: clock time */
	struct WfPolicy *next;
} WfPolicy;

typedef struct WfCategory
{
	char	   *name;
	char	   *priority;
	struct WfCategory *next;
} WfCategory;

/* A trigger's settings, resolved against its table. */
typedef struct WfTrigger
{
	Oid			tgoid;
	Oid			relid;
	char	   *workflow;
	AttrNumber	att[NCOLS];		/* 0: the table has no such column */
	Oid			typ[NCOLS];
	Oid			infunc[NCOLS];
	Oid			ioparam[NCOLS];
	char	   *events;			/* quoted event table, NULL: none */
	Oid			events_relid;
	char	   *event_key;		/* column of the event table holding the row id */
	char	   *notify;			/* channel, NULL: none */
	char	   *pause_status;
	char	   *resolved_status;
	char	   *closed_status;
	char	   *reopened_status;
	char	   *default_priority;
	struct WfTrigger *next;
} WfTrigger;

/*
 * How to write into an event table.  A plain table whose six event columns
 * have the expected types takes the direct path: the executor's simple
 * relation insert (constraints, indexes, triggers, foreign keys all apply),
 * without planning or running an INSERT statement.  Other tables (partitioned,
 * or columns of other types) get a saved SPI INSERT.
 */
typedef struct WfEventTable
{
	Oid			relid;
	char	   *key;			/* name of the id column (complaint_id) */
	bool		direct;
	AttrNumber	att[6];			/* id, from, to, actor, at, note */
	int			ndefaults;
	AttrNumber *defatt;			/* other columns with a default */
	Expr	  **defexpr;
	struct WfEventTable *next;
} WfEventTable;

static WfEventTable *event_tables = NULL;

/* Saved event INSERT plans, one per event table; kept for the backend's life. */
typedef struct WfEventPlan
{
	char	   *table;
	char	   *key;
	SPIPlanPtr	plan;
	struct WfEventPlan *next;
} WfEventPlan;

static uint64 wf_generation = 0;
static WfWorkflow *workflows = NULL;
static WfTrigger *triggers = NULL;
static WfPolicy *policies = NULL;
static WfCategory *categories = NULL;
static bool policies_loaded = false;
static WfEventPlan *event_plans = NULL;

/* Returns the cache context, forgetting our pointers if it was dropped. */
static MemoryContext
WfCache(void)
{
	uint64		gen;
	MemoryContext cxt = crm_cache_context(&gen);

	if (gen != wf_generation)
	{
		workflows = NULL;
		triggers = NULL;
		policies = NULL;
		categories = NULL;
		event_tables = NULL;
		policies_loaded = false;
		wf_generation = gen;
	}
	return cxt;
}

/* Copies column i of an SPI result row as a C string into cxt, or NULL. */
static char *
SpiString(int row, int col, MemoryContext cxt)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/* Loads the transitions of one workflow. */
static WfWorkflow *
LoadWorkflow(const char *name, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	WfWorkflow *wf;
	uint64		i;
	int			ret;

	args[0] = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT from_status, to_status, role, requires_confirmation "
								"FROM crm.workflow_transition WHERE workflow OPERATOR(pg_catalog.=) $1 "
								"ORDER BY from_status NULLS FIRST, to_status",
								1, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading crm.workflow_transition failed: %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("workflow \"%s\" does not exist", name),
				 errdetail("crm.workflow_transition has no row for it."),
				 errhint("Insert its transitions into crm.workflow_transition.")));
	wf = MemoryContextAllocZero(cxt, sizeof(WfWorkflow));
	wf->name = MemoryContextStrdup(cxt, name);
	wf->n = (int) SPI_processed;
	wf->t = MemoryContextAllocZero(cxt, sizeof(WfTransition) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *c = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);

		wf->t[i].from = SpiString(i, 1, cxt);
		wf->t[i].to = SpiString(i, 2, cxt);
		wf->t[i].role = SpiString(i, 3, cxt);
		wf->t[i].confirm = (c != NULL && c[0] == 't');
	}
	SPI_finish();
	return wf;
}

/* The cached workflow of that name. */
static WfWorkflow *
GetWorkflow(const char *name)
{
	MemoryContext cxt = WfCache();
	WfWorkflow *wf;

	for (wf = workflows; wf != NULL; wf = wf->next)
		if (strcmp(wf->name, name) == 0)
			return wf;
	wf = LoadWorkflow(name, cxt);
	wf->next = workflows;
	workflows = wf;
	return wf;
}

/* Loads every SLA policy and complaint category. */
static void
LoadPolicies(MemoryContext cxt)
{
	uint64		i;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute("SELECT priority, first_response, resolution, calendar FROM crm.sla_policy",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading crm.sla_policy failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		WfPolicy   *p = MemoryContextAllocZero(cxt, sizeof(WfPolicy));
		bool		isnull;
		Datum		d;

		p->priority = SpiString(i, 1, cxt);
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
		{
			p->has_response = true;
			p->response = crm_interval_usecs(DatumGetIntervalP(d));
		}
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
		{
			p->has_resolution = true;
			p->resolution = crm_interval_usecs(DatumGetIntervalP(d));
		}
		p->calendar = SpiString(i, 4, cxt);
		p->next = policies;
		policies = p;
	}
	ret = SPI_execute("SELECT category, default_priority FROM crm.complaint_category", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading crm.complaint_category failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		WfCategory *c = MemoryContextAllocZero(cxt, sizeof(WfCategory));

		c->name = SpiString(i, 1, cxt);
		c->priority = SpiString(i, 2, cxt);
		c->next = categories;
		categories = c;
	}
	SPI_finish();
	policies_loaded = true;
}

/* The SLA policy of a priority (error if there is none). */
static WfPolicy *
GetPolicy(const char *priority)
{
	MemoryContext cxt = WfCache();
	WfPolicy   *p;

	if (!policies_loaded)
		LoadPolicies(cxt);
	for (p = policies; p != NULL; p = p->next)
		if (strcmp(p->priority, priority) == 0)
			return p;
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("no SLA policy for priority \"%s\"", priority),
			 errhint("Use a priority listed in crm.sla_policy, or add a policy for it.")));
	return NULL;
}

/* The default priority of a complaint category, or NULL. */
static const char *
CategoryPriority(const char *category)
{
	MemoryContext cxt = WfCache();
	WfCategory *c;

	if (!policies_loaded)
		LoadPolicies(cxt);
	for (c = categories; c != NULL; c = c->next)
		if (strcmp(c->name, category) == 0)
			return c->priority;
	return NULL;
}

/* Turns an event table name into a quoted qualified name (it must exist). */
static char *
QuoteEventTable(const char *name, Oid *relidp)
{
	List	   *names = stringToQualifiedNameList(name);
	RangeVar   *rv = makeRangeVarFromNameList(names);
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("event table \"%s\" of crm.workflow_guard does not exist", name),
				 errhint("Create it with the columns of crm.complaint_event, or pass events=none.")));
	*relidp = relid;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* Checks that column k of a trigger's table has a type the engine can use. */
static void
CheckColumnType(WfTrigger *tg, int k, Relation rel)
{
	Oid			t = tg->typ[k];
	bool		ok;

	switch (k)
	{
		case COL_ID:
			ok = (t == INT8OID || t == INT4OID);
			break;
		case COL_CREATED:
		case COL_FIRST_RESPONSE:
		case COL_RESOLVED:
		case COL_CLOSED:
		case COL_RESPONSE_DUE:
		case COL_RESOLUTION_DUE:
		case COL_PAUSED_AT:
			ok = (t == TIMESTAMPTZOID);
			break;
		case COL_PAUSED:
			ok = (t == INTERVALOID);
			break;
		case COL_CONFIRMED:
			ok = (t == BOOLOID);
			break;
		default:
			ok = true;			/* text-like: read and written through I/O */
			break;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" has the wrong type for crm.workflow_guard",
						NameStr(TupleDescAttr(RelationGetDescr(rel), tg->att[k] - 1)->attname),
						RelationGetRelationName(rel)),
				 errdetail("The %s column must be %s.", column_keys[k],
						   k == COL_ID ? "bigint or integer" :
						   k == COL_PAUSED ? "interval" :
						   k == COL_CONFIRMED ? "boolean" : "timestamp with time zone"),
				 errhint("Map it to another column with the trigger argument '%s=column', or to none.",
						 column_keys[k])));
}

/* Parses a trigger's arguments and resolves its columns. */
static WfTrigger *
GetTrigger(TriggerData *td)
{
	MemoryContext cxt = WfCache();
	Trigger    *trig = td->tg_trigger;
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	const char *colname[NCOLS];
	bool		explicit_col[NCOLS];
	const char *events = NULL;
	const char *notify = "crm_complaint";
	const char *event_key = "complaint_id";
	WfTrigger  *tg;
	MemoryContext old;
	int			i,
				k;

	for (tg = triggers; tg != NULL; tg = tg->next)
		if (tg->tgoid == trig->tgoid)
			return tg;

	if (trig->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.workflow_guard needs the workflow name as its first argument"),
				 errhint("Create the trigger with EXECUTE FUNCTION crm.workflow_guard('complaint').")));

	old = MemoryContextSwitchTo(cxt);
	tg = palloc0(sizeof(WfTrigger));
	tg->tgoid = trig->tgoid;
	tg->relid = RelationGetRelid(rel);
	tg->workflow = pstrdup(trig->tgargs[0]);
	tg->pause_status = "waiting_customer";
	tg->resolved_status = "resolved";
	tg->closed_status = "closed";
	tg->reopened_status = "reopened";
	tg->default_priority = "normal";
	for (k = 0; k < NCOLS; k++)
	{
		colname[k] = column_defaults[k];
		explicit_col[k] = false;
	}
	if (strcmp(RelationGetRelationName(rel), "complaint") == 0 &&
		strcmp(get_namespace_name(RelationGetNamespace(rel)), "crm") == 0)
		events = "crm.complaint_event";

	for (i = 1; i < trig->tgnargs; i++)
	{
		const char *arg = trig->tgargs[i];
		const char *eq = strchr(arg, '=');
		char	   *key;
		char	   *val;
		bool		none;

		if (eq == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid crm.workflow_guard argument \"%s\"", arg),
					 errdetail("Arguments after the workflow name are key=value settings."),
					 errhint("For example 'status=state' or 'events=myschema.ticket_event'.")));
		key = pnstrdup(arg, eq - arg);
		val = pstrdup(eq + 1);
		none = (val[0] == '\0' || strcmp(val, "none") == 0);
		for (k = 0; k < NCOLS; k++)
			if (strcmp(key, column_keys[k]) == 0)
				break;
		if (k < NCOLS)
		{
			colname[k] = none ? NULL : val;
			explicit_col[k] = true;
		}
		else if (strcmp(key, "events") == 0)
			events = none ? NULL : val;
		else if (strcmp(key, "notify") == 0)
			notify = none ? NULL : val;
		else if (strcmp(key, "event_key") == 0 && !none)
			event_key = val;
		else if (strcmp(key, "pause_status") == 0)
			tg->pause_status = none ? NULL : val;
		else if (strcmp(key, "resolved_status") == 0)
			tg->resolved_status = none ? NULL : val;
		else if (strcmp(key, "closed_status") == 0)
			tg->closed_status = none ? NULL : val;
		else if (strcmp(key, "reopened_status") == 0)
			tg->reopened_status = none ? NULL : val;
		else if (strcmp(key, "default_priority") == 0)
			tg->default_priority = none ? NULL : val;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown crm.workflow_guard setting \"%s\"", key),
					 errhint("Settings are the column keys (id, status, priority, category, assignee, note, created_at, first_response_at, resolved_at, closed_at, response_due, resolution_due, paused_at, paused, confirmed), events, event_key, notify, pause_status, resolved_status, closed_status, reopened_status and default_priority.")));
	}

	for (k = 0; k < NCOLS; k++)
	{
		AttrNumber	a = colname[k] ? SPI_fnumber(desc, colname[k]) : SPI_ERROR_NOATTRIBUTE;

		if (a <= 0)
		{
			if (explicit_col[k] && colname[k] != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of table \"%s\" does not exist", colname[k],
								RelationGetRelationName(rel)),
						 errhint("Check the '%s=' argument of the crm.workflow_guard trigger.", column_keys[k])));
			if (k == COL_STATUS)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("table \"%s\" has no status column", RelationGetRelationName(rel)),
						 errhint("Name it with the trigger argument 'status=column'.")));
			tg->att[k] = 0;
			continue;
		}
		tg->att[k] = a;
		tg->typ[k] = TupleDescAttr(desc, a - 1)->atttypid;
		CheckColumnType(tg, k, rel);
		getTypeInputInfo(tg->typ[k], &tg->infunc[k], &tg->ioparam[k]);
	}
	if (events != NULL && tg->att[COL_ID] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no id column for the event rows", RelationGetRelationName(rel)),
				 errhint("Name it with 'id=column', or pass events=none.")));
	tg->events = events ? QuoteEventTable(events, &tg->events_relid) : NULL;
	tg->event_key = pstrdup(event_key);
	tg->notify = notify ? pstrdup(notify) : NULL;
	MemoryContextSwitchTo(old);

	crm_cache_watch(tg->relid);
	tg->next = triggers;
	triggers = tg;
	return tg;
}

/* Per-row state: the new row's values and the replacements to make. */
typedef struct WfRow
{
	WfTrigger  *tg;
	const char *relname;
	HeapTuple	newtup;
	HeapTuple	oldtup;
	TupleDesc	desc;
	int			nrepl;
	int			replcols[NCOLS];
	Datum		replvals[NCOLS];
	bool		replnulls[NCOLS];
} WfRow;

/* Value of column k in tup (the new row unless old is set). */
static Datum
GetCol(WfRow *r, int k, bool old, bool *isnull)
{
	int			i;

	if (r->tg->att[k] == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (!old)
		for (i = 0; i < r->nrepl; i++)
			if (r->replcols[i] == r->tg->att[k])
			{
				*isnull = r->replnulls[i];
				return r->replvals[i];
			}
	return heap_getattr(old ? r->oldtup : r->newtup, r->tg->att[k], r->desc, isnull);
}

/* Value of a text-like column as a C string, or NULL. */
static char *
GetString(WfRow *r, int k, bool old)
{
	bool		isnull;
	Datum		d = GetCol(r, k, old, &isnull);
	Oid			out;
	bool		varlena;

	if (isnull)
		return NULL;
	if (r->tg->typ[k] == TEXTOID || r->tg->typ[k] == VARCHAROID)
		return TextDatumGetCString(d);
	getTypeOutputInfo(r->tg->typ[k], &out, &varlena);
	return OidOutputFunctionCall(out, d);
}

static TimestampTz
GetTimestamp(WfRow *r, int k, bool old, bool *isnull)
{
	return DatumGetTimestampTz(GetCol(r, k, old, isnull));
}

/* Sets column k of the new row (ignored when the table has no such column). */
static void
SetCol(WfRow *r, int k, Datum value, bool isnull)
{
	int			i;

	if (r->tg->att[k] == 0)
		return;
	for (i = 0; i < r->nrepl; i++)
		if (r->replcols[i] == r->tg->att[k])
			break;
	if (i == r->nrepl)
		r->nrepl++;
	r->replcols[i] = r->tg->att[k];
	r->replvals[i] = value;
	r->replnulls[i] = isnull;
}

static void
SetString(WfRow *r, int k, const char *value)
{
	if (value == NULL)
		SetCol(r, k, (Datum) 0, true);
	else
		SetCol(r, k, OidInputFunctionCall(r->tg->infunc[k], unconstify(char *, value),
										  r->tg->ioparam[k], -1), false);
}

/* Keeps the old value of an engine-owned column on update. */
static void
KeepOld(WfRow *r, int k)
{
	bool		isnull;
	Datum		d;

	if (r->tg->att[k] == 0)
		return;
	d = heap_getattr(r->oldtup, r->tg->att[k], r->desc, &isnull);
	SetCol(r, k, d, isnull);
}

/* Stamps column k with now unless the statement set it to a new value. */
static void
Stamp(WfRow *r, int k, bool insert, TimestampTz now)
{
	bool		newnull,
				oldnull = true;
	TimestampTz nv = GetTimestamp(r, k, false, &newnull);

	if (!newnull && !insert)
	{
		TimestampTz ov = GetTimestamp(r, k, true, &oldnull);

		if (!oldnull && ov == nv)
			newnull = true;		/* unchanged: stamp it */
	}
	if (newnull)
		SetCol(r, k, TimestampTzGetDatum(now), false);
}

/* Lists the statuses reachable from a status, for the error hint. */
static char *
AllowedNext(WfWorkflow *wf, const char *from)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < wf->n; i++)
		if ((from == NULL && wf->t[i].from == NULL) ||
			(from != NULL && wf->t[i].from != NULL && strcmp(wf->t[i].from, from) == 0))
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", wf->t[i].to);
	return buf.data;
}

/* Finds the transition from -> to, or raises the workflow's error. */
static WfTransition *
CheckTransition(WfWorkflow *wf, WfRow *r, const char *from, const char *to)
{
	int			i;
	char	   *allowed;

	for (i = 0; i < wf->n; i++)
	{
		WfTransition *t = &wf->t[i];

		if (strcmp(t->to, to) != 0)
			continue;
		if (from == NULL ? t->from != NULL : (t->from == NULL || strcmp(t->from, from) != 0))
			continue;
		if (t->role != NULL)
		{
			Oid			roleid = get_role_oid(t->role, true);

			if (!OidIsValid(roleid) || !has_privs_of_role(GetUserId(), roleid))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to move from \"%s\" to \"%s\" in workflow \"%s\"",
								from ? from : "(new)", to, wf->name),
						 errdetail("Only members of role \"%s\" may make this move.", t->role),
						 errhint("Ask a member of \"%s\" to make it.", t->role)));
		}
		if (t->confirm)
		{
			bool		isnull;
			Datum		d = GetCol(r, COL_CONFIRMED, false, &isnull);

			if (isnull || !DatumGetBool(d))
				ereport(ERROR,
						(errcode(ERRCODE_CRM_TRANSITION_CONDITION),
						 errmsg("cannot move from \"%s\" to \"%s\" before the customer confirmed the resolution",
								from ? from : "(new)", to),
						 errdetail("The transition needs %s to be true.",
								   r->tg->att[COL_CONFIRMED] ? column_defaults[COL_CONFIRMED] : "a confirmation column"),
						 errhint("Set the confirmation in the same UPDATE once the customer has confirmed.")));
		}
		return t;
	}
	allowed = AllowedNext(wf, from);
	if (from == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CRM_INVALID_TRANSITION),
				 errmsg("invalid initial status \"%s\" in workflow \"%s\"", to, wf->name),
				 errdetail("A new row must start in an initial status of the workflow."),
				 errhint("Allowed initial statuses: %s.", allowed[0] ? allowed : "none")));
	if (allowed[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_CRM_INVALID_TRANSITION),
				 errmsg("invalid transition from \"%s\" to \"%s\" in workflow \"%s\"", from, to, wf->name),
				 errdetail("\"%s\" is a final status.", from),
				 errhint("No move is allowed from \"%s\".", from)));
	ereport(ERROR,
			(errcode(ERRCODE_CRM_INVALID_TRANSITION),
			 errmsg("invalid transition from \"%s\" to \"%s\" in workflow \"%s\"", from, to, wf->name),
			 errdetail("crm.workflow_transition has no such move."),
			 errhint("Allowed next statuses from \"%s\": %s.", from, allowed)));
	return NULL;
}

/* Whether a status appears anywhere in the workflow's transitions. */
static bool
StatusKnown(WfWorkflow *wf, const char *status)
{
	int			i;

	for (i = 0; i < wf->n; i++)
		if (strcmp(wf->t[i].to, status) == 0 ||
			(wf->t[i].from != NULL && strcmp(wf->t[i].from, status) == 0))
			return true;
	return false;
}

/*
 * Whether an inserted row is an import of existing history: it arrives through
 * COPY FROM (as pg_restore and bulk loads send rows) from a role that owns the
 * table.  Such rows keep the status, timestamps and deadlines they carry; the
 * engine fills only what is missing and records no event (the history comes
 * with them).  Everyone else's rows, COPY or not, go through the workflow.
 * The triggers of other modules apply the same rule through crm.importing().
 */
bool
crm_importing_history(Oid relid)
{
	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY)
		return false;
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	return pg_class_ownercheck(relid, GetUserId());
#endif
}

PG_FUNCTION_INFO_V1(crm_importing);
/* crm.importing(regclass): crm_importing_history() for PL/pgSQL triggers. */
Datum
crm_importing(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (!OidIsValid(get_rel_relkind(relid)))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(crm_importing_history(relid));
}

/* The only initial status of a workflow, or NULL if there are several. */
static const char *
InitialStatus(WfWorkflow *wf)
{
	const char *found = NULL;
	int			i;

	for (i = 0; i < wf->n; i++)
		if (wf->t[i].from == NULL)
		{
			if (found != NULL && strcmp(found, wf->t[i].to) != 0)
				return NULL;
			found = wf->t[i].to;
		}
	return found;
}

/* Computes both deadlines from created_at, the policy and the paused time. */
/* Whether an imported row lacks both deadlines (then the engine computes them). */
static bool
MissingDeadlines(WfRow *r)
{
	bool		resp_null = true,
				res_null = true;

	if (r->tg->att[COL_RESPONSE_DUE] != 0)
		GetTimestamp(r, COL_RESPONSE_DUE, false, &resp_null);
	if (r->tg->att[COL_RESOLUTION_DUE] != 0)
		GetTimestamp(r, COL_RESOLUTION_DUE, false, &res_null);
	return resp_null && res_null;
}

static void
SetDeadlines(WfRow *r, const char *priority, TimestampTz now)
{
	WfPolicy   *p;
	CrmCalendar *cal;
	bool		isnull;
	TimestampTz created;
	int64		paused = 0;

	if (r->tg->att[COL_RESPONSE_DUE] == 0 && r->tg->att[COL_RESOLUTION_DUE] == 0)
		return;
	if (priority == NULL)
	{
		SetCol(r, COL_RESPONSE_DUE, (Datum) 0, true);
		SetCol(r, COL_RESOLUTION_DUE, (Datum) 0, true);
		return;
	}
	p = GetPolicy(priority);
	cal = p->calendar ? crm_calendar_get(p->calendar) : NULL;
	created = GetTimestamp(r, COL_CREATED, false, &isnull);
	if (isnull)
		created = now;
	{
		Datum		d = GetCol(r, COL_PAUSED, false, &isnull);

		if (!isnull)
			paused = crm_interval_usecs(DatumGetIntervalP(d));
	}
	if (p->has_response)
		SetCol(r, COL_RESPONSE_DUE, TimestampTzGetDatum(crm_business_add(created, p->response, cal)), false);
	else
		SetCol(r, COL_RESPONSE_DUE, (Datum) 0, true);
	if (p->has_resolution)
		SetCol(r, COL_RESOLUTION_DUE,
			   TimestampTzGetDatum(crm_business_add(created, p->resolution + paused, cal)), false);
	else
		SetCol(r, COL_RESOLUTION_DUE, (Datum) 0, true);
}

/* The saved INSERT plan for an event table. */
static SPIPlanPtr
EventPlan(const char *table, const char *key)
{
	WfEventPlan *ep;
	Oid			argtypes[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	char	   *sql;
	SPIPlanPtr	plan;

	for (ep = event_plans; ep != NULL; ep = ep->next)
		if (strcmp(ep->table, table) == 0 && strcmp(ep->key, key) == 0)
			return ep->plan;
	sql = psprintf("INSERT INTO %s (%s, from_status, to_status, actor, at, note) "
				   "VALUES ($1, $2, $3, CURRENT_USER, pg_catalog.now(), $4)", table, quote_identifier(key));
	plan = SPI_prepare(sql, 4, argtypes);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot write events into %s: %s", table, SPI_result_code_string(SPI_result)),
				 errhint("An event table needs the columns %s, from_status, to_status, actor, at and note.", key)));
	SPI_keepplan(plan);
	ep = MemoryContextAllocZero(TopMemoryContext, sizeof(WfEventPlan));
	ep->table = MemoryContextStrdup(TopMemoryContext, table);
	ep->key = MemoryContextStrdup(TopMemoryContext, key);
	ep->plan = plan;
	ep->next = event_plans;
	event_plans = ep;
	return plan;
}

/* Describes an event table for the direct path (cached until it changes). */
static WfEventTable *
GetEventTable(Oid relid, const char *key)
{
	const char *const names[6] = {key, "from_status", "to_status", "actor", "at", "note"};
	static const Oid types[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	MemoryContext cxt = WfCache();
	MemoryContext old;
	WfEventTable *et;
	Relation	rel;
	TupleDesc	desc;
	int			i;

	for (et = event_tables; et != NULL; et = et->next)
		if (et->relid == relid && strcmp(et->key, key) == 0)
			return et;
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	old = MemoryContextSwitchTo(cxt);
	et = palloc0(sizeof(WfEventTable));
	et->relid = relid;
	et->key = pstrdup(key);
	et->direct = (rel->rd_rel->relkind == RELKIND_RELATION);
	for (i = 0; i < 6; i++)
	{
		et->att[i] = SPI_fnumber(desc, names[i]);
		if (et->att[i] <= 0 || TupleDescAttr(desc, et->att[i] - 1)->atttypid != types[i])
			et->direct = false;
	}
	if (et->direct)
	{
		et->defatt = palloc0(sizeof(AttrNumber) * desc->natts);
		et->defexpr = palloc0(sizeof(Expr *) * desc->natts);
		for (i = 1; i <= desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i - 1);
			Node	   *expr;
			int			k;

			if (att->attisdropped || att->attgenerated)
				continue;
			for (k = 0; k < 6 && et->att[k] != i; k++)
				;
			if (k < 6)
				continue;
			expr = build_column_default(rel, i);
			if (expr == NULL)
				continue;
			et->defatt[et->ndefaults] = i;
			et->defexpr[et->ndefaults] = (Expr *) copyObject(expr);
			et->ndefaults++;
		}
	}
	MemoryContextSwitchTo(old);
	table_close(rel, AccessShareLock);
	crm_cache_watch(relid);
	et->next = event_tables;
	event_tables = et;
	return et;
}

/*
 * Leaves out of an event insert the checks of a foreign key from the event
 * table's id column to the guarded table's id column, when the caller knows
 * the referenced row exists: an UPDATE that keeps the row's id.  That row
 * exists and the UPDATE holds its row lock until the transaction ends, so no
 * other transaction can delete it or change its id first (the same reasoning
 * as PostgreSQL's own RI_FKey_fk_upd_check_required).  Should a later
 * trigger or this transaction change or delete the row after all, the
 * key's checks on the referenced side still run (ON DELETE CASCADE, or NO
 * ACTION on the old key), so the constraint holds.  Inserted rows keep the
 * check: an INSERT can still end without its row (ON CONFLICT DO NOTHING,
 * another trigger returning NULL).
 */
static void
SkipRedundantKeyChecks(ResultRelInfo *rri, Relation rel, AttrNumber keyatt,
					   Oid source, AttrNumber source_att)
{
	TriggerDesc *td = rri->ri_TrigDesc;	/* InitResultRelInfo's own copy */
	List	   *skip = NIL;
	ListCell   *lc;
	int			i,
				n = 0;

	if (td == NULL || !td->trig_insert_after_row)
		return;
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);

		if (fk->confrelid == source && fk->nkeys == 1 &&
			fk->conkey[0] == keyatt && fk->confkey[0] == source_att)
			skip = lappend_oid(skip, fk->conoid);
	}
	if (skip == NIL)
		return;
	/* Drop those triggers from the copy, keeping the others in their order. */
	td->trig_insert_after_row = false;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (RI_FKey_trigger_type(t->tgfoid) == RI_TRIGGER_FK &&
			TRIGGER_FOR_INSERT(t->tgtype) && list_member_oid(skip, t->tgconstraint))
			continue;
		if (TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_AFTER(t->tgtype) && TRIGGER_FOR_INSERT(t->tgtype))
			td->trig_insert_after_row = true;
		if (n != i)
			td->triggers[n] = *t;
		n++;
	}
	td->numtriggers = n;
}

/*
 * Inserts one event row through the executor's simple insert.  source is
 * the guarded table and source_att its id column when the row with this id
 * is known to exist (see SkipRedundantKeyChecks), else InvalidOid.
 */
static void
WriteEventDirect(WfEventTable *et, int64 id, const char *from, const char *to, const char *note,
				 Oid source, AttrNumber source_att)
{
	Relation	rel = table_open(et->relid, RowExclusiveLock);
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot;
	ExprContext *econtext;
	MemoryContext old;
	int			i;

	rte->rtekind = RTE_RELATION;
	rte->relid = et->relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	if (OidIsValid(source))
		SkipRedundantKeyChecks(rri, rel, et->att[0], source, source_att);
	estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();
	ExecOpenIndices(rri, false);

	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsVirtual);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	econtext = GetPerTupleExprContext(estate);
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	for (i = 0; i < et->ndefaults; i++)
	{
		AttrNumber	a = et->defatt[i];

		if (IsA(et->defexpr[i], NextValueExpr))
		{
			/* identity column: the sequence directly, as the executor would */
			NextValueExpr *nv = (NextValueExpr *) et->defexpr[i];
			int64		v = nextval_internal(nv->seqid, false);

			if (nv->typeId == INT8OID)
				slot->tts_values[a - 1] = Int64GetDatum(v);
			else if (nv->typeId == INT4OID)
				slot->tts_values[a - 1] = Int32GetDatum((int32) v);
			else
				slot->tts_values[a - 1] = Int16GetDatum((int16) v);
			slot->tts_isnull[a - 1] = false;
		}
		else
		{
			ExprState  *es = ExecPrepareExpr(et->defexpr[i], estate);

			slot->tts_values[a - 1] = ExecEvalExpr(es, econtext, &slot->tts_isnull[a - 1]);
		}
	}
	slot->tts_values[et->att[0] - 1] = Int64GetDatum(id);
	slot->tts_isnull[et->att[0] - 1] = false;
	if (from != NULL)
	{
		slot->tts_values[et->att[1] - 1] = CStringGetTextDatum(from);
		slot->tts_isnull[et->att[1] - 1] = false;
	}
	if (to != NULL)
	{
		slot->tts_values[et->att[2] - 1] = CStringGetTextDatum(to);
		slot->tts_isnull[et->att[2] - 1] = false;
	}
	slot->tts_values[et->att[3] - 1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	slot->tts_isnull[et->att[3] - 1] = false;
	slot->tts_values[et->att[4] - 1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	slot->tts_isnull[et->att[4] - 1] = false;
	if (note != NULL)
	{
		slot->tts_values[et->att[5] - 1] = CStringGetTextDatum(note);
		slot->tts_isnull[et->att[5] - 1] = false;
	}
	MemoryContextSwitchTo(old);
	ExecStoreVirtualTuple(slot);

	ExecSimpleRelationInsert(rri, estate, slot);

	ExecCloseIndices(rri);
	AfterTriggerEndQuery(estate);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
}

/*
 * Inserts one event row.  row_kept: the guarded row exists with this id
 * before the statement and keeps it (an UPDATE that leaves the id alone).
 */
static void
WriteEvent(WfRow *r, int64 id, const char *from, const char *to, const char *note, bool row_kept)
{
	SPIPlanPtr	plan;
	Datum		vals[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			ret;
	WfEventTable *et = GetEventTable(r->tg->events_relid, r->tg->event_key);

	if (et->direct)
	{
		WriteEventDirect(et, id, from, to, note,
						 row_kept ? r->tg->relid : InvalidOid, r->tg->att[COL_ID]);
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = EventPlan(r->tg->events, r->tg->event_key);
	vals[0] = Int64GetDatum(id);
	vals[1] = from ? CStringGetTextDatum(from) : (Datum) 0;
	nulls[1] = from ? ' ' : 'n';
	vals[2] = to ? CStringGetTextDatum(to) : (Datum) 0;
	nulls[2] = to ? ' ' : 'n';
	vals[3] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[3] = note ? ' ' : 'n';
	ret = SPI_execute_plan(plan, vals, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "inserting into %s failed: %d", r->tg->events, ret);
	SPI_finish();
}

/* Sends the notification of a transition. */
static void
SendNotify(WfRow *r, bool has_id, int64 id, const char *from, const char *to, const char *priority)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"table\":");
	escape_json(&buf, r->relname);
	if (has_id)
		appendStringInfo(&buf, ",\"id\":" INT64_FORMAT, id);
	appendStringInfoString(&buf, ",\"from\":");
	if (from)
		escape_json(&buf, from);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"to\":");
	escape_json(&buf, to);
	appendStringInfoString(&buf, ",\"priority\":");
	if (priority)
		escape_json(&buf, priority);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');
	if (buf.len < 7900)
		Async_Notify(r->tg->notify, buf.data);
}

PG_FUNCTION_INFO_V1(workflow_guard);
/* The workflow engine: BEFORE INSERT OR UPDATE FOR EACH ROW trigger. */
Datum
workflow_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		insert;
	WfRow		r;
	WfWorkflow *wf;
	char	   *from = NULL;
	char	   *to;
	char	   *priority;
	char	   *note;
	bool		has_id = false;
	bool		id_kept = false;	/* an UPDATE that keeps the row's id */
	int64		id = 0;
	bool		transition;
	bool		assigned = false;
	bool		isnull;
	bool		import;
	Datum		d;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.workflow_guard() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.workflow_guard() must be a BEFORE INSERT OR UPDATE FOR EACH ROW trigger")));

	insert = TRIGGER_FIRED_BY_INSERT(td->tg_event);
	memset(&r, 0, sizeof(r));
	r.tg = GetTrigger(td);
	r.relname = RelationGetRelationName(td->tg_relation);
	r.desc = RelationGetDescr(td->tg_relation);
	r.newtup = insert ? td->tg_trigtuple : td->tg_newtuple;
	r.oldtup = insert ? NULL : td->tg_trigtuple;
	wf = GetWorkflow(r.tg->workflow);

	d = GetCol(&r, COL_ID, false, &isnull);
	if (!isnull)
	{
		has_id = true;
		id = r.tg->typ[COL_ID] == INT8OID ? DatumGetInt64(d) : (int64) DatumGetInt32(d);
		if (!insert)
		{
			Datum		od = GetCol(&r, COL_ID, true, &isnull);

			id_kept = !isnull &&
				(r.tg->typ[COL_ID] == INT8OID ? DatumGetInt64(od) : (int64) DatumGetInt32(od)) == id;
		}
	}
	note = GetString(&r, COL_NOTE, false);
	if (note != NULL)
		SetCol(&r, COL_NOTE, (Datum) 0, true);	/* the note goes to the event only */
	to = GetString(&r, COL_STATUS, false);
	priority = GetString(&r, COL_PRIORITY, false);

	import = insert && to != NULL && crm_importing_history(RelationGetRelid(td->tg_relation));
	if (import)
	{
		if (!StatusKnown(wf, to))
			ereport(ERROR,
					(errcode(ERRCODE_CRM_INVALID_TRANSITION),
					 errmsg("unknown status \"%s\" in workflow \"%s\"", to, wf->name),
					 errdetail("An imported row must have a status of the workflow."),
					 errhint("Statuses come from crm.workflow_transition.")));
	}
	if (insert)
	{
		if (to == NULL)
		{
			const char *init = InitialStatus(wf);

			if (init == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("a new row needs a status in workflow \"%s\"", wf->name),
						 errdetail("The workflow has several initial statuses."),
						 errhint("Allowed initial statuses: %s.", AllowedNext(wf, NULL))));
			to = pstrdup(init);
			SetString(&r, COL_STATUS, to);
		}
		if (!import)
			CheckTransition(wf, &r, NULL, to);
		transition = !import;
		if (r.tg->att[COL_CREATED] != 0)
		{
			GetTimestamp(&r, COL_CREATED, false, &isnull);
			if (isnull)
				SetCol(&r, COL_CREATED, TimestampTzGetDatum(now), false);
		}
		if (priority == NULL && r.tg->att[COL_PRIORITY] != 0)
		{
			char	   *category = GetString(&r, COL_CATEGORY, false);
			const char *p = category ? CategoryPriority(category) : NULL;

			if (p == NULL)
				p = r.tg->default_priority;
			if (p != NULL)
			{
				priority = pstrdup(p);
				SetString(&r, COL_PRIORITY, priority);
			}
		}
		if (r.tg->att[COL_PAUSED] != 0)
		{
			GetCol(&r, COL_PAUSED, false, &isnull);
			if (isnull)
				SetCol(&r, COL_PAUSED, IntervalPGetDatum(palloc0(sizeof(Interval))), false);
		}
		if (!import)
			SetCol(&r, COL_PAUSED_AT, (Datum) 0, true);
		if (r.tg->att[COL_PRIORITY] != 0 && (!import || MissingDeadlines(&r)))
			SetDeadlines(&r, priority, now);
	}
	else
	{
		char	   *oldprio = GetString(&r, COL_PRIORITY, true);
		bool		deadlines = false;

		from = GetString(&r, COL_STATUS, true);
		if (to == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("status cannot be set to NULL in workflow \"%s\"", wf->name),
					 errhint("Allowed next statuses from \"%s\": %s.", from ? from : "(null)",
							 AllowedNext(wf, from))));
		transition = (from == NULL || strcmp(from, to) != 0);

		/* the engine owns the SLA columns: keep them unless it changes them */
		KeepOld(&r, COL_RESPONSE_DUE);
		KeepOld(&r, COL_RESOLUTION_DUE);
		KeepOld(&r, COL_PAUSED);
		KeepOld(&r, COL_PAUSED_AT);
		KeepOld(&r, COL_CREATED);

		if (transition)
		{
			CheckTransition(wf, &r, from, to);
			if (r.tg->att[COL_FIRST_RESPONSE] != 0)
			{
				GetTimestamp(&r, COL_FIRST_RESPONSE, true, &isnull);
				if (isnull)
					Stamp(&r, COL_FIRST_RESPONSE, false, now);
			}
			if (r.tg->resolved_status && strcmp(to, r.tg->resolved_status) == 0)
				Stamp(&r, COL_RESOLVED, false, now);
			if (r.tg->closed_status && strcmp(to, r.tg->closed_status) == 0)
				Stamp(&r, COL_CLOSED, false, now);
			if (r.tg->reopened_status && strcmp(to, r.tg->reopened_status) == 0)
			{
				SetCol(&r, COL_RESOLVED, (Datum) 0, true);
				SetCol(&r, COL_CLOSED, (Datum) 0, true);
				SetCol(&r, COL_CONFIRMED, BoolGetDatum(false), false);
			}
			if (r.tg->pause_status && strcmp(to, r.tg->pause_status) == 0)
				SetCol(&r, COL_PAUSED_AT, TimestampTzGetDatum(now), false);
			if (r.tg->pause_status && from != NULL && strcmp(from, r.tg->pause_status) == 0)
			{
				TimestampTz pausedat = GetTimestamp(&r, COL_PAUSED_AT, true, &isnull);

				if (!isnull && r.tg->att[COL_PAUSED] != 0)
				{
					int64		paused = 0;
					WfPolicy   *p = priority ? GetPolicy(priority) : NULL;
					CrmCalendar *cal = (p && p->calendar) ? crm_calendar_get(p->calendar) : NULL;
					Interval   *iv = palloc0(sizeof(Interval));

					d = GetCol(&r, COL_PAUSED, true, &isnull);
					if (!isnull)
						paused = crm_interval_usecs(DatumGetIntervalP(d));
					iv->time = paused + crm_business_diff(pausedat, now, cal);
					SetCol(&r, COL_PAUSED, IntervalPGetDatum(iv), false);
					deadlines = true;
				}
				SetCol(&r, COL_PAUSED_AT, (Datum) 0, true);
			}
		}
		if ((priority == NULL) != (oldprio == NULL) ||
			(priority != NULL && strcmp(priority, oldprio) != 0))
			deadlines = true;
		if (deadlines && r.tg->att[COL_PRIORITY] != 0)
			SetDeadlines(&r, priority, now);
	}

	if (r.tg->events != NULL && has_id && !import)
	{
		if (transition)
			WriteEvent(&r, id, from, to, note, id_kept);
		if (r.tg->att[COL_ASSIGNEE] != 0)
		{
			char	   *newa = GetString(&r, COL_ASSIGNEE, false);
			char	   *olda = insert ? NULL : GetString(&r, COL_ASSIGNEE, true);

			if ((newa == NULL) != (olda == NULL) || (newa != NULL && strcmp(newa, olda) != 0))
			{
				WriteEvent(&r, id, to, to,
						   newa ? psprintf("assigned to %s", newa) : "unassigned", id_kept);
				assigned = true;
			}
		}
		/* a note without a transition or an assignment is kept as a comment */
		if (!transition && !assigned && note != NULL)
			WriteEvent(&r, id, to, to, note, id_kept);
	}
	if (transition && r.tg->notify != NULL)
		SendNotify(&r, has_id, id, from, to, priority);

	if (r.nrepl == 0)
		return PointerGetDatum(r.newtup);
	return PointerGetDatum(heap_modify_tuple_by_cols(r.newtup, r.desc, r.nrepl, r.replcols,
													 r.replvals, r.replnulls));
}
