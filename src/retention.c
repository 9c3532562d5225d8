/*
 * retention.c: crm.retention_collect, the state behind cohort retention,
 * repeat purchases and the purchase cycle.
 *
 * The state, crm.retention_state, holds for every customer the first and
 * last purchase, the number of purchases and the set of periods (days,
 * weeks, months, quarters or years, in the session time zone) with a
 * purchase, as a bitmap starting at the customer's first period.  Two
 * states of the same period unit merge exactly: counts add, first and last
 * take the minimum and maximum, the period sets are united.  The sum of the
 * gaps between consecutive purchases of a customer is last - first, over
 * count - 1 gaps, so the mean purchase cycle needs nothing else.
 *
 * While the aggregate runs the state is an expanded object (a hash table
 * updated in place); stored or passed between processes it is a flat value
 * of the customers one after another, then their bitmap words.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crm.h"

#define RET_VERSION 1
#define RET_MAX_SPAN (1 << 20)		/* periods from a customer's first to last */
#define RET_MAXCAP ((int64) 1 << 24)	/* hash slots: 12M customers */
#define RET_MAX_COHORT_RANGE (1 << 22)	/* periods from the first cohort to the end */

enum
{
	RP_DAY,
	RP_WEEK,
	RP_MONTH,
	RP_QUARTER,
	RP_YEAR
};

static const char *const PeriodNames[] = {"day", "week", "month", "quarter", "year"};

/* One customer in the flat form; its nwords bitmap words follow all entries. */
typedef struct RetEntry
{
	int64		customer;
	int64		count;			/* purchases */
	TimestampTz first;			/* first purchase */
	TimestampTz last;			/* last purchase */
	int32		base;			/* period of the first purchase: bit 0 */
	int32		nwords;			/* bitmap words */
} RetEntry;

typedef struct RetFlat
{
	int32		vl_len_;
	int32		version;		/* RET_VERSION */
	int32		period;			/* RP_* */
	int32		unused;
	int64		ncust;			/* entries */
	int64		nwords;			/* bitmap words after the entries */
	RetEntry	e[FLEXIBLE_ARRAY_MEMBER];
} RetFlat;

#define RET_FLAT_HDRSZ offsetof(RetFlat, e)
#define RetFlatWords(f) ((uint64 *) &(f)->e[(f)->ncust])

/* One customer in the hash table of the expanded form. */
typedef struct RetSlot
{
	int64		customer;
	int64		count;			/* 0 marks an empty slot */
	TimestampTz first;
	TimestampTz last;
	int32		base;
	int32		nwords;			/* 1: the bitmap is inl; more: words */
	uint64		inl;
	uint64	   *words;
} RetSlot;

typedef struct RetX
{
	ExpandedObjectHeader hdr;
	int			period;
	int64		used;
	int64		capacity;		/* a power of two */
	RetSlot    *slots;
} RetX;

static inline uint64 *
SlotWords(RetSlot *s)
{
	return s->nwords <= 1 ? &s->inl : s->words;
}

static inline int64
FloorDiv(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Parses a period unit; errors out on anything else. */
static int
ParsePeriod(const char *s, int len)
{
	int			i;

	for (i = 0; i <= RP_YEAR; i++)
		if ((int) strlen(PeriodNames[i]) == len && memcmp(PeriodNames[i], s, len) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("period must be day, week, month, quarter or year, not \"%.*s\"", len, s),
			 errdetail("Purchases are grouped by the period they fall in."),
			 errhint("Pass e.g. 'month'.")));
	return -1;					/* not reached */
}

/* The period of a time, in the session time zone, as a number. */
static int32
PeriodOf(TimestampTz t, int period)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	int64		d;
	long		gmtoff;

	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("purchase time must be finite"),
				 errdetail("An infinite time falls in no period."),
				 errhint("Filter the purchases in a view and pass the view as source.")));
	if (pg_get_timezone_offset(session_timezone, &gmtoff))
	{
		/* a zone without daylight saving time (UTC...): plain arithmetic */
		d = FloorDiv(t + (int64) gmtoff * USECS_PER_SEC, USECS_PER_DAY);
		if (period == RP_DAY)
			return (int32) d;
		if (period == RP_WEEK)
			return (int32) FloorDiv(d - 2, 7);
		j2date((int) (d + POSTGRES_EPOCH_JDATE), &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	}
	else if (timestamp2tm(t, &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("The purchase time cannot be placed in the session time zone."),
				 errhint("Check the purchase times.")));
	switch (period)
	{
		case RP_DAY:
			return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
		case RP_WEEK:
			/* 2000-01-03, day 2, is a Monday: weeks start on Mondays (ISO) */
			d = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
			return (int32) FloorDiv(d - 2, 7);
		case RP_MONTH:
			return tm.tm_year * 12 + tm.tm_mon - 1;
		case RP_QUARTER:
			return tm.tm_year * 4 + (tm.tm_mon - 1) / 3;
		default:
			return tm.tm_year;
	}
}

