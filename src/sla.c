/*
 * sla.c: business calendars (opening hours per weekday, holidays, a time
 * zone) and business-time arithmetic over them, plus the per-backend cache of
 * workflow and SLA configuration that workflow.c shares.
 *
 * A calendar's opening hours are local wall-clock times.  Each opening
 * interval of each day is turned into real instants with the calendar's time
 * zone, so a day that loses or gains an hour at a daylight-saving change
 * counts the real time it is open.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "sla.h"

#define CAL_MAX_PER_DAY 16
#define CAL_MAX_DAYS 200000		/* about 550 years of days to scan */
#define WEEKLY_HINT "Write it like \"mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00\"."

typedef struct CalInterval
{
	int32		start;			/* seconds after local midnight */
	int32		end;			/* exclusive; at most 86400 */
} CalInterval;

/* Opening hours of the seven weekdays, Monday first. */
typedef struct WeeklyHours
{
	int			n[7];
	CalInterval iv[7][CAL_MAX_PER_DAY];
} WeeklyHours;

struct CrmCalendar
{
	char	   *name;
	pg_tz	   *tz;
	WeeklyHours hours;
	int			nholidays;
	DateADT    *holidays;		/* sorted */
	CrmCalendar *next;
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* ------------------------------------------------------------------------
 * Configuration cache
 * ------------------------------------------------------------------------
 */

static MemoryContext cache_cxt = NULL;
static uint64 cache_generation = 0;
static bool cache_stale = false;
static bool callbacks_registered = false;
static List *retired_cxts = NIL;	/* in TopMemoryContext */
static Oid *watched = NULL;		/* in TopMemoryContext */
static int	nwatched = 0;
static int	maxwatched = 0;
static CrmCalendar *calendars = NULL;
static uint64 calendars_generation = 0;

/* Marks the cache stale when a watched table (or every table) is invalidated. */
static void
CacheRelcacheCallback(Datum arg, Oid relid)
{
	int			i;

	if (cache_cxt == NULL)
		return;
	if (!OidIsValid(relid))
	{
		cache_stale = true;
		return;
	}
	for (i = 0; i < nwatched; i++)
		if (watched[i] == relid)
			cache_stale = true;
}

/* Frees the contexts dropped during the transaction once it is over. */
static void
CacheXactCallback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (retired_cxts == NIL)
		return;
	foreach(lc, retired_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_cxts);
	retired_cxts = NIL;
}

void
crm_cache_watch(Oid relid)
{
	int			i;

	if (!OidIsValid(relid))
		return;
	for (i = 0; i < nwatched; i++)
		if (watched[i] == relid)
			return;
	if (nwatched == maxwatched)
	{
		maxwatched = maxwatched ? maxwatched * 2 : 16;
		watched = watched
			? repalloc(watched, sizeof(Oid) * maxwatched)
			: MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * maxwatched);
	}
	watched[nwatched++] = relid;
}

/* Watches the configuration tables of schema crm. */
static void
WatchConfigTables(void)
{
	static const char *const tables[] = {
		"workflow_transition", "complaint_category", "sla_policy",
		"business_calendar", "calendar_holiday"
	};
	Oid			nsp = get_namespace_oid("crm", true);
	int			i;

	if (!OidIsValid(nsp))
		return;
	for (i = 0; i < (int) lengthof(tables); i++)
		crm_cache_watch(get_relname_relid(tables[i], nsp));
}

MemoryContext
crm_cache_context(uint64 *generation)
{
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(CacheRelcacheCallback, (Datum) 0);
		RegisterXactCallback(CacheXactCallback, NULL);
		callbacks_registered = true;
	}
	if (cache_stale && cache_cxt != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired_cxts = lappend(retired_cxts, cache_cxt);
		MemoryContextSwitchTo(old);
		cache_cxt = NULL;
	}
	cache_stale = false;
	if (cache_cxt == NULL)
	{
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "crm workflow cache",
										  ALLOCSET_SMALL_SIZES);
		cache_generation++;
		WatchConfigTables();
	}
	*generation = cache_generation;
	return cache_cxt;
}

