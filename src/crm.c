/*
 * crm.c: module entry point of the crm extension.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "crm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Appends a float8 as the shortest decimal that reads back exactly, the form
 * of every state's text output.  A NaN or an infinity is written as
 * nonfinite when that is given (JSON's null, say), else as float8 writes it.
 */
void
crm_append_double(StringInfo buf, double v, const char *nonfinite)
{
	char		s[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (nonfinite != NULL && (isnan(v) || isinf(v)))
	{
		appendStringInfoString(buf, nonfinite);
		return;
	}
	double_to_shortest_decimal_buf(v, s);
	appendStringInfoString(buf, s);
}

/*
 * Appends a finite time in ISO 8601 at UTC ("2024-01-01 10:00:00+00"),
 * whatever DateStyle and TimeZone say, so that a state's text form reads back
 * the same anywhere.  Returns false, appending nothing, for a time that is
 * not finite or cannot be written.
 */
bool
crm_append_iso_utc(StringInfo buf, TimestampTz t)
{
	char		s[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		return false;
	tm.tm_isdst = 0;			/* print the +00 offset */
	EncodeDateTime(&tm, fsec, true, 0, NULL, USE_ISO_DATES, s);
	appendStringInfoString(buf, s);
	return true;
}

/* Defines the extension's settings; called once per backend on load. */
void
_PG_init(void)
{
	crm_phone_init();
	crm_security_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("crm");
#else
	EmitWarningsOnPlaceholders("crm");
#endif
}