/* The first day of a period. */
static DateADT
PeriodStart(int64 p, int period)
{
	int64		m;

	switch (period)
	{
		case RP_DAY:
			return (DateADT) p;
		case RP_WEEK:
			return (DateADT) (p * 7 + 2);
		case RP_MONTH:
			m = p;
			break;
		case RP_QUARTER:
			m = p * 3;
			break;
		default:
			m = p * 12;
			break;
	}
	return date2j((int) FloorDiv(m, 12), (int) (m - FloorDiv(m, 12) * 12) + 1, 1) - POSTGRES_EPOCH_JDATE;
}

/* ------------------------------------------------------------------------
 * The expanded form
 * ------------------------------------------------------------------------ */

static inline RetSlot *
XSlot(RetSlot *slots, int64 capacity, int64 customer)
{
	uint64		mask = (uint64) capacity - 1;
	uint64		i = crm_hash_customer(customer) & mask;

	for (;;)
	{
		RetSlot    *s = &slots[i];

		if (s->count == 0 || s->customer == customer)
			return s;
		i = (i + 1) & mask;
	}
}

static RetSlot *
AllocSlots(MemoryContext cxt, int64 capacity)
{
	if (capacity > RET_MAXCAP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many customers for one crm.retention_state"),
				 errdetail("One state holds at most " INT64_FORMAT " customers.", RET_MAXCAP / 4 * 3),
				 errhint("Aggregate the customers in groups, for example by ranges of customer id.")));
	return (RetSlot *) MemoryContextAllocExtended(cxt, capacity * sizeof(RetSlot),
												  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* The slot of a customer, claimed (count still 0) when new; grows the table. */
static RetSlot *
XClaim(RetX *x, int64 customer)
{
	RetSlot    *s = XSlot(x->slots, x->capacity, customer);

	if (s->count != 0)
		return s;
	if ((x->used + 1) * 4 > x->capacity * 3)
	{
		int64		cap = x->capacity * 2;
		RetSlot    *n = AllocSlots(x->hdr.eoh_context, cap);
		int64		i;

		for (i = 0; i < x->capacity; i++)
			if (x->slots[i].count > 0)
				*XSlot(n, cap, x->slots[i].customer) = x->slots[i];
		pfree(x->slots);
		x->slots = n;
		x->capacity = cap;
		s = XSlot(n, cap, customer);
	}
	x->used++;
	s->customer = customer;
	s->nwords = 0;
	s->words = NULL;
	return s;
}

static void
SpanError(int64 customer)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("purchases of customer " INT64_FORMAT " span too many periods", customer),
			 errdetail("A customer's purchases may span at most %d periods.", RET_MAX_SPAN),
			 errhint("Use a longer period unit, or filter the purchase times.")));
}

/* Gives a slot's bitmap room for n words (n > its nwords). */
static void
SlotGrow(RetX *x, RetSlot *s, int64 n)
{
	uint64	   *w;

	if (n < (int64) s->nwords * 2)
		n = (int64) s->nwords * 2;
	if (n > RET_MAX_SPAN / 64)
		n = RET_MAX_SPAN / 64;
	w = (uint64 *) MemoryContextAllocZero(x->hdr.eoh_context, n * sizeof(uint64));
	memcpy(w, SlotWords(s), s->nwords * sizeof(uint64));
	if (s->nwords > 1)
		pfree(s->words);
	s->words = w;
	s->nwords = (int32) n;
}