PG_FUNCTION_INFO_V1(config_changed);
/* Statement trigger on configuration tables: tells every backend to reload. */
Datum
config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.config_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * Weekly hours: "mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00"
 * ------------------------------------------------------------------------
 */

/* Reports a syntax error in weekly hours text at position pos. */
static void
WeeklyError(const char *text, const char *pos, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid weekly hours \"%s\"", text),
			 errdetail("Expected %s at character %d.", what, (int) (pos - text) + 1),
			 errhint(WEEKLY_HINT)));
}

static inline const char *
SkipSpace(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Reads a three-letter day name; returns 0..6 (Monday first) or -1. */
static int
ReadDay(const char **pp)
{
	const char *p = *pp;
	int			d;

	for (d = 0; d < 7; d++)
		if (pg_strncasecmp(p, day_names[d], 3) == 0 && !isalpha((unsigned char) p[3]))
		{
			*pp = p + 3;
			return d;
		}
	return -1;
}

/* Reads HH:MM (00:00 to 24:00); returns seconds or -1. */
static int
ReadTime(const char **pp)
{
	const char *p = *pp;
	int			h,
				m;

	if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]) || p[2] != ':' ||
		!isdigit((unsigned char) p[3]) || !isdigit((unsigned char) p[4]))
		return -1;
	h = (p[0] - '0') * 10 + (p[1] - '0');
	m = (p[3] - '0') * 10 + (p[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	*pp = p + 5;
	return h * 3600 + m * 60;
}

/* Parses weekly hours text into wh; errors describe what is wrong. */
static void
ParseWeeklyHours(const char *text, WeeklyHours *wh)
{
	const char *p = text;
	int			total = 0;
	int			d;

	memset(wh, 0, sizeof(WeeklyHours));
	for (;;)
	{
		bool		days[7] = {false};
		CalInterval ivs[CAL_MAX_PER_DAY];
		int			niv = 0;
		int			i;

		p = SkipSpace(p);
		if (*p == '\0')
			break;
		if (*p == ';')
		{
			p++;
			continue;
		}
		/* day list: mon, mon-fri, sat,sun */
		for (;;)
		{
			int			d1,
						d2;

			if ((d1 = ReadDay(&p)) < 0)
				WeeklyError(text, p, "a day name (mon, tue, wed, thu, fri, sat or sun)");
			d2 = d1;
			p = SkipSpace(p);
			if (*p == '-')
			{
				p = SkipSpace(p + 1);
				if ((d2 = ReadDay(&p)) < 0)
					WeeklyError(text, p, "a day name (mon, tue, wed, thu, fri, sat or sun)");
				p = SkipSpace(p);
			}
			for (d = d1;; d = (d + 1) % 7)
			{
				days[d] = true;
				if (d == d2)
					break;
			}
			if (*p == ',')
			{
				p = SkipSpace(p + 1);
				continue;
			}
			break;
		}
		/* time ranges: 09:00-12:00,13:00-18:00 */
		for (;;)
		{
			int			s,
						e;
			const char *at = p;

			if ((s = ReadTime(&p)) < 0)
				WeeklyError(text, p, "a time HH:MM between 00:00 and 24:00");
			p = SkipSpace(p);
			if (*p != '-')
				WeeklyError(text, p, "\"-\" between the opening and the closing time");
			p = SkipSpace(p + 1);
			if ((e = ReadTime(&p)) < 0)
				WeeklyError(text, p, "a time HH:MM between 00:00 and 24:00");
			if (e <= s)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid weekly hours \"%s\"", text),
						 errdetail("The opening interval at character %d closes before it opens.",
								   (int) (at - text) + 1),
						 errhint("Opening times run from 00:00 to 24:00; split a night shift into two days.")));
			if (niv == CAL_MAX_PER_DAY)
				WeeklyError(text, at, "at most 16 opening intervals per day");
			ivs[niv].start = s;
			ivs[niv].end = e;
			niv++;
			p = SkipSpace(p);
			if (*p == ',')
			{
				p = SkipSpace(p + 1);
				continue;
			}
			break;
		}
		if (*p != ';' && *p != '\0')
			WeeklyError(text, p, "\",\", \";\" or the end of the text");
		for (d = 0; d < 7; d++)
		{
			if (!days[d])
				continue;
			for (i = 0; i < niv; i++)
			{
				int			j,
							k;

				if (wh->n[d] == CAL_MAX_PER_DAY)
					WeeklyError(text, p, "at most 16 opening intervals per day");
				/* insert sorted by start, rejecting overlaps */
				for (j = 0; j < wh->n[d] && wh->iv[d][j].start < ivs[i].start; j++)
					;
				if ((j > 0 && wh->iv[d][j - 1].end > ivs[i].start) ||
					(j < wh->n[d] && wh->iv[d][j].start < ivs[i].end))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid weekly hours \"%s\"", text),
							 errdetail("Opening intervals overlap on %s.", day_names[d]),
							 errhint("Give each moment of a day at most once.")));
				for (k = wh->n[d]; k > j; k--)
					wh->iv[d][k] = wh->iv[d][k - 1];
				wh->iv[d][j] = ivs[i];
				wh->n[d]++;
				total++;
			}
		}
	}
	if (total == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid weekly hours \"%s\"", text),
				 errdetail("The text gives no opening hours."),
				 errhint(WEEKLY_HINT)));
}

