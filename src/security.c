/*
 * security.c: masking functions, the audit trigger crm.audit(), the access
 * log crm.log_access() with its bulk-read alert, and the settings of the
 * security module (crm.encryption_key, crm.audit_values,
 * crm.export_alert_rows).
 *
 * Audit rows are written into crm.audit_log as the owner of that table, so
 * ordinary roles need no privilege on it and cannot write rows of their own.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "crm.h"

/* GUC crm.encryption_key: the session's key for crm.encrypt_text/decrypt_text. */
static char *crm_encryption_key = NULL;

/* GUC crm.audit_values: write old and new values into the audit log. */
static bool crm_audit_values = true;

/* GUC crm.export_alert_rows: reads of more rows than this raise an alert. */
static int	crm_export_alert_rows = 1000;

/* Cached plan of the insert into crm.audit_log. */
static SPIPlanPtr audit_plan = NULL;

#define AUDIT_NARGS 10

/*
 * Refuses a key from any place where it would be stored on the server:
 * configuration files, ALTER SYSTEM, ALTER DATABASE/ROLE ... SET, function
 * SET clauses.  A session may set it (SET, set_config, connection options).
 */
static bool
CheckEncryptionKey(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source == PGC_S_SESSION || source == PGC_S_CLIENT || source == PGC_S_OVERRIDE ||
		source == PGC_S_INTERACTIVE || source == PGC_S_DEFAULT || source == PGC_S_DYNAMIC_DEFAULT)
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("crm.encryption_key can only be set in a session");
	GUC_check_errdetail("Keys are never stored on the server: not in configuration files, ALTER SYSTEM, ALTER DATABASE, ALTER ROLE or function settings.");
	GUC_check_errhint("Set it with SET or set_config() after connecting, or pass the key as a function argument.");
	return false;
}