/* Marks period p active for a customer; bit 0 stays its first period. */
static void
SlotSetBit(RetX *x, RetSlot *s, int32 p)
{
	int64		rel;

	if (s->nwords == 0)
	{
		s->base = p;
		s->nwords = 1;
		s->inl = 1;
		return;
	}
	rel = (int64) p - s->base;
	if (rel < 0)
	{
		/* a new first period: rebuild the bitmap shifted */
		int64		shift = -rel;
		int64		oldn = s->nwords;
		uint64	   *old = SlotWords(s);
		uint64		oldinl = s->inl;
		int64		hi = 0;
		int64		n;
		uint64	   *w;
		int64		i;

		for (i = oldn - 1; i >= 0; i--)
			if (old[i] != 0)
			{
				hi = i * 64 + pg_leftmost_one_pos64(old[i]);
				break;
			}
		if (hi + shift >= RET_MAX_SPAN)
			SpanError(s->customer);
		n = (hi + shift) / 64 + 1;
		w = n > 1 ? (uint64 *) MemoryContextAllocZero(x->hdr.eoh_context, n * sizeof(uint64)) : &s->inl;
		if (n == 1)
			s->inl = 0;
		if (oldn == 1)
			old = &oldinl;
		for (i = 0; i < oldn; i++)
		{
			uint64		v = old[i];

			while (v)
			{
				int64		b = i * 64 + pg_rightmost_one_pos64(v) + shift;

				w[b / 64] |= UINT64CONST(1) << (b % 64);
				v &= v - 1;
			}
		}
		w[0] |= 1;
		if (oldn > 1)
			pfree(old);
		s->words = n > 1 ? w : NULL;
		s->nwords = (int32) n;
		s->base = p;
		return;
	}
	if (rel >= RET_MAX_SPAN)
		SpanError(s->customer);
	if (rel >= (int64) s->nwords * 64)
		SlotGrow(x, s, rel / 64 + 1);
	SlotWords(s)[rel / 64] |= UINT64CONST(1) << (rel % 64);
}

/* Adds one customer's figures (and bitmap) to the table. */
static void
XAdd(RetX *x, const RetEntry *e, const uint64 *words)
{
	RetSlot    *s = XClaim(x, e->customer);
	int64		i;

	if (s->count == 0)
	{
		s->count = e->count;
		s->first = e->first;
		s->last = e->last;
		s->base = e->base;
		s->nwords = e->nwords;
		if (e->nwords == 1)
			s->inl = words[0];
		else
		{
			s->words = (uint64 *) MemoryContextAlloc(x->hdr.eoh_context, e->nwords * sizeof(uint64));
			memcpy(s->words, words, e->nwords * sizeof(uint64));
		}
		return;
	}
	if (pg_add_s64_overflow(s->count, e->count, &s->count))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("purchase count of customer " INT64_FORMAT " is out of range", e->customer),
				 errdetail("The count is a bigint."),
				 errhint("Check the states being combined.")));
	if (e->first < s->first)
		s->first = e->first;
	if (e->last > s->last)
		s->last = e->last;
	for (i = 0; i < e->nwords; i++)
	{
		uint64		v = words[i];

		while (v)
		{
			SlotSetBit(x, s, (int32) (e->base + i * 64 + pg_rightmost_one_pos64(v)));
			v &= v - 1;
		}
	}
}

/* Bitmap words of a slot without the trailing zero ones. */
static int32
SlotUsedWords(RetSlot *s)
{
	uint64	   *w = SlotWords(s);
	int32		n = s->nwords;

	while (n > 1 && w[n - 1] == 0)
		n--;
	return n;
}

static Size
RetXGetFlatSize(ExpandedObjectHeader *eohptr)
{
	RetX	   *x = (RetX *) eohptr;
	int64		i,
				words = 0;
	Size		sz;

	for (i = 0; i < x->capacity; i++)
		if (x->slots[i].count > 0)
			words += SlotUsedWords(&x->slots[i]);
	sz = RET_FLAT_HDRSZ + x->used * sizeof(RetEntry) + words * sizeof(uint64);
	if (sz > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("crm.retention_state too large"),
				 errdetail("The state of " INT64_FORMAT " customers would exceed 1 GB.", x->used),
				 errhint("Aggregate the customers in groups, for example by ranges of customer id.")));
	return sz;
}

/* An entry of a flat state with its bitmap words. */
typedef struct EntryRef
{
	const RetEntry *e;
	const uint64 *w;
} EntryRef;

static int
EntryRefCmp(const void *a, const void *b)
{
	int64		p = ((const EntryRef *) a)->e->customer;
	int64		q = ((const EntryRef *) b)->e->customer;

	return p < q ? -1 : (p > q ? 1 : 0);
}