/* Canonical text of weekly hours: one group per run of identical days. */
static char *
WeeklyHoursText(const WeeklyHours *wh)
{
	StringInfoData buf;
	int			d = 0;

	initStringInfo(&buf);
	while (d < 7)
	{
		int			e = d,
					i;

		if (wh->n[d] == 0)
		{
			d++;
			continue;
		}
		while (e + 1 < 7 && wh->n[e + 1] == wh->n[d] &&
			   memcmp(wh->iv[e + 1], wh->iv[d], sizeof(CalInterval) * wh->n[d]) == 0)
			e++;
		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		appendStringInfoString(&buf, day_names[d]);
		if (e > d)
			appendStringInfo(&buf, "-%s", day_names[e]);
		for (i = 0; i < wh->n[d]; i++)
			appendStringInfo(&buf, "%s%02d:%02d-%02d:%02d", i == 0 ? " " : ",",
							 wh->iv[d][i].start / 3600, wh->iv[d][i].start / 60 % 60,
							 wh->iv[d][i].end / 3600, wh->iv[d][i].end / 60 % 60);
		d = e + 1;
	}
	return buf.data;
}

PG_FUNCTION_INFO_V1(parse_weekly_hours);
/* Validates weekly hours text and returns it in canonical form. */
Datum
parse_weekly_hours(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	WeeklyHours wh;

	ParseWeeklyHours(str, &wh);
	PG_RETURN_TEXT_P(cstring_to_text(WeeklyHoursText(&wh)));
}

PG_FUNCTION_INFO_V1(check_time_zone);
/* Validates a time zone name for a calendar; returns it unchanged. */
Datum
check_time_zone(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	char	   *name = text_to_cstring(arg);

	if (pg_tzset(name) == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", name),
				 errdetail("A business calendar needs a time zone name from the IANA database."),
				 errhint("Use a name such as \"Europe/Paris\", \"Asia/Shanghai\" or \"UTC\" (see pg_timezone_names).")));
	PG_RETURN_TEXT_P(arg);
}

/* ------------------------------------------------------------------------
 * Calendars
 * ------------------------------------------------------------------------
 */