/* Defines the settings of the security module; called from _PG_init. */
void
crm_security_init(void)
{
	DefineCustomStringVariable("crm.encryption_key",
							   "Key used by crm.encrypt_text() and crm.decrypt_text() when none is passed.",
							   "Set per session by the client; never stored on the server.",
							   &crm_encryption_key,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE |
							   GUC_DISALLOW_IN_AUTO_FILE | GUC_NO_RESET_ALL,
							   CheckEncryptionKey,
							   NULL,
							   NULL);
	DefineCustomBoolVariable("crm.audit_values",
							 "Whether crm.audit() writes old and new values and row keys into crm.audit_log.",
							 "Turned off only by the extension's erasure and retention functions, so that removing personal data does not copy it into the log.",
							 &crm_audit_values,
							 true,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
	DefineCustomIntVariable("crm.export_alert_rows",
							"Reads of personal data through export paths of more rows than this send NOTIFY crm_alert.",
							"Every such read is logged in crm.audit_log; -1 disables the alert.",
							&crm_export_alert_rows,
							1000,
							-1,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL,
							NULL,
							NULL);
}

/* ---------------------------------------------------------------------------
 * Masking
 * ------------------------------------------------------------------------- */

/* Appends the first character of the multibyte string s (of byte length len). */
static inline int
AppendFirstChar(StringInfo buf, const char *s, int len)
{
	int			l = pg_mblen(s);

	if (l > len)
		l = len;
	appendBinaryStringInfo(buf, s, l);
	return l;
}

PG_FUNCTION_INFO_V1(mask_email);
/* j***@example.com: first character of the local part, the domain in full. */
Datum
mask_email(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			at = -1;
	int			i;
	StringInfoData buf;

	if (len == 0)
		PG_RETURN_TEXT_P(cstring_to_text(""));
	for (i = len - 1; i >= 0; i--)
		if (s[i] == '@')
		{
			at = i;
			break;
		}
	initStringInfo(&buf);
	if (at > 0)
		AppendFirstChar(&buf, s, at);
	appendStringInfoString(&buf, "***");
	if (at >= 0)
		appendBinaryStringInfo(&buf, s + at, len - at);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

PG_FUNCTION_INFO_V1(mask_phone);
/*
 * Hides the middle digits of a telephone number, keeping its layout: with 10
 * or more digits the first 3 and last 4 stay, with 7 to 9 the first 2 and
 * last 2, with 5 or 6 the last 2, with 4 or fewer none.
 */
Datum
mask_phone(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			digits = 0;
	int			head,
				tail,
				seen = 0,
				i;
	char	   *out = palloc(len + 1);

	for (i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
	if (digits >= 10)
		head = 3, tail = 4;
	else if (digits >= 7)
		head = 2, tail = 2;
	else if (digits >= 5)
		head = 0, tail = 2;
	else
		head = 0, tail = 0;
	for (i = 0; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			out[i] = (seen < head || seen >= digits - tail) ? s[i] : '*';
			seen++;
		}
		else
			out[i] = s[i];
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, len));
}

/* True for the ASCII white space that separates the words of a name. */
static inline bool
IsNameSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

PG_FUNCTION_INFO_V1(mask_name);
/* Initials: the first character of each word followed by a dot ("J. S."). */
Datum
mask_name(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			i = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	while (i < len)
	{
		if (IsNameSpace(s[i]))
		{
			i++;
			continue;
		}
		if (buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		i += AppendFirstChar(&buf, s + i, len - i);
		appendStringInfoChar(&buf, '.');
		while (i < len && !IsNameSpace(s[i]))
			i++;
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ---------------------------------------------------------------------------
 * Audit log
 * ------------------------------------------------------------------------- */

/* Oid of crm.audit_log, or an error when it is missing. */
static Oid
AuditLogRelid(void)
{
	Oid			nsp = get_namespace_oid("crm", false);
	Oid			relid = get_relname_relid("audit_log", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table crm.audit_log does not exist"),
				 errhint("Reinstall the extension crm.")));
	return relid;
}

/* Owner of a relation. */
static Oid
RelOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Inserts one row into crm.audit_log as the owner of that table.  NULL
 * arguments are SQL NULLs.  The caller's role is recorded as the actor.
 */
static void
AuditInsert(const char *relname, const char *operation, bool has_customer, int64 customer,
			const char *row_key, const char *changed, const char *old_values,
			const char *new_values, bool has_rows, int64 rows, const char *detail)
{
	Oid			argtypes[AUDIT_NARGS] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		vals[AUDIT_NARGS];
	char		nulls[AUDIT_NARGS];
	const char *texts[AUDIT_NARGS] = {NULL, relname, operation, NULL, row_key, changed,
	old_values, new_values, NULL, detail};
	Oid			save_userid;
	int			save_sec;
	Oid			owner = RelOwner(AuditLogRelid());
	int			i,
				ret;

	texts[0] = GetUserNameFromId(GetUserId(), false);
	for (i = 0; i < AUDIT_NARGS; i++)
	{
		nulls[i] = texts[i] ? ' ' : 'n';
		vals[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
	}
	nulls[3] = has_customer ? ' ' : 'n';
	vals[3] = Int64GetDatum(customer);
	nulls[8] = has_rows ? ' ' : 'n';
	vals[8] = Int64GetDatum(rows);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm.audit: SPI_connect failed");
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (audit_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("INSERT INTO crm.audit_log (actor, session_actor, table_name, operation, customer_id, "
									   "row_key, changed_columns, old_values, new_values, rows, detail) "
									   "VALUES ($1, pg_catalog.session_user(), $2, $3, $4, $5::pg_catalog.jsonb, "
									   "$6::pg_catalog.text[], $7::pg_catalog.jsonb, $8::pg_catalog.jsonb, $9, $10)",
									   AUDIT_NARGS, argtypes);

		if (plan == NULL)
			elog(ERROR, "crm.audit: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "crm.audit: SPI_keepplan failed");
		audit_plan = plan;
	}
	ret = SPI_execute_plan(audit_plan, vals, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "crm.audit: insert into crm.audit_log failed: %s", SPI_result_code_string(ret));
	SetUserIdAndSecContext(save_userid, save_sec);
	SPI_finish();
}

/* Text form of attribute attnum (1-based) of a tuple, or NULL. */
static char *
AttText(HeapTuple tup, TupleDesc td, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, td, &isnull);
	Oid			out;
	bool		varlena;

	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(td, attnum - 1)->atttypid, &out, &varlena);
	return OidOutputFunctionCall(out, d);
}

/* Appends "name": value (a JSON string or null) to an object under construction. */
static void
AppendJsonField(StringInfo buf, const char *name, const char *value)
{
	appendStringInfoChar(buf, buf->len > 0 ? ',' : '{');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* Closes a JSON object (an empty one becomes {}). */
static char *
FinishJson(StringInfo buf)
{
	if (buf->len == 0)
		appendStringInfoChar(buf, '{');
	appendStringInfoChar(buf, '}');
	return buf->data;
}

/* Appends a name to a text[] literal under construction. */
static void
AppendArrayItem(StringInfo buf, const char *name)
{
	const char *p;

	appendStringInfoChar(buf, buf->len > 0 ? ',' : '{');
	appendStringInfoChar(buf, '"');
	for (p = name; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/* True when the values of attribute attnum differ between two tuples. */
static bool
AttChanged(HeapTuple a, HeapTuple b, TupleDesc td, int attnum)
{
	Form_pg_attribute att = TupleDescAttr(td, attnum - 1);
	bool		na,
				nb;
	Datum		da = heap_getattr(a, attnum, td, &na);
	Datum		db = heap_getattr(b, attnum, td, &nb);
	char	   *ta,
			   *tb;

	if (na || nb)
		return na != nb;
	if (datumIsEqual(da, db, att->attbyval, att->attlen))
		return false;
	ta = AttText(a, td, attnum);
	tb = AttText(b, td, attnum);
	return strcmp(ta, tb) != 0;
}

PG_FUNCTION_INFO_V1(audit);
/*
 * AFTER INSERT OR UPDATE OR DELETE row trigger: records the change in
 * crm.audit_log.  Arguments: names of secret columns (recorded as changed,
 * never with their values), and optionally customer=COLUMN naming the column
 * that holds the customer id (default: id on crm.customer, customer_id
 * elsewhere when there is one).  Also an AFTER TRUNCATE statement trigger,
 * recording the truncation.
 */
Datum
audit(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Trigger    *tg;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL,
				newtup = NULL,
				keytup;
	const char *op;
	bool	   *secret;
	const char *customer_col = NULL;
	int			customer_att = 0;
	bool		has_customer = false;
	int64		customer = 0;
	Bitmapset  *pk;
	StringInfoData changed,
				oldv,
				newv,
				key;
	int			i,
				natts;
	char	   *relname;
	bool		any = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.audit() must be called as a trigger"),
				 errhint("Attach it with CREATE TRIGGER ... EXECUTE FUNCTION crm.audit(), or use crm.enable_audit().")));
	td = (TriggerData *) fcinfo->context;
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) && TRIGGER_FIRED_AFTER(td->tg_event))
	{
		/* AFTER TRUNCATE ... FOR EACH STATEMENT: one entry, no values. */
		rel = td->tg_relation;
		AuditInsert(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel)),
					"TRUNCATE", false, 0, NULL, NULL, NULL, NULL, false, 0, NULL);
		return PointerGetDatum(NULL);
	}
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.audit() must be fired AFTER ... FOR EACH ROW, or AFTER TRUNCATE"),
				 errhint("CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION crm.audit();")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	natts = desc->natts;
	if (RelationGetRelid(rel) == AuditLogRelid())
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.audit() cannot audit crm.audit_log itself"),
				 errdetail("Every entry would write another entry."),
				 errhint("Drop the trigger from crm.audit_log; the log is append-only already.")));

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "INSERT";
		newtup = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = "UPDATE";
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "DELETE";
		oldtup = td->tg_trigtuple;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.audit() handles INSERT, UPDATE and DELETE only"),
				 errhint("Fire it AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW.")));
	keytup = newtup ? newtup : oldtup;

	/* Arguments: secret columns and customer=COLUMN. */
	tg = td->tg_trigger;
	secret = palloc0(sizeof(bool) * natts);
	for (i = 0; i < tg->tgnargs; i++)
	{
		const char *arg = tg->tgargs[i];
		bool		is_customer = strncmp(arg, "customer=", 9) == 0;
		const char *col = is_customer ? arg + 9 : arg;
		int			att = SPI_fnumber(desc, col);

		if (att <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" named by trigger \"%s\" does not exist in table \"%s\"",
							col, tg->tgname, RelationGetRelationName(rel)),
					 errhint("Arguments of crm.audit() are secret column names and customer=COLUMN.")));
		if (is_customer)
		{
			customer_col = col;
			customer_att = att;
		}
		else
			secret[att - 1] = true;
	}
	if (customer_col == NULL)
	{
		bool		is_customer = strcmp(RelationGetRelationName(rel), "customer") == 0 &&
			strcmp(get_namespace_name(RelationGetNamespace(rel)), "crm") == 0;

		customer_att = SPI_fnumber(desc, is_customer ? "id" : "customer_id");
		if (customer_att <= 0)
			customer_att = 0;
	}
	if (customer_att > 0)
	{
		Oid			typ = TupleDescAttr(desc, customer_att - 1)->atttypid;
		bool		isnull;
		Datum		d = heap_getattr(keytup, customer_att, desc, &isnull);

		if (!isnull && (typ == INT8OID || typ == INT4OID || typ == INT2OID))
		{
			has_customer = true;
			customer = typ == INT8OID ? DatumGetInt64(d) :
				typ == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d);
		}
	}

	initStringInfo(&changed);
	initStringInfo(&oldv);
	initStringInfo(&newv);
	initStringInfo(&key);
	for (i = 1; i <= natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		const char *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (oldtup && newtup && !AttChanged(oldtup, newtup, desc, i))
			continue;
		any = true;
		if (oldtup && newtup)
			AppendArrayItem(&changed, name);
		if (secret[i - 1])
			continue;
		if (oldtup)
			AppendJsonField(&oldv, name, AttText(oldtup, desc, i));
		if (newtup)
			AppendJsonField(&newv, name, AttText(newtup, desc, i));
	}
	if (!any)
		return PointerGetDatum(NULL);	/* an UPDATE that changed nothing */

	pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	for (i = 1; i <= natts; i++)
		if (bms_is_member(i - FirstLowInvalidHeapAttributeNumber, pk) && !secret[i - 1])
			AppendJsonField(&key, NameStr(TupleDescAttr(desc, i - 1)->attname), AttText(keytup, desc, i));

	relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										 RelationGetRelationName(rel));
	if (crm_audit_values)
		AuditInsert(relname, op, has_customer, customer,
					key.len > 0 ? FinishJson(&key) : NULL,
					changed.len > 0 ? FinishJson(&changed) : NULL,
					oldtup ? FinishJson(&oldv) : NULL,
					newtup ? FinishJson(&newv) : NULL,
					false, 0, NULL);
	else
		AuditInsert(relname, op, has_customer, customer, NULL,
					changed.len > 0 ? FinishJson(&changed) : NULL,
					NULL, NULL, false, 0, "values not recorded (crm.audit_values = off)");
	return PointerGetDatum(NULL);
}