/* The entries of a flat state ordered by customer, for a stable text form. */
static EntryRef *
SortedEntries(RetFlat *f)
{
	EntryRef   *v = (EntryRef *) palloc_extended(Max(f->ncust, 1) * sizeof(EntryRef), MCXT_ALLOC_HUGE);
	const uint64 *w = RetFlatWords(f);
	int64		i;

	for (i = 0; i < f->ncust; i++)
	{
		v[i].e = &f->e[i];
		v[i].w = w;
		w += f->e[i].nwords;
	}
	qsort(v, f->ncust, sizeof(EntryRef), EntryRefCmp);
	return v;
}

/* The flat form: the customers in hash order (text output sorts them). */
static void
RetXFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	RetX	   *x = (RetX *) eohptr;
	RetFlat    *f = (RetFlat *) result;
	uint64	   *w;
	int64		i,
				n = 0;

	memset(f, 0, RET_FLAT_HDRSZ);
	SET_VARSIZE(f, allocated_size);
	f->version = RET_VERSION;
	f->period = x->period;
	f->ncust = x->used;
	w = RetFlatWords(f);
	for (i = 0; i < x->capacity; i++)
	{
		RetSlot    *s = &x->slots[i];
		RetEntry   *e;
		int32		nw;

		if (s->count == 0)
			continue;
		e = &f->e[n++];
		nw = SlotUsedWords(s);
		e->customer = s->customer;
		e->count = s->count;
		e->first = s->first;
		e->last = s->last;
		e->base = s->base;
		e->nwords = nw;
		memcpy(w, SlotWords(s), nw * sizeof(uint64));
		w += nw;
		f->nwords += nw;
	}
	Assert(n == x->used);
	Assert((char *) w - (char *) f == (ptrdiff_t) allocated_size);
}

static const ExpandedObjectMethods RetXMethods = {
	RetXGetFlatSize,
	RetXFlattenInto
};

static RetX *
RetXMake(MemoryContext parent, int period, int64 n)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "crm.retention_state", ALLOCSET_DEFAULT_SIZES);
	RetX	   *x = (RetX *) MemoryContextAllocZero(cxt, sizeof(RetX));
	int64		cap = 1024;

	while (n * 4 > cap * 3)
		cap *= 2;
	EOH_init_header(&x->hdr, &RetXMethods, cxt);
	x->period = period;
	x->capacity = cap;
	x->slots = AllocSlots(cxt, cap);
	return x;
}

static void
BadState(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid crm.retention_state value"),
			 errdetail("%s", detail),
			 errhint("Use a value produced by crm.retention_collect.")));
}

/* A flat state from any crm.retention_state datum, checked for shape. */
static RetFlat *
RetFlatFrom(Datum d)
{
	RetFlat    *f;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);
		Size		sz = EOH_get_flat_size(eoh);

		f = (RetFlat *) palloc(sz);
		EOH_flatten_into(eoh, f, sz);
		return f;
	}
	f = (RetFlat *) PG_DETOAST_DATUM(d);
	if (VARSIZE(f) < RET_FLAT_HDRSZ || f->version != RET_VERSION ||
		f->period < RP_DAY || f->period > RP_YEAR || f->ncust < 0 || f->nwords < 0 ||
		VARSIZE(f) != RET_FLAT_HDRSZ + f->ncust * sizeof(RetEntry) + f->nwords * sizeof(uint64))
		BadState("The value's header does not match its size.");
	{
		/* each customer's bitmap within the value, its first period set */
		const uint64 *w = RetFlatWords(f);
		int64		i,
					words = 0;

		for (i = 0; i < f->ncust; i++)
		{
			int32		nw = f->e[i].nwords;

			if (nw < 1 || nw > RET_MAX_SPAN / 64 || words + nw > f->nwords || (w[words] & 1) == 0)
				BadState("A customer's bitmap does not fit the value or lacks its first period.");
			words += nw;
		}
		if (words != f->nwords)
			BadState("The bitmaps do not fill the value.");
	}
	return f;
}

/* Merges a flat state into an expanded one. */
static void
RetXMerge(RetX *x, RetFlat *f)
{
	const uint64 *w = RetFlatWords(f);
	int64		i;

	if (f->period != x->period)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine retention states by %s and by %s",
						PeriodNames[x->period], PeriodNames[f->period]),
				 errdetail("The active periods of both must be of the same unit."),
				 errhint("Collect both with the same period.")));
	for (i = 0; i < f->ncust; i++)
	{
		XAdd(x, &f->e[i], w);
		w += f->e[i].nwords;
	}
}