/* Loads a calendar and its holidays into the cache; NULL if it is unknown. */
static CrmCalendar *
LoadCalendar(const char *name, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	CrmCalendar *cal = NULL;
	int			ret;

	args[0] = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT time_zone, weekly_hours FROM crm.business_calendar "
								"WHERE name OPERATOR(pg_catalog.=) $1",
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading crm.business_calendar failed: %d", ret);
	if (SPI_processed == 1)
	{
		char	   *tzname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *weekly = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		pg_tz	   *tz = pg_tzset(tzname);
		uint64		i;

		if (tz == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time zone \"%s\" of business calendar \"%s\" not recognized", tzname, name),
					 errhint("Redefine the calendar with crm.define_calendar().")));
		cal = MemoryContextAllocZero(cxt, sizeof(CrmCalendar));
		cal->name = MemoryContextStrdup(cxt, name);
		cal->tz = tz;
		ParseWeeklyHours(weekly, &cal->hours);

		ret = SPI_execute_with_args("SELECT day FROM crm.calendar_holiday "
									"WHERE calendar OPERATOR(pg_catalog.=) $1 ORDER BY day",
									1, argtypes, args, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading crm.calendar_holiday failed: %d", ret);
		cal->nholidays = (int) SPI_processed;
		cal->holidays = MemoryContextAlloc(cxt, sizeof(DateADT) * (SPI_processed + 1));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			cal->holidays[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	SPI_finish();
	return cal;
}

CrmCalendar *
crm_calendar_get(const char *name)
{
	uint64		gen;
	MemoryContext cxt = crm_cache_context(&gen);
	CrmCalendar *cal;

	if (gen != calendars_generation)
	{
		calendars = NULL;
		calendars_generation = gen;
	}
	for (cal = calendars; cal != NULL; cal = cal->next)
		if (strcmp(cal->name, name) == 0)
			return cal;
	cal = LoadCalendar(name, cxt);
	if (cal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("business calendar \"%s\" does not exist", name),
				 errhint("Define it with crm.define_calendar(name, time_zone, weekly_hours).")));
	/* the load may have run while the cache was dropped: re-read the head */
	if (gen == calendars_generation)
	{
		cal->next = calendars;
		calendars = cal;
	}
	return cal;
}

/* Whether a date is a holiday of the calendar (binary search). */
static bool
IsHoliday(const CrmCalendar *cal, DateADT day)
{
	int			lo = 0,
				hi = cal->nholidays - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (cal->holidays[mid] == day)
			return true;
		if (cal->holidays[mid] < day)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* The local date (days since 2000-01-01) of an instant in the calendar's zone. */
static DateADT
LocalDate(TimestampTz ts, const CrmCalendar *cal)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, cal->tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

/* The instant of local wall-clock time secs (0..86400) on a local date. */
static TimestampTz
LocalInstant(DateADT day, int secs, const CrmCalendar *cal)
{
	struct pg_tm tm;
	TimestampTz result;
	int			tz;

	if (secs >= SECS_PER_DAY)
	{
		day += secs / SECS_PER_DAY;
		secs %= SECS_PER_DAY;
	}
	memset(&tm, 0, sizeof(tm));
	j2date(day + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_hour = secs / 3600;
	tm.tm_min = secs / 60 % 60;
	tm.tm_sec = secs % 60;
	tz = DetermineTimeZoneOffset(&tm, cal->tz);
	if (tm2timestamp(&tm, 0, &tz, &result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return result;
}

/* Weekday of a local date, Monday = 0. */
static inline int
WeekdayOf(DateADT day)
{
	return (j2day(day + POSTGRES_EPOCH_JDATE) + 6) % 7;
}

static void
NoBusinessTime(const CrmCalendar *cal)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("business calendar \"%s\" has no opening time in the range searched", cal->name),
			 errdetail("The search gives up after %d days.", CAL_MAX_DAYS),
			 errhint("Check the calendar's weekly hours and holidays, or use a shorter duration.")));
}

TimestampTz
crm_business_add(TimestampTz ts, int64 usecs, CrmCalendar *cal)
{
	DateADT		day;
	int			n;

	if (usecs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("business duration must not be negative"),
				 errhint("Use crm.business_diff() to measure time backwards.")));
	if (TIMESTAMP_NOT_FINITE(ts))
		return ts;
	if (cal == NULL)
	{
		TimestampTz result;

		if (pg_add_s64_overflow(ts, usecs, &result) || !IS_VALID_TIMESTAMP(result))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		return result;
	}
	if (usecs == 0)
		return ts;
	day = LocalDate(ts, cal);
	for (n = 0; n < CAL_MAX_DAYS; n++, day++)
	{
		int			wd = WeekdayOf(day);
		int			i;

		if (cal->hours.n[wd] == 0 || IsHoliday(cal, day))
			continue;
		for (i = 0; i < cal->hours.n[wd]; i++)
		{
			TimestampTz s = LocalInstant(day, cal->hours.iv[wd][i].start, cal);
			TimestampTz e = LocalInstant(day, cal->hours.iv[wd][i].end, cal);
			TimestampTz from;

			if (e <= ts || e <= s)
				continue;
			from = Max(s, ts);
			if (usecs <= e - from)
				return from + usecs;
			usecs -= e - from;
		}
	}
	NoBusinessTime(cal);
	return 0;					/* keep the compiler quiet */
}