/* The string cut to at most max bytes on a character boundary (NOTIFY payloads are limited). */
static const char *
ClipText(const char *s, int max)
{
	int			len = strlen(s);

	if (len <= max)
		return s;
	return pnstrdup(s, pg_mbcliplen(s, len, max));
}

PG_FUNCTION_INFO_V1(log_access);
/*
 * crm.log_access(relation, rows, purpose): records a read of personal data in
 * crm.audit_log and, when rows exceeds crm.export_alert_rows, sends
 * NOTIFY crm_alert with a JSON payload.  Returns whether an alert was sent.
 */
Datum
log_access(PG_FUNCTION_ARGS)
{
	char	   *relation;
	int64		rows;
	char	   *purpose = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		alert;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and rows must not be NULL"),
				 errhint("Pass what was read and how many rows.")));
	relation = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rows = PG_GETARG_INT64(1);
	if (rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows must not be negative"),
				 errdetail("rows is " INT64_FORMAT ".", rows),
				 errhint("Pass the number of rows that were read.")));
	AuditInsert(relation, "READ", false, 0, NULL, NULL, NULL, NULL, true, rows, purpose);
	alert = crm_export_alert_rows >= 0 && rows > crm_export_alert_rows;
	if (alert)
	{
		StringInfoData payload;

		initStringInfo(&payload);
		appendStringInfoString(&payload, "{\"alert\":\"bulk_read\",\"actor\":");
		escape_json(&payload, GetUserNameFromId(GetUserId(), false));
		appendStringInfoString(&payload, ",\"relation\":");
		escape_json(&payload, ClipText(relation, 1000));
		appendStringInfo(&payload, ",\"rows\":" INT64_FORMAT ",\"threshold\":%d,\"purpose\":",
						 rows, crm_export_alert_rows);
		if (purpose)
			escape_json(&payload, ClipText(purpose, 1000));
		else
			appendStringInfoString(&payload, "null");
		appendStringInfoChar(&payload, '}');
		Async_Notify("crm_alert", payload.data);
	}
	PG_RETURN_BOOL(alert);
}