/* The expanded state of an aggregate's first argument: ours to change, or a new one. */
static RetX *
RetXFromState(FunctionCallInfo fcinfo, MemoryContext aggcontext, int period)
{
	Datum		d = PG_GETARG_DATUM(0);
	RetFlat    *f;
	RetX	   *x;

	if (PG_ARGISNULL(0))
		return RetXMake(aggcontext, period, 0);
	if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		x = (RetX *) DatumGetEOHP(d);
		if (x->hdr.eoh_methods == &RetXMethods)
			return x;
	}
	f = RetFlatFrom(d);
	x = RetXMake(aggcontext, f->period, f->ncust);
	RetXMerge(x, f);
	return x;
}

/* ------------------------------------------------------------------------
 * Text and binary forms
 *   {month:(customer,purchases,first,last,{period start,...}),...}
 * times in ISO 8601 at UTC, period starts as ISO dates
 * ------------------------------------------------------------------------ */

static void
AppendIsoUtc(StringInfo buf, TimestampTz t)
{
	if (!crm_append_iso_utc(buf, t))
		BadState("A purchase time cannot be written.");
}

static void
AppendDate(StringInfo buf, DateADT d)
{
	char		s[MAXDATELEN + 1];
	struct pg_tm tm;

	j2date(d + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	EncodeDateOnly(&tm, USE_ISO_DATES, s);
	appendStringInfoString(buf, s);
}

/* The period of a date that must be the first day of one. */
static int32
PeriodOfStart(DateADT d, int period)
{
	struct pg_tm tm;
	int64		p;

	if (DATE_NOT_FINITE(d))
		BadState("A period start must be a finite date.");
	j2date(d + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	switch (period)
	{
		case RP_DAY:
			p = d;
			break;
		case RP_WEEK:
			p = FloorDiv((int64) d - 2, 7);
			break;
		case RP_MONTH:
			p = (int64) tm.tm_year * 12 + tm.tm_mon - 1;
			break;
		case RP_QUARTER:
			p = (int64) tm.tm_year * 4 + (tm.tm_mon - 1) / 3;
			break;
		default:
			p = tm.tm_year;
			break;
	}
	if (PeriodStart(p, period) != d)
		BadState("Each active period is written as its first day.");
	return (int32) p;
}

/* Checks one customer read from outside. */
static void
CheckSlot(RetSlot *s)
{
	uint64	   *w = SlotWords(s);
	int64		bits = 0;
	int32		i;

	for (i = 0; i < s->nwords; i++)
		bits += pg_popcount64(w[i]);
	if (s->count < 1 || s->first > s->last || bits == 0 || bits > s->count ||
		TIMESTAMP_NOT_FINITE(s->first) || TIMESTAMP_NOT_FINITE(s->last) ||
		(s->count == 1 && s->first != s->last))
		BadState("Each customer needs a purchase count of at least one, first <= last and one to count active periods.");
}

static RetSlot *
ClaimNew(RetX *x, int64 customer)
{
	RetSlot    *s = XClaim(x, customer);

	if (s->count != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("customer " INT64_FORMAT " appears twice in a crm.retention_state value", customer),
				 errdetail("Each customer has one entry."),
				 errhint("Use a value produced by crm.retention_collect.")));
	return s;
}

static Datum
FlatDatum(RetX *x)
{
	Size		sz = EOH_get_flat_size(&x->hdr);
	void	   *f = palloc(sz);

	EOH_flatten_into(&x->hdr, f, sz);
	MemoryContextDelete(x->hdr.eoh_context);
	return PointerGetDatum(f);
}

PG_FUNCTION_INFO_V1(retention_state_in);
Datum
retention_state_in(PG_FUNCTION_ARGS)
{
	char	   *p = pstrdup(PG_GETARG_CSTRING(0));
	char	   *colon;
	RetX	   *x;

	if (*p++ != '{' || (colon = strchr(p, ':')) == NULL)
		goto syntax;
	x = RetXMake(CurrentMemoryContext, ParsePeriod(p, (int) (colon - p)), 0);
	p = colon + 1;
	while (*p == '(')
	{
		char	   *f[4];
		int			k;
		int64		customer;
		RetSlot    *s;

		p++;
		for (k = 0; k < 4; k++)
		{
			f[k] = p;
			p += strcspn(p, ",");
			if (*p != ',')
				goto syntax;
			*p++ = '\0';
		}
		customer = pg_strtoint64(f[0]);
		s = ClaimNew(x, customer);
		s->count = pg_strtoint64(f[1]);
		s->first = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(f[2]),
														   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		s->last = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(f[3]),
														  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		if (*p++ != '{')
			goto syntax;
		while (*p != '}')
		{
			char	   *d = p;

			p += strcspn(p, ",}");
			if (*p == '\0' || p == d)
				goto syntax;
			k = *p;
			*p = '\0';
			SlotSetBit(x, s, PeriodOfStart(DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(d))),
										   x->period));
			*p = (char) k;
			if (*p == ',')
				p++;
		}
		p++;
		if (*p++ != ')')
			goto syntax;
		CheckSlot(s);
		if (*p == ',')
			p++;
		else
			break;
	}
	if (*p++ != '}' || *p != '\0')
		goto syntax;
	return FlatDatum(x);

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.retention_state"),
			 errdetail("The text form is {period:(customer,purchases,first purchase,last purchase,{active period,...}),...}."),
			 errhint("Use a value produced by crm.retention_collect.")));
	PG_RETURN_NULL();			/* not reached */
}