int64
crm_business_diff(TimestampTz from, TimestampTz to, CrmCalendar *cal)
{
	DateADT		day,
				last;
	int64		total = 0;

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot measure business time to or from an infinite timestamp")));
	if (to < from)
		return -crm_business_diff(to, from, cal);
	if (cal == NULL)
		return to - from;
	day = LocalDate(from, cal);
	last = LocalDate(to, cal);
	if (last - day > CAL_MAX_DAYS)
		NoBusinessTime(cal);
	for (; day <= last; day++)
	{
		int			wd = WeekdayOf(day);
		int			i;

		if (cal->hours.n[wd] == 0 || IsHoliday(cal, day))
			continue;
		for (i = 0; i < cal->hours.n[wd]; i++)
		{
			TimestampTz s = LocalInstant(day, cal->hours.iv[wd][i].start, cal);
			TimestampTz e = LocalInstant(day, cal->hours.iv[wd][i].end, cal);

			s = Max(s, from);
			e = Min(e, to);
			if (e > s)
				total += e - s;
		}
	}
	return total;
}

int64
crm_interval_usecs(const Interval *iv)
{
	int64		result;

	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("business duration cannot be given in months"),
				 errdetail("A month has no fixed length in business time."),
				 errhint("Give the duration in days, hours and minutes (a day counts 24 hours).")));
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &result) ||
		pg_add_s64_overflow(result, iv->time, &result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("interval out of range")));
	return result;
}

/* Microseconds as an interval holding only a time part ("26:30:00"). */
static Interval *
UsecsInterval(int64 usecs)
{
	Interval   *r = palloc0(sizeof(Interval));

	r->time = usecs;
	return r;
}

PG_FUNCTION_INFO_V1(business_add);
/* ts plus a duration of business time in a calendar (clock time if NULL). */
Datum
business_add(PG_FUNCTION_ARGS)
{
	CrmCalendar *cal = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(2))
		cal = crm_calendar_get(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_TIMESTAMPTZ(crm_business_add(PG_GETARG_TIMESTAMPTZ(0),
										   crm_interval_usecs(PG_GETARG_INTERVAL_P(1)),
										   cal));
}

PG_FUNCTION_INFO_V1(business_diff);
/* Business time between two instants in a calendar (clock time if NULL). */
Datum
business_diff(PG_FUNCTION_ARGS)
{
	CrmCalendar *cal = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(2))
		cal = crm_calendar_get(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_INTERVAL_P(UsecsInterval(crm_business_diff(PG_GETARG_TIMESTAMPTZ(0),
														 PG_GETARG_TIMESTAMPTZ(1), cal)));
}