PG_FUNCTION_INFO_V1(retention_state_out);
Datum
retention_state_out(PG_FUNCTION_ARGS)
{
	RetFlat    *f = RetFlatFrom(PG_GETARG_DATUM(0));
	EntryRef   *v = SortedEntries(f);
	StringInfoData buf;
	int64		i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{%s:", PeriodNames[f->period]);
	for (i = 0; i < f->ncust; i++)
	{
		const RetEntry *e = v[i].e;
		const uint64 *w = v[i].w;
		bool		firstbit = true;
		int32		k;

		appendStringInfo(&buf, "%s(" INT64_FORMAT "," INT64_FORMAT ",", i ? "," : "", e->customer, e->count);
		AppendIsoUtc(&buf, e->first);
		appendStringInfoChar(&buf, ',');
		AppendIsoUtc(&buf, e->last);
		appendStringInfoString(&buf, ",{");
		for (k = 0; k < e->nwords; k++)
		{
			uint64		v = w[k];

			while (v)
			{
				if (!firstbit)
					appendStringInfoChar(&buf, ',');
				firstbit = false;
				AppendDate(&buf, PeriodStart((int64) e->base + k * 64 + pg_rightmost_one_pos64(v), f->period));
				v &= v - 1;
			}
		}
		appendStringInfoString(&buf, "})");
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(retention_state_send);
Datum
retention_state_send(PG_FUNCTION_ARGS)
{
	RetFlat    *f = RetFlatFrom(PG_GETARG_DATUM(0));
	EntryRef   *v = SortedEntries(f);
	StringInfoData buf;
	int64		i;
	int32		k;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, f->period);
	pq_sendint64(&buf, f->ncust);
	for (i = 0; i < f->ncust; i++)
	{
		const RetEntry *e = v[i].e;
		const uint64 *w = v[i].w;

		pq_sendint64(&buf, e->customer);
		pq_sendint64(&buf, e->count);
		pq_sendint64(&buf, e->first);
		pq_sendint64(&buf, e->last);
		pq_sendint32(&buf, e->base);
		pq_sendint32(&buf, e->nwords);
		for (k = 0; k < e->nwords; k++)
			pq_sendint64(&buf, (int64) w[k]);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(retention_state_recv);
Datum
retention_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			period = pq_getmsgint(buf, 4);
	int64		n;
	int64		i;
	RetX	   *x;

	if (period < RP_DAY || period > RP_YEAR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.retention_state: bad period %d", period),
				 errdetail("The period is a number from 0 (day) to 4 (year)."),
				 errhint("Send the value crm.retention_state's send function produced.")));
	n = pq_getmsgint64(buf);
	if (n < 0 || n > (buf->len - buf->cursor) / 48)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.retention_state: bad count " INT64_FORMAT, n),
				 errdetail("The message is shorter than the count it announces."),
				 errhint("Send the value crm.retention_state's send function produced.")));
	x = RetXMake(CurrentMemoryContext, period, n);
	for (i = 0; i < n; i++)
	{
		int64		customer = pq_getmsgint64(buf);
		RetSlot    *s = ClaimNew(x, customer);
		int32		base,
					nw,
					k;

		s->count = pq_getmsgint64(buf);
		s->first = pq_getmsgint64(buf);
		s->last = pq_getmsgint64(buf);
		base = pq_getmsgint(buf, 4);
		nw = pq_getmsgint(buf, 4);
		if (nw < 1 || nw > RET_MAX_SPAN / 64)
			BadState("A customer's bitmap has 1 to 16384 words.");
		for (k = 0; k < nw; k++)
		{
			uint64		v = (uint64) pq_getmsgint64(buf);

			while (v)
			{
				SlotSetBit(x, s, (int32) ((int64) base + k * 64 + pg_rightmost_one_pos64(v)));
				v &= v - 1;
			}
		}
		CheckSlot(s);
	}
	pq_getmsgend(buf);
	return FlatDatum(x);
}

/* ------------------------------------------------------------------------
 * The aggregate
 * ------------------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(retention_collect_trans);
/*
 * Transition of crm.retention_collect(customer, time [, period]): one
 * purchase; rows with a NULL customer or time are skipped.
 */
Datum
retention_collect_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RetX	   *x;
	RetSlot    *s;
	int			period = RP_MONTH;
	int64		customer;
	TimestampTz t;
	int32		p;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "retention_collect_trans called in non-aggregate context");
	if (PG_NARGS() > 3)
	{
		text	   *u;

		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("period must not be NULL"),
					 errdetail("Purchases are grouped by the period they fall in."),
					 errhint("Pass e.g. 'month'.")));
		u = PG_GETARG_TEXT_PP(3);
		period = ParsePeriod(VARDATA_ANY(u), VARSIZE_ANY_EXHDR(u));
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	customer = PG_GETARG_INT64(1);
	t = PG_GETARG_TIMESTAMPTZ(2);
	p = PeriodOf(t, period);
	x = RetXFromState(fcinfo, aggcontext, period);
	if (x->period != period)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period changed from %s to %s within one crm.retention_collect",
						PeriodNames[x->period], PeriodNames[period]),
				 errdetail("All rows of one aggregate use the same period unit."),
				 errhint("Pass a constant period.")));
	s = XClaim(x, customer);
	if (s->count == 0)
	{
		s->count = 1;
		s->first = s->last = t;
		s->base = p;
		s->nwords = 1;
		s->inl = 1;
	}
	else
	{
		if (unlikely(s->count == PG_INT64_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("purchase count of customer " INT64_FORMAT " is out of range", customer),
					 errdetail("The count is a bigint."),
					 errhint("Check the purchase table.")));
		s->count++;
		if (t < s->first)
			s->first = t;
		if (t > s->last)
			s->last = t;
		SlotSetBit(x, s, p);
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&x->hdr));
}

PG_FUNCTION_INFO_V1(retention_collect_combine);
Datum
retention_collect_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RetX	   *x;
	RetFlat    *b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "retention_collect_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = RetFlatFrom(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		x = RetXMake(aggcontext, b->period, b->ncust);
	else
		x = RetXFromState(fcinfo, aggcontext, b->period);
	RetXMerge(x, b);
	if ((Pointer) b != DatumGetPointer(PG_GETARG_DATUM(1)))
		pfree(b);
	PG_RETURN_DATUM(EOHPGetRWDatum(&x->hdr));
}

PG_FUNCTION_INFO_V1(retention_collect_final);
Datum
retention_collect_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(RetFlatFrom(PG_GETARG_DATUM(0)));
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(retention_cohorts);
/*
 * crm.retention_cohorts(state, periods): for each cohort (period of the
 * first purchase) and each period 0..periods after it, up to the last period
 * with a purchase in the state, the customers of the cohort active in it.
 */
Datum
retention_cohorts(PG_FUNCTION_ARGS)
{
	RetFlat    *f = RetFlatFrom(PG_GETARG_DATUM(0));
	int32		periods = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const uint64 *w;
	int64		i,
				minc = PG_INT64_MAX,
				lastp = PG_INT64_MIN,
				range,
				cells = 0;
	int64	   *sizes;
	int64	  **active;

	if (periods < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods must be zero or more, not %d", periods),
				 errdetail("It is how many periods after the first are reported."),
				 errhint("Pass e.g. 12.")));
	InitMaterializedSRF(fcinfo, 0);
	if (f->ncust == 0)
		return (Datum) 0;
	/* first cohort and last active period */
	w = RetFlatWords(f);
	for (i = 0; i < f->ncust; i++)
	{
		RetEntry   *e = &f->e[i];
		int32		k = e->nwords - 1;

		while (k > 0 && w[k] == 0)
			k--;
		if (e->base < minc)
			minc = e->base;
		if (w[k] != 0 && (int64) e->base + k * 64 + pg_leftmost_one_pos64(w[k]) > lastp)
			lastp = (int64) e->base + k * 64 + pg_leftmost_one_pos64(w[k]);
		w += e->nwords;
	}
	range = lastp - minc + 1;
	if (range > RET_MAX_COHORT_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("purchases span too many periods for a cohort table"),
				 errdetail("They span " INT64_FORMAT " periods; at most %d are supported.", range, RET_MAX_COHORT_RANGE),
				 errhint("Use a longer period unit, or filter the purchase times.")));
	sizes = (int64 *) palloc0(range * sizeof(int64));
	active = (int64 **) palloc0(range * sizeof(int64 *));
	w = RetFlatWords(f);
	for (i = 0; i < f->ncust; i++)
	{
		RetEntry   *e = &f->e[i];
		int64		c = e->base - minc;
		int64		len = Min((int64) periods, lastp - e->base) + 1;
		int32		k;

		if (active[c] == NULL)
		{
			cells += len;
			if (cells > (int64) (MaxAllocSize / sizeof(int64)))
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("cohort table too large"),
						 errdetail("It would have more than " INT64_FORMAT " rows.", (int64) (MaxAllocSize / sizeof(int64))),
						 errhint("Pass a smaller number of periods or a longer period unit.")));
			active[c] = (int64 *) palloc0(len * sizeof(int64));
		}
		sizes[c]++;
		for (k = 0; k < e->nwords && (int64) k * 64 < len; k++)
		{
			uint64		v = w[k];

			while (v)
			{
				int64		b = (int64) k * 64 + pg_rightmost_one_pos64(v);

				if (b >= len)
					break;
				active[c][b]++;
				v &= v - 1;
			}
		}
		w += e->nwords;
	}
	for (i = 0; i < range; i++)
	{
		int64		len,
					k;

		if (sizes[i] == 0)
			continue;
		len = Min((int64) periods, lastp - (minc + i)) + 1;
		for (k = 0; k < len; k++)
		{
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			values[0] = DateADTGetDatum(PeriodStart(minc + i, f->period));
			values[1] = Int64GetDatum(sizes[i]);
			values[2] = Int32GetDatum((int32) k);
			values[3] = Int64GetDatum(active[i][k]);
			values[4] = Float8GetDatum((double) active[i][k] / (double) sizes[i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(retention_kpis);
/*
 * crm.retention_kpis(state): customers, repeat customers and their share,
 * purchases and purchases per customer, mean days between consecutive
 * purchases of the same customer.  A NULL state (no purchases) gives zero
 * counts and NULL ratios.
 */
Datum
retention_kpis(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		customers = 0,
				repeat = 0,
				purchases = 0,
				gaps = 0;
	int128		span = 0;		/* microseconds from first to last, summed */
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (!PG_ARGISNULL(0))
	{
		RetFlat    *f = RetFlatFrom(PG_GETARG_DATUM(0));
		int64		i;

		for (i = 0; i < f->ncust; i++)
		{
			RetEntry   *e = &f->e[i];

			customers++;
			if (e->count > 1)
				repeat++;
			if (pg_add_s64_overflow(purchases, e->count, &purchases))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("purchase count out of range"),
						 errdetail("The total is a bigint."),
						 errhint("Check the state.")));
			gaps += e->count - 1;
			span += (int128) e->last - (int128) e->first;
		}
	}
	values[0] = Int64GetDatum(customers);
	values[1] = Int64GetDatum(repeat);
	values[2] = Float8GetDatum((double) repeat / (double) customers);
	nulls[2] = customers == 0;
	values[3] = Int64GetDatum(purchases);
	values[4] = Float8GetDatum((double) purchases / (double) customers);
	nulls[4] = customers == 0;
	values[5] = Float8GetDatum((double) span / (double) USECS_PER_DAY / (double) gaps);
	nulls[5] = gaps == 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
