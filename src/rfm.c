/*
 * rfm.c: RFM scoring.
 *
 *   crm.rfm         three scores 1..5 in two bytes, ordered, with accessors
 *   crm.rfm_state   transition state of crm.rfm_stats() (a varlena with an
 *                   exact text and binary form, so partial aggregates can be
 *                   combined by parallel query and shipped between nodes)
 *   crm.rfm_sample  transition state of crm.rfm_breaks(): the values seen
 *   crm.rfm_score() scoring against quantile breaks
 *   crm.rfm_table   state of crm.rfm_collect(): every customer of a table
 *                   (purchases, last purchase, exact spend): a hash table
 *                   (an expanded object) while aggregating, dense when flat
 *   crm.rfm_analyze() one pass over a purchase table: per-customer recency,
 *                   frequency and monetary, exact quintile breaks, scores and
 *                   segments
 *
 * The quantile rule (shared by crm.rfm_breaks and crm.rfm_analyze): with the
 * N values of a measure sorted ascending as x(1) <= ... <= x(N), break k
 * (k = 1..4) is x(ceil(k * N / 5)).  Frequency and monetary score
 * 1 + #{k : x > break k}; recency (days, lower is better) scores
 * 5 - #{k : x > break k}.  Equal values therefore always get the same score.
 */
#include "postgres.h"

#include <math.h>
#include <sys/mman.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/paths.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/dsm_impl.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/dsa.h"
#include "utils/expandeddatum.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crm.h"

#if PG_VERSION_NUM < 150000
#error "the rfm module needs PostgreSQL 15 or later (InitMaterializedSRF)"
#endif

/* ------------------------------------------------------------------------
 * crm.rfm: stored as the int16 r * 100 + f * 10 + m, so integer order is the
 * lexicographic order of (r, f, m).
 * ------------------------------------------------------------------------ */

#define RFM_CODE(r, f, m)	((int16) ((r) * 100 + (f) * 10 + (m)))
#define RFM_R(c)			((c) / 100)
#define RFM_F(c)			(((c) / 10) % 10)
#define RFM_M(c)			((c) % 10)

/* True when every digit of a code is a score from 1 to 5. */
static inline bool
RfmCodeIsValid(int code)
{
	return code >= 111 && code <= 555 &&
		RFM_R(code) >= 1 && RFM_R(code) <= 5 &&
		RFM_F(code) >= 1 && RFM_F(code) <= 5 &&
		RFM_M(code) >= 1 && RFM_M(code) <= 5;
}

/* Rejects a single score outside 1..5. */
static inline void
CheckScore(const char *what, int score)
{
	if (score < 1 || score > 5)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s score %d is out of range", what, score),
				 errdetail("Each RFM score is an integer from 1 to 5."),
				 errhint("Pass scores such as crm.rfm(5, 4, 3).")));
}

/* Parses '543' or '5-4-3' (surrounding blanks allowed). */
static int16
RfmParse(const char *str)
{
	const char *p = str;
	int			digits[3];
	int			i;
	bool		dashed = false;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	for (i = 0; i < 3; i++)
	{
		if (i > 0)
		{
			if (i == 1 && *p == '-')
				dashed = true;
			if (dashed)
			{
				if (*p != '-')
					goto syntax;
				p++;
			}
		}
		if (*p < '0' || *p > '9')
			goto syntax;
		digits[i] = *p - '0';
		p++;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != '\0')
		goto syntax;
	for (i = 0; i < 3; i++)
		if (digits[i] < 1 || digits[i] > 5)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("RFM score \"%s\" is out of range", str),
					 errdetail("Each of the three scores must be from 1 to 5; %c is not.",
							   '0' + digits[i]),
					 errhint("Write three digits from 1 to 5, such as 543.")));
	return RFM_CODE(digits[0], digits[1], digits[2]);

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm: \"%s\"", str),
			 errdetail("An RFM score is three digits from 1 to 5: recency, frequency, monetary."),
			 errhint("Write it like 543 or 5-4-3.")));
	return 0;					/* not reached */
}

PG_FUNCTION_INFO_V1(rfm_in);
/* Text input of crm.rfm. */
Datum
rfm_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(RfmParse(PG_GETARG_CSTRING(0)));
}

PG_FUNCTION_INFO_V1(rfm_out);
/* Text output of crm.rfm: three digits. */
Datum
rfm_out(PG_FUNCTION_ARGS)
{
	int16		c = PG_GETARG_INT16(0);
	char	   *s = palloc(4);

	s[0] = '0' + RFM_R(c);
	s[1] = '0' + RFM_F(c);
	s[2] = '0' + RFM_M(c);
	s[3] = '\0';
	PG_RETURN_CSTRING(s);
}

PG_FUNCTION_INFO_V1(rfm_recv);
/* Binary input of crm.rfm: an int16 code, validated like text input. */
Datum
rfm_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			c = (int16) pq_getmsgint(buf, 2);

	if (!RfmCodeIsValid(c))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value %d for type crm.rfm", c),
				 errdetail("The binary form is r * 100 + f * 10 + m with each score from 1 to 5."),
				 errhint("Send the value crm.rfm's send function produced.")));
	PG_RETURN_INT16((int16) c);
}

PG_FUNCTION_INFO_V1(rfm_send);
/* Binary output of crm.rfm. */
Datum
rfm_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, PG_GETARG_INT16(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(rfm_make);
/* crm.rfm(r, f, m): builds a score from three integers 1..5. */
Datum
rfm_make(PG_FUNCTION_ARGS)
{
	int32		r = PG_GETARG_INT32(0);
	int32		f = PG_GETARG_INT32(1);
	int32		m = PG_GETARG_INT32(2);

	CheckScore("recency", r);
	CheckScore("frequency", f);
	CheckScore("monetary", m);
	PG_RETURN_INT16(RFM_CODE(r, f, m));
}

PG_FUNCTION_INFO_V1(rfm_r);
/* Recency score of an RFM score. */
Datum
rfm_r(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_R(PG_GETARG_INT16(0)));
}

PG_FUNCTION_INFO_V1(rfm_f);
/* Frequency score of an RFM score. */
Datum
rfm_f(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_F(PG_GETARG_INT16(0)));
}

PG_FUNCTION_INFO_V1(rfm_m);
/* Monetary score of an RFM score. */
Datum
rfm_m(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_M(PG_GETARG_INT16(0)));
}

PG_FUNCTION_INFO_V1(rfm_cmp);
/* Three-way comparison for the btree opclass. */
Datum
rfm_cmp(PG_FUNCTION_ARGS)
{
	int16		a = PG_GETARG_INT16(0);
	int16		b = PG_GETARG_INT16(1);

	PG_RETURN_INT32(a < b ? -1 : (a > b ? 1 : 0));
}

PG_FUNCTION_INFO_V1(rfm_eq);
/* a = b */
Datum
rfm_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) == PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_ne);
/* a <> b */
Datum
rfm_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) != PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_lt);
/* a < b */
Datum
rfm_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) < PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_le);
/* a <= b */
Datum
rfm_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) <= PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_gt);
/* a > b */
Datum
rfm_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) > PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_ge);
/* a >= b */
Datum
rfm_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT16(0) >= PG_GETARG_INT16(1));
}

PG_FUNCTION_INFO_V1(rfm_hash);
/* Hash for the hash opclass. */
Datum
rfm_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_INT16(0));
}

PG_FUNCTION_INFO_V1(rfm_hash_extended);
/* Seeded 64-bit hash for the hash opclass. */
Datum
rfm_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_uint32_extended((uint32) PG_GETARG_INT16(0), PG_GETARG_INT64(1));
}

/* ------------------------------------------------------------------------
 * crm.rfm_state and the aggregate crm.rfm_stats(timestamptz, numeric)
 * ------------------------------------------------------------------------ */

#define RFM_STATE_VERSION 1

typedef struct RfmState
{
	int32		vl_len_;		/* varlena header */
	int32		version;		/* RFM_STATE_VERSION */
	int64		count;			/* purchases, >= 1 */
	TimestampTz first;			/* earliest purchase */
	TimestampTz last;			/* latest purchase */
	char		total[FLEXIBLE_ARRAY_MEMBER];	/* numeric varlena: total spend */
} RfmState;

#define RFM_STATE_HDRSZ offsetof(RfmState, total)
#define RfmStateTotal(s) ((Numeric) (s)->total)

/* Allocates a state in the current memory context. */
static RfmState *
RfmStateMake(int64 count, TimestampTz first, TimestampTz last, Numeric total)
{
	Size		sz = RFM_STATE_HDRSZ + VARSIZE(total);
	RfmState   *s = (RfmState *) palloc(sz);

	SET_VARSIZE(s, sz);
	s->version = RFM_STATE_VERSION;
	s->count = count;
	s->first = first;
	s->last = last;
	memcpy(s->total, total, VARSIZE(total));
	return s;
}

/* Sets a state's total, in place when the size allows, else in a new copy. */
static RfmState *
RfmStateSetTotal(RfmState *s, Numeric total)
{
	if (VARSIZE(total) == VARSIZE(RfmStateTotal(s)))
	{
		memcpy(s->total, total, VARSIZE(total));
		return s;
	}
	return RfmStateMake(s->count, s->first, s->last, total);
}

/* Rejects a state from outside (text or binary input) that is not sound. */
static void
CheckRfmState(int64 count, TimestampTz first, TimestampTz last)
{
	if (count < 1 || first > last)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid crm.rfm_state value"),
				 errdetail("The count must be at least 1 and the first purchase must not be after the last."),
				 errhint("Use a value produced by crm.rfm_stats.")));
}

PG_FUNCTION_INFO_V1(rfm_state_in);
/* Text input of crm.rfm_state: (first,last,count,total). */
Datum
rfm_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = pstrdup(PG_GETARG_CSTRING(0));
	char	   *fields[4];
	char	   *p = str;
	char	   *end;
	int			n = 0;
	TimestampTz first,
				last;
	int64		count;
	Numeric		total;

	while (isspace((unsigned char) *p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char) end[-1]))
		end--;
	if (*p != '(' || end - p < 2 || end[-1] != ')')
		goto syntax;
	end[-1] = '\0';
	p++;
	fields[n++] = p;
	for (; *p; p++)
	{
		if (*p == ',')
		{
			if (n == 4)
				goto syntax;
			*p = '\0';
			fields[n++] = p + 1;
		}
	}
	if (n != 4)
		goto syntax;
	first = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(fields[0]),
													ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	last = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(fields[1]),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	count = pg_strtoint64(fields[2]);
	total = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(fields[3]),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	CheckRfmState(count, first, last);
	PG_RETURN_POINTER(RfmStateMake(count, first, last, total));

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm_state: \"%s\"", PG_GETARG_CSTRING(0)),
			 errdetail("The text form is (first purchase,last purchase,count,total)."),
			 errhint("Use a value produced by crm.rfm_stats.")));
	PG_RETURN_NULL();			/* not reached */
}

/*
 * Writes a time in ISO 8601 at UTC ("2024-01-01 10:00:00+00"), whatever
 * DateStyle and TimeZone say, so the text form reads back the same anywhere.
 */
static void
AppendIsoUtc(StringInfo buf, TimestampTz t)
{
	if (TIMESTAMP_NOT_FINITE(t))
	{
		char		s[MAXDATELEN + 1];

		EncodeSpecialTimestamp(t, s);
		appendStringInfoString(buf, s);
	}
	else if (!crm_append_iso_utc(buf, t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("A crm.rfm_state holds a time that cannot be written."),
				 errhint("Check the purchase times.")));
}

PG_FUNCTION_INFO_V1(rfm_state_out);
/* Text output of crm.rfm_state: (first,last,count,total), times in ISO 8601 at UTC. */
Datum
rfm_state_out(PG_FUNCTION_ARGS)
{
	RfmState   *s = (RfmState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	AppendIsoUtc(&buf, s->first);
	appendStringInfoChar(&buf, ',');
	AppendIsoUtc(&buf, s->last);
	appendStringInfo(&buf, "," INT64_FORMAT ",%s)", s->count,
					 DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(RfmStateTotal(s)))));
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(rfm_state_send);
/* Binary output of crm.rfm_state. */
Datum
rfm_state_send(PG_FUNCTION_ARGS)
{
	RfmState   *s = (RfmState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	bytea	   *num = DatumGetByteaPP(DirectFunctionCall1(numeric_send, NumericGetDatum(RfmStateTotal(s))));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->first);
	pq_sendint64(&buf, s->last);
	pq_sendint64(&buf, s->count);
	pq_sendint32(&buf, VARSIZE_ANY_EXHDR(num));
	pq_sendbytes(&buf, VARDATA_ANY(num), VARSIZE_ANY_EXHDR(num));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(rfm_state_recv);
/* Binary input of crm.rfm_state. */
Datum
rfm_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	TimestampTz first = pq_getmsgint64(buf);
	TimestampTz last = pq_getmsgint64(buf);
	int64		count = pq_getmsgint64(buf);
	int			len = pq_getmsgint(buf, 4);
	StringInfoData sub;
	Numeric		total;

	if (len < 0 || len > buf->len - buf->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.rfm_state: bad total length %d", len),
				 errdetail("The message is shorter than the length it announces."),
				 errhint("Send the value crm.rfm_state's send function produced.")));
	initStringInfo(&sub);
	appendBinaryStringInfo(&sub, pq_getmsgbytes(buf, len), len);
	total = DatumGetNumeric(DirectFunctionCall3(numeric_recv, PointerGetDatum(&sub),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	pq_getmsgend(buf);
	CheckRfmState(count, first, last);
	PG_RETURN_POINTER(RfmStateMake(count, first, last, total));
}

PG_FUNCTION_INFO_V1(rfm_stats_trans);
/* Transition of crm.rfm_stats: counts a purchase; rows with a NULL are skipped. */
Datum
rfm_stats_trans(PG_FUNCTION_ARGS)
{
	RfmState   *s;
	TimestampTz t;
	Numeric		amount;
	Numeric		total;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_stats_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	t = PG_GETARG_TIMESTAMPTZ(1);
	amount = PG_GETARG_NUMERIC(2);
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(RfmStateMake(1, t, t, amount));

	/* The state lives in the aggregate context: update it in place. */
	s = (RfmState *) PG_GETARG_POINTER(0);
	s->count++;
	if (t < s->first)
		s->first = t;
	if (t > s->last)
		s->last = t;
	total = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(RfmStateTotal(s)),
												NumericGetDatum(amount)));
	PG_RETURN_POINTER(RfmStateSetTotal(s, total));
}

PG_FUNCTION_INFO_V1(rfm_stats_combine);
/* Combine of crm.rfm_stats: merges two partial states (either may be NULL). */
Datum
rfm_stats_combine(PG_FUNCTION_ARGS)
{
	RfmState   *a;
	RfmState   *b;
	Numeric		total;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_stats_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (RfmState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(RfmStateMake(b->count, b->first, b->last, RfmStateTotal(b)));
	a = (RfmState *) PG_GETARG_POINTER(0);
	a->count += b->count;
	if (b->first < a->first)
		a->first = b->first;
	if (b->last > a->last)
		a->last = b->last;
	total = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(RfmStateTotal(a)),
												NumericGetDatum(RfmStateTotal(b))));
	PG_RETURN_POINTER(RfmStateSetTotal(a, total));
}

PG_FUNCTION_INFO_V1(rfm_stats_final);
/* Final of crm.rfm_stats: the composite crm.purchase_stats. */
Datum
rfm_stats_final(PG_FUNCTION_ARGS)
{
	RfmState   *s;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (RfmState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rfm_stats_final: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = TimestampTzGetDatum(s->first);
	values[1] = TimestampTzGetDatum(s->last);
	values[2] = Int64GetDatum(s->count);
	values[3] = datumCopy(NumericGetDatum(RfmStateTotal(s)), false, -1);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ------------------------------------------------------------------------
 * Exact quantiles: selection, the break rule and scoring
 * ------------------------------------------------------------------------ */

/*
 * Puts the k-th smallest of a[lo..hi] at a[k], smaller-or-equal values before
 * it and greater-or-equal after it (Hoare selection; fine with many ties).
 */
static double
SelectKth(double *a, int64 lo, int64 hi, int64 k)
{
	while (lo < hi)
	{
		double		x = a[lo],
					y = a[lo + (hi - lo) / 2],
					z = a[hi];
		double		pivot = (x < y) ? ((y < z) ? y : ((x < z) ? z : x))
			: ((x < z) ? x : ((y < z) ? z : y));
		int64		i = lo,
					j = hi;

		while (i <= j)
		{
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j)
			{
				double		t = a[i];

				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return a[k];
}

/*
 * Computes the four breaks of n values (reordering them): break k is the
 * value at sorted position ceil(k * n / 5), counted from 1.
 */
static void
QuintileBreaks(double *a, int64 n, double breaks[4])
{
	int64		lo = 0;
	int			k;

	for (k = 1; k <= 4; k++)
	{
		int64		idx = (k * n + 4) / 5 - 1;

		breaks[k - 1] = SelectKth(a, lo, n - 1, idx);
		lo = idx;
	}
}

/*
 * The same breaks as QuintileBreaks for n values that are not NaN, leaving
 * a[] as it is; work has room for n values.  The values' bit patterns,
 * mapped so that they sort as the values do, are counted by their top 16
 * bits in one pass; a second pass copies out only the values of the (at
 * most four) groups that hold a break, and the break is selected among
 * those.  On spread-out values that is a small part of the n values that
 * QuintileBreaks partitions again and again.
 */
#define RADIX_BITS 16

static inline uint64
DoubleSortKey(double x)
{
	uint64		b;

	memcpy(&b, &x, sizeof(b));
	return (b >> 63) ? ~b : b | (UINT64CONST(1) << 63);
}

static void
QuintileBreaksRadix(const double *a, int64 n, double breaks[4], double *work)
{
	uint32	   *counts = palloc0(sizeof(uint32) << RADIX_BITS);
	int64		idx[4],
				start[4],
				fill[4],
				cum = 0,
				i;
	uint32		group[4];
	int			ngroups = 0,
				g,
				k;

	for (i = 0; i < n; i++)
		counts[DoubleSortKey(a[i]) >> (64 - RADIX_BITS)]++;
	/* break k is the value at sorted position ceil(k n / 5), from 1 */
	for (k = 0; k < 4; k++)
		idx[k] = ((k + 1) * n + 4) / 5 - 1;
	for (i = 0, k = 0; i < ((int64) 1 << RADIX_BITS) && k < 4; i++)
	{
		while (k < 4 && idx[k] < cum + counts[i])
		{
			if (ngroups == 0 || group[ngroups - 1] != (uint32) i)
			{
				group[ngroups] = (uint32) i;
				start[ngroups] = ngroups == 0 ? 0 : start[ngroups - 1] + counts[group[ngroups - 1]];
				fill[ngroups] = start[ngroups];
				ngroups++;
			}
			idx[k] -= cum;		/* now the position within its group */
			idx[k] += start[ngroups - 1];	/* and within work */
			k++;
		}
		cum += counts[i];
	}
	for (i = 0; i < n; i++)
	{
		uint32		top = (uint32) (DoubleSortKey(a[i]) >> (64 - RADIX_BITS));

		for (g = 0; g < ngroups; g++)
			if (top == group[g])
			{
				work[fill[g]++] = a[i];
				break;
			}
	}
	for (k = 0, g = 0; k < 4; k++)
	{
		while (idx[k] >= start[g] + (int64) counts[group[g]])
			g++;
		breaks[k] = SelectKth(work, start[g], start[g] + counts[group[g]] - 1, idx[k]);
	}
	pfree(counts);
}

/*
 * Counts of whole numbers 0, 1, 2, ... (recency in days, purchase counts),
 * which give the same breaks as QuintileBreaks by counting instead of
 * selecting.  The table grows with the largest value up to limit entries;
 * a value past that, or below zero, gives the counting up (counts NULL),
 * and the breaks are then selected from the values.
 */
typedef struct WholeCounts
{
	int64	   *counts;
	int64		size;
	int64		limit;
} WholeCounts;

static void
WholeCountsInit(WholeCounts *h, int64 limit)
{
	h->limit = limit;
	h->size = Min(4096, limit);
	h->counts = (int64 *) MemoryContextAllocHuge(CurrentMemoryContext, h->size * sizeof(int64));
	memset(h->counts, 0, h->size * sizeof(int64));
}

/* Makes room for value v; false when the counting is given up. */
static bool
WholeCountsGrow(WholeCounts *h, int64 v)
{
	int64		size;

	if (h->counts == NULL)
		return false;
	if (v < 0 || v >= h->limit)
	{
		pfree(h->counts);
		h->counts = NULL;
		h->size = 0;
		return false;
	}
	size = Min(Max(h->size * 2, v + 1), h->limit);
	h->counts = (int64 *) repalloc_huge(h->counts, size * sizeof(int64));
	memset(h->counts + h->size, 0, (size - h->size) * sizeof(int64));
	h->size = size;
	return true;
}

static inline void
WholeCountsAdd(WholeCounts *h, int64 v)
{
	if (unlikely(v < 0 || v >= h->size) && !WholeCountsGrow(h, v))
		return;
	h->counts[v]++;
}

/*
 * The breaks of the n values counted, freeing the counts; false when the
 * counting was given up.
 */
static bool
WholeCountsBreaks(WholeCounts *h, int64 n, double breaks[4])
{
	int64		v,
				cum = 0;
	int			k = 1;

	if (h->counts == NULL)
		return false;
	/* break k is the value at sorted position ceil(k n / 5), from 1 */
	for (v = 0; v < h->size && k <= 4; v++)
	{
		cum += h->counts[v];
		while (k <= 4 && cum >= (k * n + 4) / 5)
			breaks[k++ - 1] = (double) v;
	}
	pfree(h->counts);
	h->counts = NULL;
	return true;
}

/* Score 1..5 of a value where higher is better. */
static inline int
ScoreHigh(double x, const double b[4])
{
	return 1 + (x > b[0]) + (x > b[1]) + (x > b[2]) + (x > b[3]);
}

/* Score 1..5 of a value where lower is better (recency). */
static inline int
ScoreLow(double x, const double b[4])
{
	return 5 - (x > b[0]) - (x > b[1]) - (x > b[2]) - (x > b[3]);
}

/* Rejects NaN, which has no place in an order. */
static inline void
CheckNotNaN(const char *what, double x)
{
	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NaN", what),
				 errdetail("Quantiles are defined only over ordered values."),
				 errhint("Filter out NaN values or pass NULL for them.")));
}

/* ------------------------------------------------------------------------
 * crm.rfm_sample and the aggregate crm.rfm_breaks(float8, float8, float8)
 * ------------------------------------------------------------------------ */

#define RFM_SAMPLE_VERSION 1

typedef struct RfmSample
{
	int32		vl_len_;		/* varlena header; covers the capacity */
	int32		version;		/* RFM_SAMPLE_VERSION */
	int64		n;				/* triples stored */
	int64		cap;			/* triples there is room for */
	double		v[FLEXIBLE_ARRAY_MEMBER];	/* r, f, m, r, f, m, ... */
} RfmSample;

#define RFM_SAMPLE_HDRSZ offsetof(RfmSample, v)
#define RFM_SAMPLE_MAXCAP ((int64) ((MaxAllocSize - RFM_SAMPLE_HDRSZ) / (3 * sizeof(double))))

/* Allocates an empty sample with room for cap triples in the current context. */
static RfmSample *
RfmSampleMake(int64 cap)
{
	Size		sz;
	RfmSample  *s;

	if (cap > RFM_SAMPLE_MAXCAP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many customers for crm.rfm_breaks"),
				 errdetail("One aggregate state holds at most " INT64_FORMAT " customers.", RFM_SAMPLE_MAXCAP),
				 errhint("Use crm.rfm_analyze, which has no such limit.")));
	sz = RFM_SAMPLE_HDRSZ + cap * 3 * sizeof(double);
	s = (RfmSample *) palloc(sz);
	SET_VARSIZE(s, sz);
	s->version = RFM_SAMPLE_VERSION;
	s->n = 0;
	s->cap = cap;
	return s;
}

/* Returns a sample with room for extra more triples: s itself or a bigger copy. */
static RfmSample *
RfmSampleReserve(RfmSample *s, int64 extra)
{
	RfmSample  *t;
	int64		cap;

	if (s->n + extra <= s->cap)
		return s;
	cap = Max(s->cap * 2, s->n + extra);
	cap = Min(cap, Max(RFM_SAMPLE_MAXCAP, s->n + extra));
	t = RfmSampleMake(cap);
	t->n = s->n;
	memcpy(t->v, s->v, s->n * 3 * sizeof(double));
	return t;
}

PG_FUNCTION_INFO_V1(rfm_sample_in);
/* Text input of crm.rfm_sample: {(r,f,m),(r,f,m),...}. */
Datum
rfm_sample_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	RfmSample  *s = RfmSampleMake(16);

	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != '{')
		goto syntax;
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '}')
	{
		for (;;)
		{
			double		x[3];
			int			i;

			while (isspace((unsigned char) *p))
				p++;
			if (*p++ != '(')
				goto syntax;
			for (i = 0; i < 3; i++)
			{
				char	   *end;

#if PG_VERSION_NUM >= 160000
				x[i] = float8in_internal(p, &end, "double precision", str, NULL);
#else
				x[i] = float8in_internal(p, &end, "double precision", str);
#endif
				CheckNotNaN("a crm.rfm_sample value", x[i]);
				p = end;
				if (*p++ != (i < 2 ? ',' : ')'))
					goto syntax;
			}
			s = RfmSampleReserve(s, 1);
			memcpy(&s->v[s->n * 3], x, sizeof(x));
			s->n++;
			while (isspace((unsigned char) *p))
				p++;
			if (*p == ',')
				p++;
			else
				break;
		}
	}
	if (*p++ != '}')
		goto syntax;
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0')
		goto syntax;
	PG_RETURN_POINTER(s);

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm_sample"),
			 errdetail("The text form is {(recency,frequency,monetary),...}."),
			 errhint("Use a value produced by crm.rfm_breaks.")));
	PG_RETURN_NULL();			/* not reached */
}

PG_FUNCTION_INFO_V1(rfm_sample_out);
/* Text output of crm.rfm_sample (shortest exact float form). */
Datum
rfm_sample_out(PG_FUNCTION_ARGS)
{
	RfmSample  *s = (RfmSample *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int64		i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < s->n; i++)
	{
		char	   *a = float8out_internal(s->v[i * 3]);
		char	   *b = float8out_internal(s->v[i * 3 + 1]);
		char	   *c = float8out_internal(s->v[i * 3 + 2]);

		appendStringInfo(&buf, "%s(%s,%s,%s)", i ? "," : "", a, b, c);
		pfree(a);
		pfree(b);
		pfree(c);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(rfm_sample_send);
/* Binary output of crm.rfm_sample. */
Datum
rfm_sample_send(PG_FUNCTION_ARGS)
{
	RfmSample  *s = (RfmSample *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int64		i;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	for (i = 0; i < s->n * 3; i++)
		pq_sendfloat8(&buf, s->v[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(rfm_sample_recv);
/* Binary input of crm.rfm_sample. */
Datum
rfm_sample_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		n = pq_getmsgint64(buf);
	RfmSample  *s;
	int64		i;

	if (n < 0 || n > (buf->len - buf->cursor) / (int64) (3 * sizeof(double)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.rfm_sample: bad count " INT64_FORMAT, n),
				 errdetail("The message is shorter than the count it announces."),
				 errhint("Send the value crm.rfm_sample's send function produced.")));
	s = RfmSampleMake(Max(n, 1));
	for (i = 0; i < n * 3; i++)
	{
		s->v[i] = pq_getmsgfloat8(buf);
		CheckNotNaN("a crm.rfm_sample value", s->v[i]);
	}
	s->n = n;
	pq_getmsgend(buf);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_breaks_trans);
/* Transition of crm.rfm_breaks: keeps one customer's values; NULLs skipped. */
Datum
rfm_breaks_trans(PG_FUNCTION_ARGS)
{
	RfmSample  *s;
	double		x[3];
	int			i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_breaks_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	for (i = 0; i < 3; i++)
	{
		x[i] = PG_GETARG_FLOAT8(i + 1);
		CheckNotNaN(i == 0 ? "recency" : (i == 1 ? "frequency" : "monetary"), x[i]);
	}
	s = PG_ARGISNULL(0) ? RfmSampleMake(64) : (RfmSample *) PG_GETARG_POINTER(0);
	/* In place while there is room; a bigger copy is taken over by nodeAgg. */
	s = RfmSampleReserve(s, 1);
	memcpy(&s->v[s->n * 3], x, sizeof(x));
	s->n++;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_breaks_combine);
/* Combine of crm.rfm_breaks: concatenates two samples (either may be NULL). */
Datum
rfm_breaks_combine(PG_FUNCTION_ARGS)
{
	RfmSample  *a;
	RfmSample  *b;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_breaks_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (RfmSample *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	a = PG_ARGISNULL(0) ? RfmSampleMake(Max(b->n, 1)) : (RfmSample *) PG_GETARG_POINTER(0);
	a = RfmSampleReserve(a, b->n);
	memcpy(&a->v[a->n * 3], b->v, b->n * 3 * sizeof(double));
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

/* Builds a float8[] of four breaks. */
static Datum
BreaksArray(const double b[4])
{
	Datum		d[4];
	int			i;

	for (i = 0; i < 4; i++)
		d[i] = Float8GetDatum(b[i]);
	return PointerGetDatum(construct_array(d, 4, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(rfm_breaks_final);
/* Final of crm.rfm_breaks: the composite crm.rfm_cuts. */
Datum
rfm_breaks_final(PG_FUNCTION_ARGS)
{
	RfmSample  *s;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	double	   *col;
	int			j;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (RfmSample *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	if (s->n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rfm_breaks_final: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(s->n);
	/* Work on a copy: the state must stay as it is (window use). */
	col = (double *) palloc(s->n * sizeof(double));
	for (j = 0; j < 3; j++)
	{
		double		b[4];
		int64		i;

		for (i = 0; i < s->n; i++)
			col[i] = s->v[i * 3 + j];
		QuintileBreaks(col, s->n, b);
		values[j + 1] = BreaksArray(b);
	}
	pfree(col);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Reads attribute attno of a crm.rfm_cuts value: four ascending breaks. */
static void
CutsGet(HeapTupleHeader cuts, int attno, const char *name, double b[4])
{
	bool		isnull;
	Datum		d = GetAttributeByNum(cuts, attno, &isnull);
	ArrayType  *arr;
	int			i;

	if (!isnull)
	{
		arr = DatumGetArrayTypeP(d);
		if (ARR_NDIM(arr) == 1 && ARR_DIMS(arr)[0] == 4 && !ARR_HASNULL(arr) &&
			ARR_ELEMTYPE(arr) == FLOAT8OID)
		{
			const double *v = (const double *) ((const char *) arr + ARR_OVERHEAD_NONULLS(1));
			bool		ok = true;

			for (i = 0; i < 4; i++)
			{
				b[i] = v[i];
				if (isnan(v[i]) || (i > 0 && v[i] < v[i - 1]))
					ok = false;
			}
			if (ok)
				return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s breaks", name),
			 errdetail("Each measure needs four ascending break values, none NULL or NaN."),
			 errhint("Compute the breaks with crm.rfm_breaks().")));
}

PG_FUNCTION_INFO_V1(rfm_score);
/* crm.rfm_score(recency, frequency, monetary, breaks): the crm.rfm score. */
Datum
rfm_score(PG_FUNCTION_ARGS)
{
	double		rec = PG_GETARG_FLOAT8(0);
	double		freq = PG_GETARG_FLOAT8(1);
	double		mon = PG_GETARG_FLOAT8(2);
	HeapTupleHeader cuts = PG_GETARG_HEAPTUPLEHEADER(3);
	double		br[4],
				bf[4],
				bm[4];

	CheckNotNaN("recency", rec);
	CheckNotNaN("frequency", freq);
	CheckNotNaN("monetary", mon);
	CutsGet(cuts, 2, "recency", br);
	CutsGet(cuts, 3, "frequency", bf);
	CutsGet(cuts, 4, "monetary", bm);
	PG_RETURN_INT16(RFM_CODE(ScoreLow(rec, br), ScoreHigh(freq, bf), ScoreHigh(mon, bm)));
}

PG_FUNCTION_INFO_V1(rfm_quintile);
/* crm.rfm_quintile(value, breaks, lower_is_better): one score 1..5. */
Datum
rfm_quintile(PG_FUNCTION_ARGS)
{
	double		x = PG_GETARG_FLOAT8(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	bool		low = PG_GETARG_BOOL(2);
	double		b[4];
	int			i;

	CheckNotNaN("the value", x);
	if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != 4 || ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breaks must be an array of four values"),
				 errdetail("The array has %d dimensions or NULL elements.", ARR_NDIM(arr)),
				 errhint("Use one of the arrays crm.rfm_breaks() returns.")));
	for (i = 0; i < 4; i++)
	{
		b[i] = ((const double *) ((const char *) arr + ARR_OVERHEAD_NONULLS(1)))[i];
		if (isnan(b[i]) || (i > 0 && b[i] < b[i - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("breaks must be ascending and not NaN"),
					 errdetail("Break %d is out of order.", i + 1),
					 errhint("Use one of the arrays crm.rfm_breaks() returns.")));
	}
	PG_RETURN_INT32(low ? ScoreLow(x, b) : ScoreHigh(x, b));
}

/* ------------------------------------------------------------------------
 * crm.rfm_table and the aggregate crm.rfm_collect(customer, time, amount):
 * per-customer purchase count, last purchase and exact spend of a whole
 * table in one state.  While the aggregate runs, the state is an expanded
 * object holding an open-addressing hash table; as a flat varlena (stored,
 * or handed from a parallel worker to the leader) it is the dense list of
 * the used entries.  Being a real type with exact text and binary forms, its
 * partial states are combined by parallel query (and could be by Citus);
 * crm.rfm_analyze runs it, so the scan is split over parallel workers.
 * ------------------------------------------------------------------------ */

#ifndef HAVE_INT128
#error "crm needs a compiler with 128-bit integers"
#endif

/*
 * Exact sums of numeric amounts without numeric arithmetic per row: amounts
 * are decoded from their stored digits (base 10000) into a 128-bit integer
 * of units of 10^-8.  Amounts with more than 8 decimals or of 10^20 and more
 * are rejected (documented; round them in a view).
 */
#define NBASE_			10000
#define FRAC_NDIGITS	2		/* base-10000 digits kept after the point */
#define MAX_WEIGHT		4		/* largest base-10000 weight accepted */
#define UNITS_SCALE		8		/* decimal digits of a unit */

/* The numeric on-disk header bits (stable since PostgreSQL 9.1). */
#define NUM_SIGN_MASK		0xC000
#define NUM_NEG				0x4000
#define NUM_SHORT			0x8000
#define NUM_SPECIAL			0xC000
#define NUM_SHORT_SIGN		0x2000
#define NUM_SHORT_DSCALE	0x1F80
#define NUM_SHORT_DSCALE_SHIFT 7
#define NUM_SHORT_WSIGN		0x0040
#define NUM_SHORT_WMASK		0x003F
#define NUM_DSCALE_MASK		0x3FFF

typedef enum UnitsResult
{
	UNITS_OK,
	UNITS_NOT_FINITE,
	UNITS_TOO_PRECISE
} UnitsResult;

/*
 * Converts a stored numeric (plain or short varlena header) to units of
 * 10^-8 and its display scale.
 */
static inline UnitsResult
NumericToUnits(struct varlena *v, int128 *units, int *dscale)
{
	const char *d = VARDATA_ANY(v);
	int			len = VARSIZE_ANY_EXHDR(v);
	uint16		h;
	bool		neg;
	int			weight,
				ndigits,
				i;
	const char *digits;
	int128		acc = 0;

	if (len < (int) sizeof(uint16))
		return UNITS_NOT_FINITE;
	memcpy(&h, d, sizeof(h));
	if ((h & NUM_SIGN_MASK) == NUM_SPECIAL)
		return UNITS_NOT_FINITE;
	if ((h & NUM_SIGN_MASK) == NUM_SHORT)
	{
		neg = (h & NUM_SHORT_SIGN) != 0;
		*dscale = (h & NUM_SHORT_DSCALE) >> NUM_SHORT_DSCALE_SHIFT;
		weight = (h & NUM_SHORT_WSIGN) ? (int) (h & NUM_SHORT_WMASK) - (NUM_SHORT_WMASK + 1)
			: (int) (h & NUM_SHORT_WMASK);
		digits = d + sizeof(uint16);
		ndigits = (len - sizeof(uint16)) / sizeof(int16);
	}
	else
	{
		int16		w;

		if (len < (int) (2 * sizeof(uint16)))
			return UNITS_NOT_FINITE;
		memcpy(&w, d + sizeof(uint16), sizeof(w));
		neg = (h & NUM_SIGN_MASK) == NUM_NEG;
		*dscale = h & NUM_DSCALE_MASK;
		weight = w;
		digits = d + 2 * sizeof(uint16);
		ndigits = (len - 2 * sizeof(uint16)) / sizeof(int16);
	}
	if (ndigits == 0)
	{
		*units = 0;
		*dscale = Min(*dscale, UNITS_SCALE);
		return UNITS_OK;
	}
	if (weight > MAX_WEIGHT || weight - (ndigits - 1) < -FRAC_NDIGITS)
		return UNITS_TOO_PRECISE;
	for (i = 0; i < ndigits; i++)
	{
		int16		dig;

		memcpy(&dig, digits + i * sizeof(int16), sizeof(dig));
		acc = acc * NBASE_ + dig;
	}
	/* Scale so that the last digit lands at its place value in units. */
	for (i = weight - (ndigits - 1); i > -FRAC_NDIGITS; i--)
		acc *= NBASE_;
	*units = neg ? -acc : acc;
	/* Digits past the 8th decimal are zero here, so a larger scale says nothing. */
	*dscale = Min(*dscale, UNITS_SCALE);
	return UNITS_OK;
}

/*
 * Converts a numeric purchase amount of a customer to units and display
 * scale, or explains why it cannot be summed exactly.  The amount is read
 * where it lies: short headers need no copy.
 */
static inline void
AmountUnits(Datum d, int64 customer, int128 *units, int *dscale)
{
	struct varlena *amount = (struct varlena *) DatumGetPointer(d);
	UnitsResult res;

	if (VARATT_IS_EXTENDED(amount) && !VARATT_IS_SHORT(amount))
		amount = pg_detoast_datum_packed(amount);
	res = NumericToUnits(amount, units, dscale);
	if (res != UNITS_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purchase amount %s of customer " INT64_FORMAT " cannot be summed exactly",
						DatumGetCString(DirectFunctionCall1(numeric_out, PointerGetDatum(pg_detoast_datum(amount)))),
						customer),
				 res == UNITS_NOT_FINITE ?
				 errdetail("Monetary value is a sum of amounts; NaN and infinity have no place in it.") :
				 errdetail("Amounts must have at most 8 decimal places and be below 10^20."),
				 errhint("Filter or round the amounts in a view and pass the view as source.")));
	if ((Pointer) amount != DatumGetPointer(d))
		pfree(amount);
}

/* Writes units of 10^-8 as a decimal with at least dscale decimals. */
static char *
UnitsToString(int128 units, int dscale, char *buf)
{
	char		tmp[64];
	int			n = 0;
	uint128		u = units < 0 ? -(uint128) units : (uint128) units;
	char	   *p = buf;
	int			i,
				keep;

	do
	{
		tmp[n++] = '0' + (int) (u % 10);
		u /= 10;
	} while (u != 0 || n <= UNITS_SCALE);
	/* tmp holds digits least significant first; UNITS_SCALE are decimals. */
	keep = UNITS_SCALE;
	while (keep > dscale && tmp[UNITS_SCALE - keep] == '0')
		keep--;
	if (units < 0)
		*p++ = '-';
	for (i = n - 1; i >= UNITS_SCALE; i--)
		*p++ = tmp[i];
	if (keep > 0)
	{
		*p++ = '.';
		for (i = UNITS_SCALE - 1; i >= UNITS_SCALE - keep; i--)
			*p++ = tmp[i];
	}
	*p = '\0';
	return buf;
}

/*
 * Writes the numeric equal to units of 10^-8 with display scale dscale,
 * without its varlena header, to out (room for RFM_NUMERIC_MAXDATA bytes),
 * in numeric's stored form (short header, base-10000 digits without leading
 * or trailing zero digits, as numeric's own arithmetic leaves them): byte
 * for byte what numeric_in gives for UnitsToString's text.  Returns the
 * number of bytes written.
 */
#define RFM_NUMERIC_MAXDATA (sizeof(uint16) + 12 * sizeof(int16))

static Size
UnitsToNumericData(int128 units, int dscale, char *out)
{
	uint128		u = units < 0 ? -(uint128) units : (uint128) units;
	int16		dig[12];		/* least significant first */
	int			n = 0,
				lo = 0,
				weight,
				i;
	uint16		h;
	char	   *p = out;
	uint64		v;

	while (u > PG_UINT64_MAX)
	{
		dig[n++] = (int16) (u % NBASE_);
		u /= NBASE_;
	}
	/* The rest in 64-bit arithmetic, far cheaper than 128-bit division. */
	for (v = (uint64) u; v != 0; v /= NBASE_)
		dig[n++] = (int16) (v % NBASE_);
	while (lo < n && dig[lo] == 0)
		lo++;
	/* dig[k] has weight k - FRAC_NDIGITS. */
	weight = n == 0 ? 0 : n - 1 - FRAC_NDIGITS;
	h = NUM_SHORT | (uint16) (dscale << NUM_SHORT_DSCALE_SHIFT);
	if (n > 0 && units < 0)
		h |= NUM_SHORT_SIGN;
	if (weight < 0)
		h |= NUM_SHORT_WSIGN;
	h |= (uint16) (weight & NUM_SHORT_WMASK);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (i = n - 1; i >= lo; i--, p += sizeof(int16))
		memcpy(p, &dig[i], sizeof(int16));
	return p - out;
}

/* The same as a palloc'd numeric. */
static Numeric
UnitsToNumeric(int128 units, int dscale)
{
	char		data[RFM_NUMERIC_MAXDATA];
	Size		len = UnitsToNumericData(units, dscale, data);
	Numeric		res = (Numeric) palloc(VARHDRSZ + len);

	SET_VARSIZE(res, VARHDRSZ + len);
	memcpy(VARDATA(res), data, len);
	return res;
}

/* Parses a decimal written by UnitsToString; false when it is not one. */
static bool
StringToUnits(const char *s, int128 *units, int *dscale)
{
	bool		neg = false;
	int128		acc = 0;
	int			nint = 0,
				nfrac = 0;

	if (*s == '-')
	{
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++, nint++)
	{
		if (nint >= 29)
			return false;
		acc = acc * 10 + (*s - '0');
	}
	if (nint == 0)
		return false;
	if (*s == '.')
	{
		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++)
		{
			if (nfrac >= UNITS_SCALE)
				return false;
			acc = acc * 10 + (*s - '0');
		}
		if (nfrac == 0)
			return false;
	}
	if (*s != '\0')
		return false;
	for (int i = nfrac; i < UNITS_SCALE; i++)
		acc *= 10;
	*units = neg ? -acc : acc;
	*dscale = nfrac;
	return true;
}

#define RFM_TABLE_VERSION 1

typedef struct RfmSlot
{
	int64		customer;		/* customer id */
	int64		count;			/* purchases; 0 marks an empty slot */
	TimestampTz last;			/* latest purchase */
	int64		units_hi;		/* spend in units of 10^-8, high 64 bits */
	uint64		units_lo;		/* low 64 bits (kept apart: varlenas are only 8-aligned) */
	int32		dscale;			/* largest display scale of the amounts */
	int32		unused;			/* zero */
} RfmSlot;

/*
 * Purchases wait in a small batch before they go into the table, so that
 * the cache misses of a large table overlap instead of coming one after
 * another: the slot of the purchase RFM_PREFETCH_AHEAD places further on is
 * prefetched while one is added.  A core keeps only so many misses in
 * flight, so prefetching a whole batch at once stalls on the prefetches.
 */
#define RFM_BATCH 64
#define RFM_PREFETCH_AHEAD 24

typedef struct RfmPending
{
	int64		customer;
	TimestampTz at;
	int64		units_hi;
	uint64		units_lo;
	int32		dscale;
	int32		unused;
} RfmPending;

typedef struct RfmTable
{
	int32		vl_len_;		/* varlena header; covers every slot */
	int32		version;		/* RFM_TABLE_VERSION */
	int64		used;			/* customers in slots */
	int64		capacity;		/* slots: a power of two in a hash table; equal
								 * to used in the dense flat form, where the
								 * used slots follow one another */
	int64		rows;			/* purchases counted, pending ones included */
	int32		npending;		/* purchases waiting in pending[] */
	int32		unused;
	RfmPending	pending[RFM_BATCH];
	RfmSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} RfmTable;

#define RFM_TABLE_HDRSZ offsetof(RfmTable, slots)
#define RFM_TABLE_MAXCAP ((int64) 1 << 23)	/* 8M slots, 384 MB: 6M customers */

static inline int128
SlotUnits(const RfmSlot *s)
{
	return (int128) (((uint128) (uint64) s->units_hi << 64) | s->units_lo);
}

static inline void
SlotSetUnits(RfmSlot *s, int128 u)
{
	s->units_hi = (int64) (u >> 64);
	s->units_lo = (uint64) u;
}

#if defined(MADV_HUGEPAGE) || defined(MADV_POPULATE_WRITE)
/* madvise() on the whole units (a power of two in bytes) of [p, p + sz). */
static void
AdviseWholeUnits(void *p, Size sz, uintptr_t unit, int advice)
{
	uintptr_t	lo = ((uintptr_t) p + unit - 1) & ~(unit - 1);
	uintptr_t	hi = ((uintptr_t) p + sz) & ~(unit - 1);

	if (hi > lo)
		(void) madvise((void *) lo, hi - lo, advice);
}
#endif

/*
 * Asks the kernel to back the 2 MB-aligned part of a large allocation with
 * huge pages, before it is first touched.  Slots are reached at random, and
 * with 4 kB pages nearly every lookup in a large table also misses the TLB.
 * Only a hint: where transparent huge pages are off it changes nothing.
 */
static void
HugePageHint(void *p, Size sz)
{
#if defined(MADV_HUGEPAGE)
	AdviseWholeUnits(p, sz, 2 * 1024 * 1024, MADV_HUGEPAGE);
#else
	(void) p;
	(void) sz;
#endif
}

/*
 * Asks the kernel to map every page of a range that is about to be written
 * in full, in one call instead of one page fault per page.  Only a hint:
 * where the kernel does not know it, the pages fault in one by one as
 * before.
 */
static void
PrefaultHint(void *p, Size sz)
{
#if defined(MADV_POPULATE_WRITE)
	AdviseWholeUnits(p, sz, 4096, MADV_POPULATE_WRITE);
#else
	(void) p;
	(void) sz;
#endif
}

/* Allocates an empty table with capacity slots in the current memory context. */
static RfmTable *
RfmTableMake(int64 capacity)
{
	Size		sz;
	RfmTable   *t;

	if (capacity > RFM_TABLE_MAXCAP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many customers for one crm.rfm_table"),
				 errdetail("One state holds at most " INT64_FORMAT " customers.", RFM_TABLE_MAXCAP / 4 * 3),
				 errhint("Score the customers in groups, for example by ranges of customer id in a view.")));
	sz = RFM_TABLE_HDRSZ + capacity * sizeof(RfmSlot);
	t = (RfmTable *) palloc(sz);
	HugePageHint(t, sz);
	memset(t, 0, sz);
	SET_VARSIZE(t, sz);
	t->version = RFM_TABLE_VERSION;
	t->capacity = capacity;
	return t;
}

/* The home position of a customer in a table. */
static inline uint64
RfmTableHome(const RfmTable *t, int64 customer)
{
	return crm_hash_customer(customer) & ((uint64) t->capacity - 1);
}

/*
 * The slot of a customer, searched from position i (its home): its own, or
 * the empty one where it belongs.
 */
static inline RfmSlot *
RfmTableProbe(RfmTable *t, uint64 i, int64 customer)
{
	uint64		mask = (uint64) t->capacity - 1;

	for (;;)
	{
		RfmSlot    *s = &t->slots[i];

		if (s->count == 0 || s->customer == customer)
			return s;
		i = (i + 1) & mask;
	}
}

/* The slot of a customer: its own, or the empty one where it belongs. */
static inline RfmSlot *
RfmTableSlot(RfmTable *t, int64 customer)
{
	return RfmTableProbe(t, RfmTableHome(t, customer), customer);
}

/*
 * Starts loading a slot into the cache for writing.  A 48-byte slot crosses
 * a cache line boundary every other time, so both ends are fetched.
 */
static inline void
SlotPrefetch(const RfmSlot *s)
{
#ifdef __GNUC__
	__builtin_prefetch(s, 1);
	__builtin_prefetch((const char *) (s + 1) - 1, 1);
#else
	(void) s;
#endif
}

/* The error of a customer whose total spend is out of range. */
static void
SpendOutOfRange(int64 customer)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("total spend of customer " INT64_FORMAT " is out of range", customer),
			 errdetail("crm.rfm_collect sums exactly up to about 10^30."),
			 errhint("Use crm.rfm_stats, which sums in numeric.")));
}

/* Adds figures to a slot, erroring out rather than overflowing. */
static inline void
SlotAdd(RfmSlot *s, int64 customer, int64 count, TimestampTz last, int128 units, int dscale)
{
	int128		sum;
	int64		n;

	if (s->count == 0)
	{
		s->customer = customer;
		s->last = last;
		SlotSetUnits(s, units);
		s->dscale = dscale;
		s->count = count;
		return;
	}
	if (__builtin_add_overflow(SlotUnits(s), units, &sum) ||
		pg_add_s64_overflow(s->count, count, &n))
		SpendOutOfRange(customer);
	s->count = n;
	SlotSetUnits(s, sum);
	if (last > s->last)
		s->last = last;
	if (dscale > s->dscale)
		s->dscale = dscale;
}

/* Returns t itself when it has room for extra more customers, else a bigger copy. */
static RfmTable *
RfmTableReserve(RfmTable *t, int64 extra)
{
	int64		cap = t->capacity;
	RfmTable   *n;
	int64		i;

	while ((t->used + extra) * 4 > cap * 3)
		cap *= 2;
	if (cap == t->capacity)
		return t;
	n = RfmTableMake(cap);
	n->used = t->used;
	n->rows = t->rows;
	n->npending = t->npending;
	memcpy(n->pending, t->pending, sizeof(t->pending));
	for (i = 0; i < t->capacity; i++)
		if (t->slots[i].count > 0)
			*RfmTableSlot(n, t->slots[i].customer) = t->slots[i];
	return n;
}

/* Adds one customer's figures, growing the table when needed. */
static RfmTable *
RfmTableAdd(RfmTable *t, int64 customer, int64 count, TimestampTz last, int128 units, int dscale)
{
	RfmSlot    *s = RfmTableSlot(t, customer);

	if (s->count == 0)
	{
		if ((t->used + 1) * 4 > t->capacity * 3)
		{
			t = RfmTableReserve(t, 1);
			s = RfmTableSlot(t, customer);
		}
		t->used++;
	}
	SlotAdd(s, customer, count, last, units, dscale);
	return t;
}

/* Moves the pending purchases into the slots; returns t or a bigger copy. */
static RfmTable *
RfmTableFlush(RfmTable *t)
{
	uint64		pos[RFM_BATCH];
	int			i;

	if (t->npending == 0)
		return t;
	t = RfmTableReserve(t, t->npending);
	for (i = 0; i < t->npending; i++)
	{
		pos[i] = RfmTableHome(t, t->pending[i].customer);
		if (i < RFM_PREFETCH_AHEAD)
			SlotPrefetch(&t->slots[pos[i]]);
	}
	for (i = 0; i < t->npending; i++)
	{
		RfmPending *p = &t->pending[i];
		RfmSlot    *s;

		if (i + RFM_PREFETCH_AHEAD < t->npending)
			SlotPrefetch(&t->slots[pos[i + RFM_PREFETCH_AHEAD]]);
		s = RfmTableProbe(t, pos[i], p->customer);

		if (s->count == 0)
			t->used++;
		SlotAdd(s, p->customer, 1, p->at,
				(int128) (((uint128) (uint64) p->units_hi << 64) | p->units_lo), p->dscale);
	}
	t->npending = 0;
	return t;
}

/* A table with nothing pending, to read: the value itself or a flushed copy. */
static RfmTable *
RfmTableForReading(Datum d)
{
	RfmTable   *t = (RfmTable *) PG_DETOAST_DATUM(d);

	if (t->npending == 0)
		return t;
	if (t->capacity <= 0 || (t->capacity & (t->capacity - 1)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid crm.rfm_table value"),
				 errdetail("A table with pending purchases must be a hash table."),
				 errhint("Use a value produced by crm.rfm_collect.")));
	if ((Pointer) t == DatumGetPointer(d))
		t = (RfmTable *) DatumGetPointer(datumCopy(d, false, -1));
	return RfmTableFlush(t);
}

/* Rejects a table from outside whose figures cannot be right. */
static void
CheckRfmSlot(int64 count, int dscale)
{
	if (count < 1 || dscale < 0 || dscale > UNITS_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid crm.rfm_table value"),
				 errdetail("Each customer needs at least one purchase and a total with at most 8 decimals."),
				 errhint("Use a value produced by crm.rfm_collect.")));
}

/* Compares slots by customer id, for a stable text form. */
static int
SlotCmp(const void *a, const void *b)
{
	int64		x = (*(RfmSlot *const *) a)->customer;
	int64		y = (*(RfmSlot *const *) b)->customer;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* The used slots of a table, ordered by customer id. */
static RfmSlot **
SortedSlots(RfmTable *t)
{
	RfmSlot   **v = (RfmSlot **) palloc(Max(t->used, 1) * sizeof(RfmSlot *));
	int64		i,
				n = 0;

	for (i = 0; i < t->capacity; i++)
		if (t->slots[i].count > 0)
			v[n++] = &t->slots[i];
	qsort(v, n, sizeof(RfmSlot *), SlotCmp);
	return v;
}

PG_FUNCTION_INFO_V1(rfm_table_in);
/* Text input of crm.rfm_table: {rows:(customer,count,last,total),...}. */
Datum
rfm_table_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = pstrdup(str);
	char	   *end;
	RfmTable   *t = RfmTableMake(64);
	int64		rows;

	if (*p++ != '{')
		goto syntax;
	errno = 0;
	rows = strtoll(p, &end, 10);
	if (end == p || errno != 0 || rows < 0 || *end != ':')
		goto syntax;
	p = end + 1;
	while (*p == '(')
	{
		char	   *f[4];
		int			k;
		int64		customer,
					count;
		TimestampTz last;
		int128		units;
		int			dscale;

		p++;
		for (k = 0; k < 4; k++)
		{
			f[k] = p;
			p += strcspn(p, k < 3 ? ",)" : ")");
			if (*p != (k < 3 ? ',' : ')'))
				goto syntax;
			*p++ = '\0';
		}
		customer = pg_strtoint64(f[0]);
		count = pg_strtoint64(f[1]);
		last = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(f[2]),
													   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		if (!StringToUnits(f[3], &units, &dscale))
			goto syntax;
		CheckRfmSlot(count, dscale);
		if (RfmTableSlot(t, customer)->count != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("customer " INT64_FORMAT " appears twice in a crm.rfm_table value", customer),
					 errdetail("Each customer has one entry."),
					 errhint("Use a value produced by crm.rfm_collect.")));
		t = RfmTableAdd(t, customer, count, last, units, dscale);
		if (*p == ',')
			p++;
		else
			break;
	}
	if (*p++ != '}' || *p != '\0')
		goto syntax;
	t->rows = rows;
	PG_RETURN_POINTER(t);

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm_table"),
			 errdetail("The text form is {rows:(customer,purchases,last purchase,spend),...}."),
			 errhint("Use a value produced by crm.rfm_collect.")));
	PG_RETURN_NULL();			/* not reached */
}

PG_FUNCTION_INFO_V1(rfm_table_out);
/* Text output of crm.rfm_table, ordered by customer, times ISO 8601 at UTC. */
Datum
rfm_table_out(PG_FUNCTION_ARGS)
{
	RfmTable   *t = RfmTableForReading(PG_GETARG_DATUM(0));
	RfmSlot   **v = SortedSlots(t);
	StringInfoData buf;
	int64		i;
	char		num[64];

	initStringInfo(&buf);
	appendStringInfo(&buf, "{" INT64_FORMAT ":", t->rows);
	for (i = 0; i < t->used; i++)
	{
		appendStringInfo(&buf, "%s(" INT64_FORMAT "," INT64_FORMAT ",", i ? "," : "",
						 v[i]->customer, v[i]->count);
		AppendIsoUtc(&buf, v[i]->last);
		appendStringInfo(&buf, ",%s)", UnitsToString(SlotUnits(v[i]), v[i]->dscale, num));
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(rfm_table_send);
/* Binary output of crm.rfm_table, ordered by customer. */
Datum
rfm_table_send(PG_FUNCTION_ARGS)
{
	RfmTable   *t = RfmTableForReading(PG_GETARG_DATUM(0));
	RfmSlot   **v = SortedSlots(t);
	StringInfoData buf;
	int64		i;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, t->rows);
	pq_sendint64(&buf, t->used);
	for (i = 0; i < t->used; i++)
	{
		pq_sendint64(&buf, v[i]->customer);
		pq_sendint64(&buf, v[i]->count);
		pq_sendint64(&buf, v[i]->last);
		pq_sendint64(&buf, v[i]->units_hi);
		pq_sendint64(&buf, (int64) v[i]->units_lo);
		pq_sendint32(&buf, v[i]->dscale);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(rfm_table_recv);
/* Binary input of crm.rfm_table. */
Datum
rfm_table_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		rows = pq_getmsgint64(buf);
	int64		n = pq_getmsgint64(buf);
	RfmTable   *t;
	int64		i;

	if (rows < 0 || n < 0 || n > (buf->len - buf->cursor) / 44)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.rfm_table: bad count " INT64_FORMAT, n),
				 errdetail("The message is shorter than the count it announces."),
				 errhint("Send the value crm.rfm_table's send function produced.")));
	t = RfmTableMake(64);
	for (i = 0; i < n; i++)
	{
		RfmSlot		s;

		s.customer = pq_getmsgint64(buf);
		s.count = pq_getmsgint64(buf);
		s.last = pq_getmsgint64(buf);
		s.units_hi = pq_getmsgint64(buf);
		s.units_lo = (uint64) pq_getmsgint64(buf);
		s.dscale = pq_getmsgint(buf, 4);
		CheckRfmSlot(s.count, s.dscale);
		if (RfmTableSlot(t, s.customer)->count != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("customer " INT64_FORMAT " appears twice in a crm.rfm_table value", s.customer),
					 errdetail("Each customer has one entry."),
					 errhint("Send the value crm.rfm_table's send function produced.")));
		t = RfmTableAdd(t, s.customer, s.count, s.last, SlotUnits(&s), s.dscale);
	}
	pq_getmsgend(buf);
	t->rows = rows;
	PG_RETURN_POINTER(t);
}

/*
 * Writes the dense form of a table with nothing pending into f (of
 * allocated_size bytes): the header, then the used slots one after another.
 */
static void
RfmTableDenseInto(const RfmTable *t, RfmTable *f, Size allocated_size)
{
	int64		i,
				n = 0;

	Assert(t->npending == 0);
	Assert(allocated_size == RFM_TABLE_HDRSZ + t->used * sizeof(RfmSlot));
	memset(f, 0, RFM_TABLE_HDRSZ);
	SET_VARSIZE(f, allocated_size);
	f->version = RFM_TABLE_VERSION;
	f->used = t->used;
	f->capacity = t->used;
	f->rows = t->rows;
	for (i = 0; i < t->capacity; i++)
		if (t->slots[i].count > 0)
			f->slots[n++] = t->slots[i];
	Assert(n == t->used);
}

/*
 * Merges n slots (empty ones are skipped) into a table, a batch at a time
 * with the target slots prefetched; returns t or a bigger copy (t is then
 * left to the caller to free).  The customers of a partial table come in the
 * order of its own hash table, so the accesses are nearly sequential.
 */
static RfmTable *
RfmTableMergeSlots(RfmTable *t, const RfmSlot *src, int64 n)
{
	const RfmSlot *batch[RFM_BATCH];
	uint64		pos[RFM_BATCH];
	RfmTable   *orig = t;
	int64		i = 0;

	while (i < n)
	{
		int			nb = 0,
					k;
		RfmTable   *g;

		while (nb < RFM_BATCH && i < n)
		{
			if (src[i].count > 0)
				batch[nb++] = &src[i];
			i++;
		}
		g = RfmTableReserve(t, nb);
		if (g != t && t != orig)
			pfree(t);
		t = g;
		for (k = 0; k < nb; k++)
		{
			pos[k] = RfmTableHome(t, batch[k]->customer);
			if (k < RFM_PREFETCH_AHEAD)
				SlotPrefetch(&t->slots[pos[k]]);
		}
		for (k = 0; k < nb; k++)
		{
			const RfmSlot *b = batch[k];
			RfmSlot    *s;

			if (k + RFM_PREFETCH_AHEAD < nb)
				SlotPrefetch(&t->slots[pos[k + RFM_PREFETCH_AHEAD]]);
			s = RfmTableProbe(t, pos[k], b->customer);

			if (s->count == 0)
				t->used++;
			SlotAdd(s, b->customer, b->count, b->last, SlotUnits(b), b->dscale);
		}
	}
	return t;
}

/* ------------------------------------------------------------------------
 * The state while an aggregate runs: an expanded object.  Its hash table is
 * a separate allocation in the object's own memory context, so it grows in
 * place (the old slots are freed) and the aggregate never copies the state.
 * When PostgreSQL needs a flat value (a partial aggregate handing its state
 * to the leader, a final result) the object flattens into the dense form:
 * only the used slots, without the empty half of the hash table.
 * ------------------------------------------------------------------------ */

typedef struct RfmTableX
{
	ExpandedObjectHeader hdr;
	RfmTable   *t;				/* a hash table in hdr.eoh_context */
} RfmTableX;

/* Moves the pending purchases into the slots, freeing a replaced table. */
static void
RfmXFlush(RfmTableX *x)
{
	MemoryContext old = MemoryContextSwitchTo(x->hdr.eoh_context);
	RfmTable   *n = RfmTableFlush(x->t);

	if (n != x->t)
		pfree(x->t);
	x->t = n;
	MemoryContextSwitchTo(old);
}

/* Size of the flat (dense) form. */
static Size
RfmXGetFlatSize(ExpandedObjectHeader *eohptr)
{
	RfmTableX  *x = (RfmTableX *) eohptr;

	RfmXFlush(x);
	return RFM_TABLE_HDRSZ + x->t->used * sizeof(RfmSlot);
}

/* Writes the dense form: the header, then the used slots one after another. */
static void
RfmXFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	RfmTableDenseInto(((RfmTableX *) eohptr)->t, (RfmTable *) result, allocated_size);
}

static const ExpandedObjectMethods RfmXMethods = {
	RfmXGetFlatSize,
	RfmXFlattenInto
};

/* A new expanded table with room for at least n customers, in a child of parent. */
static RfmTableX *
RfmXMake(MemoryContext parent, int64 n)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "crm.rfm_table", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RfmTableX  *x = (RfmTableX *) palloc(sizeof(RfmTableX));
	int64		cap = 1024;

	while (n * 4 > cap * 3)
		cap *= 2;
	EOH_init_header(&x->hdr, &RfmXMethods, cxt);
	x->t = RfmTableMake(cap);
	MemoryContextSwitchTo(old);
	return x;
}

/* Merges the customers of a flat table into an expanded one. */
static void
RfmXMerge(RfmTableX *x, RfmTable *b)
{
	MemoryContext old = MemoryContextSwitchTo(x->hdr.eoh_context);
	RfmTable   *t;

	RfmXFlush(x);
	t = RfmTableMergeSlots(x->t, b->slots, b->capacity);
	if (t != x->t)
	{
		pfree(x->t);
		x->t = t;
	}
	x->t->rows += b->rows;
	MemoryContextSwitchTo(old);
}

/*
 * The expanded state behind an aggregate's state argument: the object itself
 * when it is ours to change, else a new one (in aggcontext) holding its data.
 */
static RfmTableX *
RfmXFromState(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	Datum		d = PG_GETARG_DATUM(0);
	RfmTable   *flat;
	RfmTableX  *x;

	if (PG_ARGISNULL(0))
		return RfmXMake(aggcontext, 0);
	if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		x = (RfmTableX *) DatumGetEOHP(d);
		if (x->hdr.eoh_methods == &RfmXMethods)
			return x;
	}
	flat = RfmTableForReading(d);
	x = RfmXMake(aggcontext, flat->used);
	RfmXMerge(x, flat);
	return x;
}

/* A flat table in the current memory context, from any crm.rfm_table datum. */
static RfmTable *
RfmTableFlat(Datum d)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);
		Size		sz = EOH_get_flat_size(eoh);
		RfmTable   *t = (RfmTable *) palloc(sz);

		EOH_flatten_into(eoh, t, sz);
		return t;
	}
	return RfmTableForReading(d);
}

PG_FUNCTION_INFO_V1(rfm_collect_trans);
/* Transition of crm.rfm_collect: counts one purchase; rows with a NULL are skipped. */
Datum
rfm_collect_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmTableX  *x;
	RfmTable   *t;
	int64		customer;
	int128		units;
	int			dscale;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "rfm_collect_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	customer = PG_GETARG_INT64(1);
	AmountUnits(PG_GETARG_DATUM(3), customer, &units, &dscale);

	/* The state is an expanded object in the aggregate context: updated in place. */
	x = RfmXFromState(fcinfo, aggcontext);
	if (x->t->npending == RFM_BATCH)
		RfmXFlush(x);
	t = x->t;
	{
		RfmPending *p = &t->pending[t->npending++];

		p->customer = customer;
		p->at = PG_GETARG_TIMESTAMPTZ(2);
		p->units_hi = (int64) (units >> 64);
		p->units_lo = (uint64) units;
		p->dscale = dscale;
	}
	t->rows++;
	PG_RETURN_DATUM(EOHPGetRWDatum(&x->hdr));
}

PG_FUNCTION_INFO_V1(rfm_collect_combine);
/* Combine of crm.rfm_collect: merges two tables (either may be NULL). */
Datum
rfm_collect_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmTableX  *x;
	RfmTable   *b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "rfm_collect_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = RfmTableFlat(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
	{
		/* Sized for b: its customers go in without the table growing. */
		x = RfmXMake(aggcontext, b->used);
		RfmXMerge(x, b);
	}
	else
	{
		/* No reserve up front: the two usually share many customers. */
		x = RfmXFromState(fcinfo, aggcontext);
		RfmXMerge(x, b);
	}
	if ((Pointer) b != DatumGetPointer(PG_GETARG_DATUM(1)))
		pfree(b);
	PG_RETURN_DATUM(EOHPGetRWDatum(&x->hdr));
}

PG_FUNCTION_INFO_V1(rfm_collect_final);
/* Final of crm.rfm_collect: the table in its dense flat form. */
Datum
rfm_collect_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(RfmTableFlat(PG_GETARG_DATUM(0)));
}

PG_FUNCTION_INFO_V1(rfm_table_customers);
/* crm.rfm_table_customers(table): its rows, ordered by customer. */
Datum
rfm_table_customers(PG_FUNCTION_ARGS)
{
	RfmTable   *t = RfmTableForReading(PG_GETARG_DATUM(0));
	RfmSlot   **v;
	int64		i;

	InitMaterializedSRF(fcinfo, 0);
	v = SortedSlots(t);
	for (i = 0; i < t->used; i++)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(v[i]->customer);
		values[1] = Int64GetDatum(v[i]->count);
		values[2] = TimestampTzGetDatum(v[i]->last);
		values[3] = NumericGetDatum(UnitsToNumeric(SlotUnits(v[i]), v[i]->dscale));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * The direct scan of crm.rfm_analyze.  On a plain table that the user may
 * read in full (no row-level security), the purchases are read straight
 * from the table, with no executor and no aggregate call per row.  When the
 * table is large enough for parallel query, parallel workers and the leader
 * share the scan and fill one hash table in dynamic shared memory, each slot
 * under its own spin lock: nothing is merged afterwards.  The shared table
 * cannot grow, so it is sized from the planner's statistics; when it fills
 * up anyway, the customers that no longer fit are counted in each process's
 * private table, which the leader folds in at the end.  A scan without
 * workers fills the same kind of table in its own memory, with no locks.
 * ------------------------------------------------------------------------ */

#define RFM_KEY_SHARED	UINT64CONST(0xC2A0000000000001)
#define RFM_KEY_SCAN	UINT64CONST(0xC2A0000000000002)
#define RFM_KEY_SLOTS	UINT64CONST(0xC2A0000000000003)
#define RFM_KEY_DSA		UINT64CONST(0xC2A0000000000004)

/*
 * Purchases a scanner collects before it adds them to the table, prefetching
 * RFM_PREFETCH_AHEAD slots ahead (0.69-0.71 s against 0.73-0.76 s on the
 * bench's table, side by side, with the whole batch of 64 prefetched at
 * once).
 */
#define RFM_SCAN_BATCH 128

/* Customers a process takes into the shared table at a time. */
#define RFM_RESERVE_CHUNK 64

/*
 * A slot of the shared table.  At 32 bytes it never straddles two cache
 * lines (the table is aligned to 32), and the table is two thirds the size
 * of one of RfmSlot: every purchase reaches a slot at random, so the size of
 * the table is what a purchase costs.  Its count and spend are narrower than
 * RfmSlot's: a purchase that would overflow them is counted in the process's
 * private table instead, and the two are added up after the scan.
 */
typedef struct RfmShSlot
{
	int64		customer;		/* customer id */
	TimestampTz last;			/* latest purchase */
	int64		units;			/* spend in units of 10^-8 */
	uint32		cd;				/* purchases in the low 28 bits (0 marks an
								 * empty slot), the largest display scale
								 * (0..8) in the top 4; SH_MOVED after the
								 * scan once the figures went to the private
								 * table */
	int32		lock;			/* room for the slot's spin lock */
} RfmShSlot;

#define SH_COUNT_BITS 28
#define SH_COUNT_MAX (((uint32) 1 << SH_COUNT_BITS) - 1)
#define SH_MOVED PG_UINT32_MAX

StaticAssertDecl(sizeof(RfmShSlot) == 32, "a shared slot must take 32 bytes");
StaticAssertDecl(sizeof(slock_t) <= sizeof(int32), "a slot's spin lock must fit in RfmShSlot.lock");
StaticAssertDecl(UNITS_SCALE < 16, "a display scale must fit in 4 bits");

#define SlotLock(s) ((slock_t *) &(s)->lock)

/*
 * Adds a purchase to a used shared slot, under its lock; false, with the
 * slot unchanged, when the count or the spend would overflow.
 */
static inline bool
ShSlotAdd(RfmShSlot *s, TimestampTz at, int64 units, int dscale)
{
	uint32		count = s->cd & SH_COUNT_MAX;
	int			had = (int) (s->cd >> SH_COUNT_BITS);
	int64		sum;

	if (count == SH_COUNT_MAX || pg_add_s64_overflow(s->units, units, &sum))
		return false;
	s->units = sum;
	if (at > s->last)
		s->last = at;
	s->cd = (count + 1) | ((uint32) Max(had, dscale) << SH_COUNT_BITS);
	return true;
}

/* What every process of a direct scan reads. */
typedef struct RfmScanShared
{
	Oid			relid;
	AttrNumber	att[3];			/* customer, time and amount columns */
	Oid			type[3];		/* and their types */
	TimestampTz upper;			/* purchases up to this time count */
	TimestampTz lower;			/* and only after this one, when has_lower */
	bool		has_lower;
	int64		capacity;		/* slots of the shared table */
	int64		dense_lo;		/* customer ids dense_lo .. dense_lo + dense_n - 1 */
	int64		dense_n;		/* have the first dense_n slots, one each */
	int64		limit;			/* other customers it takes (3/4 of the
								 * other slots) */
	pg_atomic_uint64 reserved;	/* customers promised to processes so far */
	pg_atomic_uint64 rows;		/* purchases counted by the workers */
	pg_atomic_uint32 filled;	/* set when the shared table turned a customer away */
	int			nworkers;
	dsa_pointer spill[FLEXIBLE_ARRAY_MEMBER];	/* per worker: its private table
												 * (dense), when it has one */
} RfmScanShared;

/*
 * The place of a customer in the shared table.  Customer ids are mostly
 * dense in practice (serial keys): the ids of the range the statistics show
 * have a slot each at the start of the table, in order, so that a lookup is
 * one access and the slots of customers who buy often lie close together
 * instead of one per page.  Every other id is hashed into the slots after
 * them, scaled to their number (no power of two needed), and probed
 * linearly there, wrapping around within them; so a dense id's slot is never
 * taken by another customer.
 */
static inline uint64
ShHome(const RfmScanShared *p, int64 customer)
{
	uint64		d = (uint64) customer - (uint64) p->dense_lo;

	if (d < (uint64) p->dense_n)
		return d;
	return (uint64) p->dense_n +
		(uint64) (((uint128) crm_hash_customer(customer) * (uint64) (p->capacity - p->dense_n)) >> 64);
}

/* The next place to probe after place i, among the hashed slots. */
static inline uint64
ShNext(const RfmScanShared *p, uint64 i)
{
	return i + 1 == (uint64) p->capacity ? (uint64) p->dense_n : i + 1;
}

/* One process's view of a scan. */
typedef struct RfmScanner
{
	const RfmScanShared *p;		/* columns, bounds and shared-table figures */
	RfmScanShared *sh;			/* the shared state, NULL when scanning alone */
	RfmShSlot  *slots;			/* the shared table */
	int64		budget;			/* customers this process may still add to it */
	bool		full;			/* no more new customers in the shared table */
	RfmTable   *priv;			/* private table: the purchases that did not
								 * fit in the table of slots */
	int64		rows;			/* purchases counted by this process */
	int			npending;
	RfmPending	pending[RFM_SCAN_BATCH];
} RfmScanner;

/* Takes a chunk of the shared table's room; false when it is full. */
static bool
RfmScanReserve(RfmScanner *sc)
{
	uint64		had;

	if (sc->sh == NULL)
	{
		/* Alone, the whole room was this process's from the start. */
		sc->full = true;
		return false;
	}
	had = pg_atomic_fetch_add_u64(&sc->sh->reserved, RFM_RESERVE_CHUNK);

	if (had >= (uint64) sc->p->limit)
	{
		sc->full = true;
		pg_atomic_write_u32(&sc->sh->filled, 1);
		return false;
	}
	sc->budget = Min(RFM_RESERVE_CHUNK, (uint64) sc->p->limit - had);
	return true;
}

/*
 * Adds a purchase to the shared table from position i (its home).  A used
 * slot's customer never changes, so it is compared without the lock; the
 * figures change only under the lock (taken only when other processes
 * share the table).  False when the purchase must go to the private table:
 * the customer is not in the table and there is no room for it, or its
 * figures would overflow the slot's.
 */
static bool
RfmScanSharedAdd(RfmScanner *sc, uint64 i, const RfmPending *p)
{
	bool		dense = i < (uint64) sc->p->dense_n;
	int64		units = (int64) p->units_lo;

	if (p->units_hi != (units < 0 ? -1 : 0))
		return false;			/* more than 64 bits of units */
	for (;;)
	{
		RfmShSlot  *s = &sc->slots[i];
		bool		ok;

		if (*(volatile uint32 *) &s->cd != 0)
		{
			pg_read_barrier();
			if (s->customer != p->customer)
			{
				Assert(!dense);
				i = ShNext(sc->p, i);
				continue;
			}
			if (sc->sh == NULL)
				return ShSlotAdd(s, p->at, units, p->dscale);
			SpinLockAcquire(SlotLock(s));
			ok = ShSlotAdd(s, p->at, units, p->dscale);
			SpinLockRelease(SlotLock(s));
			return ok;
		}

		/*
		 * An empty slot: the customer is new, unless another process is just
		 * taking it in.  A dense id's own slot is always there for it; other
		 * customers need room among the hashed slots.
		 */
		if (!dense && (sc->full || (sc->budget == 0 && !RfmScanReserve(sc))))
			return false;
		if (sc->sh != NULL)
		{
			SpinLockAcquire(SlotLock(s));
			if (s->cd != 0)
			{
				SpinLockRelease(SlotLock(s));
				continue;		/* taken meanwhile: look at it again */
			}
		}
		/* The id before the count, as readers without the lock expect. */
		s->customer = p->customer;
		s->last = p->at;
		s->units = units;
		pg_write_barrier();
		s->cd = 1 | ((uint32) p->dscale << SH_COUNT_BITS);
		if (sc->sh != NULL)
			SpinLockRelease(SlotLock(s));
		if (!dense)
			sc->budget--;
		return true;
	}
}

/* Adds one purchase to the private table, growing it when needed. */
static void
RfmScanPrivateAdd(RfmScanner *sc, const RfmPending *p)
{
	RfmTable   *t = RfmTableAdd(sc->priv, p->customer, 1, p->at,
								(int128) (((uint128) (uint64) p->units_hi << 64) | p->units_lo),
								p->dscale);

	if (t != sc->priv)
		pfree(sc->priv);
	sc->priv = t;
}

/*
 * Moves the pending purchases into the table of slots (or, when it is full,
 * the private one), prefetching RFM_PREFETCH_AHEAD slots ahead.
 */
static void
RfmScanFlush(RfmScanner *sc)
{
	uint64		pos[RFM_SCAN_BATCH];
	int			i;

	for (i = 0; i < sc->npending; i++)
	{
		pos[i] = ShHome(sc->p, sc->pending[i].customer);
#ifdef __GNUC__
		if (i < RFM_PREFETCH_AHEAD)
			__builtin_prefetch(&sc->slots[pos[i]], 1);
#endif
	}
	for (i = 0; i < sc->npending; i++)
	{
#ifdef __GNUC__
		if (i + RFM_PREFETCH_AHEAD < sc->npending)
			__builtin_prefetch(&sc->slots[pos[i + RFM_PREFETCH_AHEAD]], 1);
#endif
		if (!RfmScanSharedAdd(sc, pos[i], &sc->pending[i]))
			RfmScanPrivateAdd(sc, &sc->pending[i]);
	}
	sc->npending = 0;
}

/* A time column's value as timestamptz, as the cast to timestamptz gives it. */
static inline TimestampTz
ScanTime(Datum d, Oid type)
{
	switch (type)
	{
		case TIMESTAMPTZOID:
			return DatumGetTimestampTz(d);
		case TIMESTAMPOID:
			return DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz, d));
		default:
			return DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, d));
	}
}

/* An integer column's value (customer id, or an integer amount) as bigint. */
static inline int64
ScanInteger(Datum d, Oid type)
{
	switch (type)
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt16(d);
	}
}

/*
 * Counts one purchase, given its customer, time and amount columns: one with
 * a time outside (lower, upper] is skipped, as the query path skips it.
 */
static inline void
RfmScanOne(RfmScanner *sc, Datum cd, Datum td, Datum ad)
{
	const RfmScanShared *p = sc->p;
	RfmPending *e;
	int64		customer;
	TimestampTz at;
	int128		units;
	int			dscale;

	at = ScanTime(td, p->type[1]);
	if (at > p->upper || (p->has_lower && at <= p->lower))
		return;
	customer = ScanInteger(cd, p->type[0]);
	if (p->type[2] == NUMERICOID)
		AmountUnits(ad, customer, &units, &dscale);
	else
	{
		units = (int128) ScanInteger(ad, p->type[2]) * 100000000;
		dscale = 0;
	}
	sc->rows++;
	e = &sc->pending[sc->npending++];
	e->customer = customer;
	e->at = at;
	e->units_hi = (int64) (units >> 64);
	e->units_lo = (uint64) units;
	e->dscale = dscale;
	if (sc->npending == RFM_SCAN_BATCH)
	{
		RfmScanFlush(sc);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * How to read the three columns out of a heap tuple of a table: the
 * attributes up to the last of the three, and, for tuples without NULLs,
 * the leading fixed-width ones at the offsets they always have.
 */
typedef struct RfmDeform
{
	int			n;				/* attributes up to the last of the three */
	int			nfixed;			/* leading ones of fixed width */
	uint32		fixedend;		/* offset after them */
	struct
	{
		int16		len;		/* attlen */
		char		align;		/* attalign */
		bool		byval;
		int8		out;		/* 0..2 when one of the three, else -1 */
		uint32		off;		/* offset when k < nfixed */
	}		   *att;
} RfmDeform;

static void
RfmDeformInit(RfmDeform *d, TupleDesc desc, const AttrNumber att[3])
{
	uint32		off = 0;
	int			k;

	d->n = Max(Max(att[0], att[1]), att[2]);
	d->att = palloc(d->n * sizeof(*d->att));
	d->nfixed = -1;
	for (k = 0; k < d->n; k++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, k);

		d->att[k].len = a->attlen;
		d->att[k].align = a->attalign;
		d->att[k].byval = a->attbyval;
		d->att[k].out = -1;
		if (d->nfixed < 0 && a->attlen <= 0)
		{
			d->nfixed = k;
			d->fixedend = off;
		}
		if (d->nfixed < 0)
		{
			off = att_align_nominal(off, a->attalign);
			d->att[k].off = off;
			off += a->attlen;
		}
	}
	if (d->nfixed < 0)
	{
		d->nfixed = d->n;
		d->fixedend = off;
	}
	for (k = 0; k < 3; k++)
		d->att[att[k] - 1].out = (int8) k;
}

/* An attribute's value at a place of a tuple's data. */
static inline Datum
DeformFetch(const RfmDeform *d, int k, const char *p)
{
	if (!d->att[k].byval)
		return PointerGetDatum(p);
	switch (d->att[k].len)
	{
		case 8:
			return *(const Datum *) p;
		case 4:
			return Int32GetDatum(*(const int32 *) p);
		case 2:
			return Int16GetDatum(*(const int16 *) p);
		default:
			return CharGetDatum(*p);
	}
}

/*
 * The three columns of a heap tuple; false when one of them is NULL.  The
 * walk is heap_deform_tuple's, stopped after the last of them, and starts
 * past the leading fixed-width attributes when the tuple has no NULLs.  A
 * tuple written before a column was added lacks it: heap_deform_tuple then
 * supplies the column's default.
 */
static inline bool
RfmDeformTuple(const RfmDeform *d, HeapTuple tup, TupleDesc desc, Datum *scratch, bool *scratchnull,
			   Datum out[3])
{
	HeapTupleHeader th = tup->t_data;
	bool		hasnulls = HeapTupleHasNulls(tup);
	char	   *tp = (char *) th + th->t_hoff;
	uint32		off;
	int			k;

	if (HeapTupleHeaderGetNatts(th) < d->n)
	{
		heap_deform_tuple(tup, desc, scratch, scratchnull);
		for (k = 0; k < d->n; k++)
			if (d->att[k].out >= 0)
			{
				if (scratchnull[k])
					return false;
				out[d->att[k].out] = scratch[k];
			}
		return true;
	}
	if (!hasnulls)
	{
		for (k = 0; k < d->nfixed; k++)
			if (d->att[k].out >= 0)
				out[d->att[k].out] = DeformFetch(d, k, tp + d->att[k].off);
		k = d->nfixed;
		off = d->fixedend;
	}
	else
	{
		k = 0;
		off = 0;
	}
	for (; k < d->n; k++)
	{
		int16		len = d->att[k].len;

		if (hasnulls && att_isnull(k, th->t_bits))
		{
			if (d->att[k].out >= 0)
				return false;
			continue;
		}
		if (len == -1)
			off = att_align_pointer(off, d->att[k].align, -1, tp + off);
		else
			off = att_align_nominal(off, d->att[k].align);
		if (d->att[k].out >= 0)
			out[d->att[k].out] = DeformFetch(d, k, tp + off);
		off = att_addlength_pointer(off, len, tp + off);
	}
	return true;
}

/*
 * Counts the purchases a scan returns; rows with a NULL in one of the three
 * columns are skipped, as the query path skips them.  Heap tables are read
 * tuple by tuple without a slot (a slot pins the page again for every
 * tuple), and only up to the last of the three columns; other table kinds
 * through a slot.
 */
static void
RfmScanRows(RfmScanner *sc, Relation rel, TableScanDesc scan)
{
	const RfmScanShared *p = sc->p;

	if (rel->rd_tableam == GetHeapamTableAmRoutine())
	{
		TupleDesc	desc = RelationGetDescr(rel);
		Datum	   *scratch = palloc(desc->natts * sizeof(Datum));
		bool	   *scratchnull = palloc(desc->natts * sizeof(bool));
		RfmDeform	d;
		HeapTuple	tup;
		Datum		v[3];

		RfmDeformInit(&d, desc, p->att);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
			if (RfmDeformTuple(&d, tup, desc, scratch, scratchnull, v))
				RfmScanOne(sc, v[0], v[1], v[2]);
		pfree(d.att);
		pfree(scratch);
		pfree(scratchnull);
	}
	else
	{
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		AttrNumber	maxatt = Max(Max(p->att[0], p->att[1]), p->att[2]);
		int			ci = p->att[0] - 1,
					ti = p->att[1] - 1,
					ai = p->att[2] - 1;

		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			slot_getsomeattrs(slot, maxatt);
			if (slot->tts_isnull[ci] || slot->tts_isnull[ti] || slot->tts_isnull[ai])
				continue;
			RfmScanOne(sc, slot->tts_values[ci], slot->tts_values[ti], slot->tts_values[ai]);
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	if (sc->npending > 0)
		RfmScanFlush(sc);
}

/*
 * Sets up a scanner of the table of slots, shared when sh is given; alone,
 * all of the table's room is the scanner's own.
 */
static void
RfmScannerInit(RfmScanner *sc, const RfmScanShared *p, RfmScanShared *sh, RfmShSlot *slots)
{
	memset(sc, 0, offsetof(RfmScanner, pending));
	sc->p = p;
	sc->sh = sh;
	sc->slots = slots;
	sc->budget = sh == NULL ? p->limit : 0;
	sc->priv = RfmTableMake(1024);
}

/*
 * After the scan: moves the figures of every customer who is in both the
 * private table and the slot table into the private one, which has room for
 * any sum, and marks the slot SH_MOVED.
 */
static void
RfmScanReconcile(RfmScanner *sc)
{
	int64		k;

	if (sc->priv->used == 0)
		return;
	for (k = 0; k < sc->priv->capacity; k++)
	{
		RfmSlot    *ps = &sc->priv->slots[k];
		RfmShSlot  *s;
		uint64		i;

		if (ps->count == 0)
			continue;
		i = ShHome(sc->p, ps->customer);
		while (sc->slots[i].cd != 0 && sc->slots[i].customer != ps->customer)
			i = ShNext(sc->p, i);
		s = &sc->slots[i];
		if (s->cd == 0)
			continue;
		SlotAdd(ps, ps->customer, s->cd & SH_COUNT_MAX, s->last, s->units, (int) (s->cd >> SH_COUNT_BITS));
		s->cd = SH_MOVED;
	}
}

/* The entry point of a parallel worker of a direct scan. */
PGDLLEXPORT void crm_rfm_scan_worker(dsm_segment *seg, shm_toc *toc);

void
crm_rfm_scan_worker(dsm_segment *seg, shm_toc *toc)
{
	RfmScanShared *sh = (RfmScanShared *) shm_toc_lookup(toc, RFM_KEY_SHARED, false);
	ParallelTableScanDesc pscan = (ParallelTableScanDesc) shm_toc_lookup(toc, RFM_KEY_SCAN, false);
	RfmShSlot  *slots = (RfmShSlot *) shm_toc_lookup(toc, RFM_KEY_SLOTS, false);
	dsa_area   *area = dsa_attach_in_place(shm_toc_lookup(toc, RFM_KEY_DSA, false), seg);
	Relation	rel = table_open(sh->relid, AccessShareLock);
	TableScanDesc scan = table_beginscan_parallel(rel, pscan);
	RfmScanner	sc;

	RfmScannerInit(&sc, sh, sh, slots);
	RfmScanRows(&sc, rel, scan);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	pg_atomic_fetch_add_u64(&sh->rows, (uint64) sc.rows);
	if (sc.priv->used > 0 && ParallelWorkerNumber < sh->nworkers)
	{
		Size		sz = RFM_TABLE_HDRSZ + sc.priv->used * sizeof(RfmSlot);
		dsa_pointer dp = dsa_allocate_extended(area, sz, DSA_ALLOC_HUGE);

		RfmTableDenseInto(sc.priv, (RfmTable *) dsa_get_address(area, dp), sz);
		sh->spill[ParallelWorkerNumber] = dp;
	}
	dsa_detach(area);
}

/* What a direct scan found: the used slots of up to two slot arrays. */
typedef struct RfmFound
{
	RfmSlot    *a;				/* the private table, or the query's */
	int64		na;
	RfmShSlot  *sh;				/* the shared table beside the private one */
	int64		nsh;
	int64		rows;			/* purchases */
	Size		bytes;			/* size of the tables */
	bool		filled;			/* the shared table turned customers away */
	ParallelContext *pcxt;		/* to destroy once the slots are read */
	dsa_area   *area;
} RfmFound;

/*
 * Empties a table of cap slots: zeroed, with every slot lock initialised.
 * Memory known to be zero already is not written again.
 */
static void
RfmSlotsClear(RfmShSlot *slots, int64 cap, bool zeroed)
{
	Size		size = cap * sizeof(RfmShSlot);
	slock_t		unlocked;
	int			i;

	PrefaultHint(slots, size);
	if (!zeroed)
		memset(slots, 0, size);
	SpinLockInit(&unlocked);
	for (i = 0; i < (int) sizeof(slock_t); i++)
		if (((char *) &unlocked)[i] != 0)
		{
			int64		k;

			for (k = 0; k < cap; k++)
				SpinLockInit(SlotLock(&slots[k]));
			break;
		}
}

/* Records what a scanner found after its scan: its private table and the slot table. */
static void
RfmFoundSet(RfmFound *found, const RfmScanner *sc, RfmShSlot *slots, int64 cap)
{
	found->a = sc->priv->slots;
	found->na = sc->priv->capacity;
	found->sh = slots;
	found->nsh = cap;
	found->rows = sc->rows;
	found->bytes = cap * sizeof(RfmShSlot) + VARSIZE(sc->priv);
}

/*
 * Whether the direct scan can read a table: not when it is not a plain
 * table or populated materialized view (or has inheritance children, or is
 * another session's temporary table), row-level security applies, the user
 * may not read the three columns, or the transaction is serializable.  The
 * query path then runs, and reports what there is to report.
 */
static bool
RfmDirectPossible(Oid relid, const AttrNumber att[3])
{
	Oid			user = GetUserId();
	HeapTuple	tp;
	char		relkind,
				persistence;
	bool		hassub,
				populated;
	int			i;

	if (IsolationIsSerializable())
		return false;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		return false;
	relkind = ((Form_pg_class) GETSTRUCT(tp))->relkind;
	persistence = ((Form_pg_class) GETSTRUCT(tp))->relpersistence;
	hassub = ((Form_pg_class) GETSTRUCT(tp))->relhassubclass;
	populated = ((Form_pg_class) GETSTRUCT(tp))->relispopulated;
	ReleaseSysCache(tp);
	if ((relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW) || hassub || !populated)
		return false;
	if (persistence == RELPERSISTENCE_TEMP && !isTempOrTempToastNamespace(get_rel_namespace(relid)))
		return false;
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK)
		return true;
	for (i = 0; i < 3; i++)
		if (pg_attribute_aclcheck(relid, att[i], user, ACL_SELECT) != ACLCHECK_OK)
			return false;
	return true;
}

/* Parallel workers for a scan of pages pages, as the planner would choose them. */
static int
RfmScanWorkers(Relation rel, BlockNumber pages)
{
	int			w = RelationGetParallelWorkers(rel, -1);

	if (max_parallel_workers_per_gather <= 0 || !IsUnderPostmaster || IsInParallelMode() ||
		RelationUsesLocalBuffers(rel))
		return 0;
	if (w < 0)
	{
		double		threshold = Max(min_parallel_table_scan_size, 1);

		if (pages < threshold)
			return 0;
		w = 1;
		while (pages >= threshold * 3)
		{
			w++;
			threshold *= 3;
		}
	}
	return Min(w, max_parallel_workers_per_gather);
}

/*
 * The smallest and largest customer id that the statistics of the column
 * show (its most common values and histogram bounds); false when there
 * are none.
 */
static bool
StatsIdRange(HeapTuple stats, Oid type, int64 *lo, int64 *hi)
{
	static const int kinds[2] = {STATISTIC_KIND_MCV, STATISTIC_KIND_HISTOGRAM};
	bool		any = false;
	int			k,
				i;

	for (k = 0; k < 2; k++)
	{
		AttStatsSlot sslot;

		if (!get_attstatsslot(&sslot, stats, kinds[k], InvalidOid, ATTSTATSSLOT_VALUES))
			continue;
		if (sslot.valuetype == type)
			for (i = 0; i < sslot.nvalues; i++)
			{
				int64		v = ScanInteger(sslot.values[i], type);

				if (!any || v < *lo)
					*lo = v;
				if (!any || v > *hi)
					*hi = v;
				any = true;
			}
		free_attstatsslot(&sslot);
	}
	return any;
}

/*
 * Lays out the shared table for the customers of a table of pages pages,
 * from the statistics of the customer column when there are any.
 *
 * Its size: ANALYZE often counts far too few distinct values when a few
 * customers buy most, so the estimate is raised up to fourfold, within an
 * eighth of the rows, and the table gets room for a quarter more customers
 * than that.
 *
 * When the ids the statistics show lie dense enough in their range that a
 * slot for each id of it takes at most twice that room, that range, and an
 * eighth more for ids added since, gets one slot per id (see ShHome); the
 * hashed slots after them, a quarter of the estimate, take the others.
 */
static void
RfmScanLayout(Relation rel, RfmScanShared *p, BlockNumber pages)
{
	double		rows,
				d = -1,
				est;
	int64		cap = 1024,
				lo = 0,
				hi = 0;
	bool		range = false;
	HeapTuple	tp;

	if (rel->rd_rel->reltuples >= 0 && rel->rd_rel->relpages > 0)
		rows = rel->rd_rel->reltuples / rel->rd_rel->relpages * pages;
	else
		rows = (double) pages * 100;
	tp = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(rel)),
						 Int16GetDatum(p->att[0]), BoolGetDatum(false));
	if (HeapTupleIsValid(tp))
	{
		float4		sd = ((Form_pg_statistic) GETSTRUCT(tp))->stadistinct;

		d = sd > 0 ? sd : -sd * rows;
		range = StatsIdRange(tp, p->type[0], &lo, &hi);
		ReleaseSysCache(tp);
	}
	if (d > 0)
		est = Min(4 * d, Max(d, rows / 8));
	else
		est = rows / 4;
	if (est * 5 / 3 > (double) cap)
		cap = (int64) Min(est * 5 / 3, (double) RFM_TABLE_MAXCAP);
	p->capacity = cap;
	p->dense_lo = 0;
	p->dense_n = 0;
	if (range)
	{
		double		dense = ((double) hi - (double) lo + 1) * 9 / 8;
		int64		others = Max(1024, (int64) (est / 4));

		if (dense <= 2.0 * (double) cap && dense + others <= (double) RFM_TABLE_MAXCAP)
		{
			p->dense_lo = lo;
			p->dense_n = (int64) dense;
			p->capacity = p->dense_n + others;
		}
	}
	p->limit = (p->capacity - p->dense_n) / 4 * 3;
}

/*
 * Reads the purchases of a table straight from it.  The caller has checked
 * the columns and RfmDirectPossible.  With workers, the slots found live in
 * shared memory until RfmFoundRelease.
 */
static void
RfmDirectScan(RfmScanShared *params, RfmFound *found)
{
	Relation	rel = table_open(params->relid, AccessShareLock);
	BlockNumber pages = RelationGetNumberOfBlocks(rel);
	Snapshot	snapshot = RegisterSnapshot(GetActiveSnapshot());
	int			nworkers = RfmScanWorkers(rel, pages);
	int64		cap;
	Size		slotsize;
	RfmScanner	sc;
	TableScanDesc scan;

	memset(found, 0, sizeof(RfmFound));
	RfmScanLayout(rel, params, pages);
	cap = params->capacity;
	slotsize = mul_size(cap, sizeof(RfmShSlot));
	if (nworkers > 0)
	{
		ParallelContext *pcxt;
		Size		shsize = add_size(offsetof(RfmScanShared, spill), mul_size(nworkers, sizeof(dsa_pointer)));
		Size		scansize = table_parallelscan_estimate(rel, snapshot);
		RfmScanShared *sh;
		ParallelTableScanDesc pscan;
		RfmShSlot  *slots;
		int			i;

		EnterParallelMode();
		pcxt = CreateParallelContext("$libdir/crm", "crm_rfm_scan_worker", nworkers);
		shm_toc_estimate_chunk(&pcxt->estimator, shsize);
		shm_toc_estimate_chunk(&pcxt->estimator, scansize);
		shm_toc_estimate_chunk(&pcxt->estimator, slotsize);
		shm_toc_estimate_chunk(&pcxt->estimator, dsa_minimum_size());
		shm_toc_estimate_keys(&pcxt->estimator, 4);
		InitializeParallelDSM(pcxt);
		if (pcxt->seg == NULL)
		{
			/* No dynamic shared memory to be had: scan alone. */
			DestroyParallelContext(pcxt);
			ExitParallelMode();
			nworkers = 0;
		}
		else
		{
			sh = (RfmScanShared *) shm_toc_allocate(pcxt->toc, shsize);
			memcpy(sh, params, offsetof(RfmScanShared, spill));
			pg_atomic_init_u64(&sh->reserved, 0);
			pg_atomic_init_u64(&sh->rows, 0);
			pg_atomic_init_u32(&sh->filled, 0);
			sh->nworkers = nworkers;
			for (i = 0; i < nworkers; i++)
				sh->spill[i] = InvalidDsaPointer;
			shm_toc_insert(pcxt->toc, RFM_KEY_SHARED, sh);
			pscan = (ParallelTableScanDesc) shm_toc_allocate(pcxt->toc, scansize);
			table_parallelscan_initialize(rel, pscan, snapshot);
			shm_toc_insert(pcxt->toc, RFM_KEY_SCAN, pscan);
			slots = (RfmShSlot *) shm_toc_allocate(pcxt->toc, slotsize);
			/*
			 * A new segment is zero (the operating system's fresh pages);
			 * one carved from the main shared memory area, when
			 * min_dynamic_shared_memory reserves one, may not be.
			 */
			RfmSlotsClear(slots, cap, min_dynamic_shared_memory == 0);
			shm_toc_insert(pcxt->toc, RFM_KEY_SLOTS, slots);
			{
				void	   *place = shm_toc_allocate(pcxt->toc, dsa_minimum_size());

				shm_toc_insert(pcxt->toc, RFM_KEY_DSA, place);
				found->area = dsa_create_in_place(place, dsa_minimum_size(), LWTRANCHE_PARALLEL_QUERY_DSA, pcxt->seg);
			}
			LaunchParallelWorkers(pcxt);

			/* The leader scans too. */
			RfmScannerInit(&sc, sh, sh, slots);
			scan = table_beginscan_parallel(rel, pscan);
			RfmScanRows(&sc, rel, scan);
			table_endscan(scan);
			WaitForParallelWorkersToFinish(pcxt);

			/* Fold the private tables into the leader's... */
			for (i = 0; i < pcxt->nworkers_launched; i++)
				if (DsaPointerIsValid(sh->spill[i]))
				{
					RfmTable   *b = (RfmTable *) dsa_get_address(found->area, sh->spill[i]);
					RfmTable   *t = RfmTableMergeSlots(sc.priv, b->slots, b->capacity);

					if (t != sc.priv)
						pfree(sc.priv);
					sc.priv = t;
				}
			/* ...and the shared table's figures of a customer who is in both into that. */
			RfmScanReconcile(&sc);
			RfmFoundSet(found, &sc, slots, cap);
			found->rows += (int64) pg_atomic_read_u64(&sh->rows);
			found->filled = pg_atomic_read_u32(&sh->filled) != 0;
			found->pcxt = pcxt;
		}
	}
	if (nworkers == 0)
	{
		/* The same table of slots in private memory, cache-line aligned. */
		char	   *mem = MemoryContextAllocHuge(CurrentMemoryContext, slotsize + PG_CACHE_LINE_SIZE);
		RfmShSlot  *slots = (RfmShSlot *) TYPEALIGN(PG_CACHE_LINE_SIZE, mem);

		HugePageHint(slots, slotsize);
		RfmSlotsClear(slots, cap, false);
		RfmScannerInit(&sc, params, NULL, slots);
		scan = table_beginscan(rel, snapshot, 0, NULL);
		RfmScanRows(&sc, rel, scan);
		table_endscan(scan);
		RfmScanReconcile(&sc);
		RfmFoundSet(found, &sc, slots, cap);
		found->filled = sc.full;
	}
	UnregisterSnapshot(snapshot);
	/* Like a query, keep the lock until the end of the transaction. */
	table_close(rel, NoLock);
}

/* Gives back the shared memory of a direct scan. */
static void
RfmFoundRelease(RfmFound *found)
{
	if (found->pcxt == NULL)
		return;
	dsa_detach(found->area);
	DestroyParallelContext(found->pcxt);
	ExitParallelMode();
	found->pcxt = NULL;
}

/* ------------------------------------------------------------------------
 * crm.rfm_analyze: a whole purchase table in one call
 * ------------------------------------------------------------------------ */

/* One customer's figures, from whichever table holds them. */
typedef struct RfmOut
{
	int64		customer;
	int64		count;
	TimestampTz last;
	int64		units_hi;		/* spend in units of 10^-8 */
	uint64		units_lo;
	int32		dscale;
} RfmOut;

static inline int128
OutUnits(const RfmOut *e)
{
	return (int128) (((uint128) (uint64) e->units_hi << 64) | e->units_lo);
}

/*
 * The figures of place i of what a scan found (the private or query table,
 * then the shared one); false when no customer is there.
 */
static inline bool
RfmFoundGet(const RfmFound *found, int64 i, RfmOut *e)
{
	if (i < found->na)
	{
		const RfmSlot *s = &found->a[i];

		if (s->count == 0)
			return false;
		e->customer = s->customer;
		e->count = s->count;
		e->last = s->last;
		e->units_hi = s->units_hi;
		e->units_lo = s->units_lo;
		e->dscale = s->dscale;
	}
	else
	{
		const RfmShSlot *s = &found->sh[i - found->na];

		if (s->cd == 0 || s->cd == SH_MOVED)
			return false;
		e->customer = s->customer;
		e->count = s->cd & SH_COUNT_MAX;
		e->last = s->last;
		e->units_hi = s->units < 0 ? -1 : 0;
		e->units_lo = (uint64) s->units;
		e->dscale = (int32) (s->cd >> SH_COUNT_BITS);
	}
	return true;
}

/* Whole days from a customer's last purchase to as_of. */
static inline int64
RecencyDays(TimestampTz as_of, TimestampTz last)
{
	return (as_of - last) / USECS_PER_DAY;
}

/* A customer's spend as float8, as numeric's own conversion gives it. */
static inline double
OutMonetary(const RfmOut *e)
{
	int128		u = OutUnits(e);
	char		num[64];

	/* Exact below 2^53 units, and then equal to numeric's own conversion. */
	if (u > -((int128) 1 << 53) && u < ((int128) 1 << 53))
		return (double) (int64) u / 1e8;
	return DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(UnitsToString(u, e->dscale, num))));
}

/*
 * The breaks of recency (or of frequency) of the n customers found,
 * selected from their values put in work: when they are too spread out
 * to be counted.
 */
static void
SelectedBreaks(const RfmFound *found, TimestampTz as_of, bool recency, double *work, int64 n, double breaks[4])
{
	int64		i,
				j = 0;

	for (i = 0; j < n; i++)
	{
		RfmOut		e;

		if (RfmFoundGet(found, i, &e))
			work[j++] = recency ? (double) RecencyDays(as_of, e.last) : (double) e.count;
	}
	QuintileBreaks(work, n, breaks);
}

/* Checks that a column exists and has one of the accepted types; returns its type. */
static Oid
CheckColumn(Oid relid, const char *col, const char *role, const char *arg, const Oid *ok, const char *okname)
{
	AttrNumber	att = get_attnum(relid, col);
	Oid			typ;
	int			i;

	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", col, get_rel_name(relid)),
				 errdetail("crm.rfm_analyze reads the %s from that column.", role),
				 errhint("Pass the column's name as the %s argument.", arg)));
	typ = get_atttype(relid, att);
	for (i = 0; OidIsValid(ok[i]); i++)
		if (ok[i] == typ)
			return typ;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" has type %s, which cannot be the %s", col, format_type_be(typ), role),
			 errdetail("The %s column must be of type %s.", role, okname),
			 errhint("Cast it in a view and pass the view as source.")));
	return InvalidOid;			/* not reached */
}

#define RFM_CODES 556			/* codes run from 111 to 555 */

/* Reads crm.rfm_segment_map and gives the segment of each of the 125 codes. */
static void
LoadSegments(Datum segments[RFM_CODES], bool known[RFM_CODES])
{
	uint64		i;
	int			r,
				f,
				m;

	memset(known, 0, sizeof(bool) * RFM_CODES);
	if (SPI_execute("SELECT segment, r_min, r_max, f_min, f_max, m_min, m_max "
					"FROM crm.rfm_segment_map ORDER BY priority", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "rfm_analyze: reading crm.rfm_segment_map failed");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int			lim[6];
		int			j;
		Datum		name = SPI_getbinval(tup, td, 1, &isnull);

		if (isnull)
			continue;
		for (j = 0; j < 6; j++)
		{
			Datum		d = SPI_getbinval(tup, td, j + 2, &isnull);

			lim[j] = isnull ? (j % 2 ? 5 : 1) : DatumGetInt16(d);
		}
		for (r = lim[0]; r <= lim[1]; r++)
			for (f = lim[2]; f <= lim[3]; f++)
				for (m = lim[4]; m <= lim[5]; m++)
				{
					int			c = RFM_CODE(r, f, m);

					if (RfmCodeIsValid(c) && !known[c])
					{
						known[c] = true;
						segments[c] = PointerGetDatum(SPI_datumTransfer(name, false, -1));
					}
				}
	}
}

/*
 * Result rows formed directly.  heap_form_minimal_tuple works out, column by
 * column and row by row, what is the same for every row here: the first
 * three columns have fixed places, and the last five (r, f, m, rfm and
 * segment) depend only on the score code.  So the last five are laid out
 * once per code, and a row is the three numbers, the monetary value and
 * that tail, placed exactly as heap_fill_tuple places them (alignment,
 * zeroed padding, one-byte headers for short values; the numeric is written
 * in place).  Rows this cannot form (no segment, or one too long for a
 * one-byte header), and every row when the result type is not the expected
 * one, go through tuplestore_putvalues.
 */
#define RFM_ROW_HEAD 24			/* customer (8), recency (4), padding (4), frequency (8) */
#define RFM_ROW_MAX (MAXALIGN(SizeofHeapTupleHeader) + RFM_ROW_HEAD + 1 + RFM_NUMERIC_MAXDATA + 3 + 14 + VARATT_SHORT_MAX)

typedef struct RfmRowForm
{
	bool		ok;				/* the result type is laid out as expected */
	char	   *tail[RFM_CODES];	/* per code, from a 4-aligned place: r, f,
									 * m, rfm and the short segment; NULL when
									 * rows of the code cannot be formed here */
	int			taillen[RFM_CODES];
	union
	{
		HeapTupleHeaderData hdr;
		char		data[RFM_ROW_MAX];
		double		align;
	}			buf;
} RfmRowForm;

/* Whether attribute i of desc has the given type, length and alignment. */
static bool
RowAttIs(TupleDesc desc, int i, Oid type, int len, char align)
{
	Form_pg_attribute a = TupleDescAttr(desc, i);

	return !a->attisdropped && a->atttypid == type && a->attlen == len && a->attalign == align &&
		(len != -1 || a->attstorage != TYPSTORAGE_PLAIN);
}

/* Prepares the direct forming of result rows. */
static void
RfmRowFormInit(RfmRowForm *rf, TupleDesc desc, const Datum segments[RFM_CODES], const bool known[RFM_CODES])
{
	int			c;

	memset(rf->tail, 0, sizeof(rf->tail));
	rf->ok = desc->natts == 9 &&
		RowAttIs(desc, 0, INT8OID, 8, TYPALIGN_DOUBLE) &&
		RowAttIs(desc, 1, INT4OID, 4, TYPALIGN_INT) &&
		RowAttIs(desc, 2, INT8OID, 8, TYPALIGN_DOUBLE) &&
		RowAttIs(desc, 3, NUMERICOID, -1, TYPALIGN_INT) &&
		RowAttIs(desc, 4, INT4OID, 4, TYPALIGN_INT) &&
		RowAttIs(desc, 5, INT4OID, 4, TYPALIGN_INT) &&
		RowAttIs(desc, 6, INT4OID, 4, TYPALIGN_INT) &&
		TupleDescAttr(desc, 7)->attlen == 2 && TupleDescAttr(desc, 7)->attalign == TYPALIGN_SHORT &&
		!TupleDescAttr(desc, 7)->attisdropped &&
		RowAttIs(desc, 8, TEXTOID, -1, TYPALIGN_INT);
	if (!rf->ok)
		return;
	for (c = 0; c < RFM_CODES; c++)
	{
		struct varlena *seg;
		Size		len;
		char	   *t;
		int32		score[3];

		if (!RfmCodeIsValid(c) || !known[c])
			continue;
		seg = (struct varlena *) DatumGetPointer(segments[c]);
		if (VARATT_IS_SHORT(seg))
			len = VARSIZE_SHORT(seg);
		else if (VARATT_IS_4B_U(seg) && VARATT_CAN_MAKE_SHORT(seg))
			len = VARATT_CONVERTED_SHORT_SIZE(seg);
		else
			continue;
		t = palloc0(14 + len);
		score[0] = c / 100;
		score[1] = c / 10 % 10;
		score[2] = c % 10;
		memcpy(t, score, sizeof(score));
		*(int16 *) (t + 12) = (int16) c;
		SET_VARSIZE_SHORT(t + 14, len);
		memcpy(t + 15, VARATT_IS_SHORT(seg) ? VARDATA_SHORT(seg) : VARDATA(seg), len - 1);
		rf->tail[c] = t;
		rf->taillen[c] = (int) (14 + len);
	}
}

/*
 * Adds one result row to the tuplestore, formed directly when it can be;
 * false when it cannot (the caller then uses tuplestore_putvalues).
 */
static bool
RfmRowPut(RfmRowForm *rf, Tuplestorestate *ts, int64 customer, int32 recency, int64 count,
		  int128 units, int dscale, int code)
{
	const Size	hoff = MAXALIGN(SizeofHeapTupleHeader);
	char	   *d = rf->buf.data + hoff;
	Size		numlen,
				off,
				len;
	HeapTupleData tup;

	if (!rf->ok || rf->tail[code] == NULL)
		return false;
	memset(rf->buf.data, 0, hoff + RFM_ROW_HEAD + 1 + RFM_NUMERIC_MAXDATA + 3);
	*(int64 *) d = customer;
	*(int32 *) (d + 8) = recency;
	*(int64 *) (d + 16) = count;
	/* The monetary numeric, written in place with a one-byte header. */
	numlen = 1 + UnitsToNumericData(units, dscale, d + RFM_ROW_HEAD + 1);
	SET_VARSIZE_SHORT(d + RFM_ROW_HEAD, numlen);
	off = TYPEALIGN(ALIGNOF_INT, RFM_ROW_HEAD + numlen);
	memcpy(d + off, rf->tail[code], rf->taillen[code]);
	len = hoff + off + rf->taillen[code];
	HeapTupleHeaderSetNatts(&rf->buf.hdr, 9);
	rf->buf.hdr.t_hoff = hoff;
	rf->buf.hdr.t_infomask = HEAP_HASVARWIDTH;
	HeapTupleHeaderSetDatumLength(&rf->buf.hdr, len);
	tup.t_len = len;
	tup.t_data = &rf->buf.hdr;
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tuplestore_puttuple(ts, &tup);
	return true;
}

/* Rejects a NULL argument of crm.rfm_analyze. */
static inline void
CheckArgNotNull(FunctionCallInfo fcinfo, int i, const char *name)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument %s of crm.rfm_analyze must not be NULL", name),
				 errdetail("Only period may be NULL (meaning all purchases up to as_of)."),
				 errhint("Leave the argument out to use its default.")));
}

PG_FUNCTION_INFO_V1(rfm_analyze);
/* crm.rfm_analyze(as_of, source, customer_col, time_col, amount_col, period). */
Datum
rfm_analyze(PG_FUNCTION_ARGS)
{
	static const Oid cust_ok[] = {INT8OID, INT4OID, INT2OID, InvalidOid};
	static const Oid time_ok[] = {TIMESTAMPTZOID, TIMESTAMPOID, DATEOID, InvalidOid};
	static const Oid amount_ok[] = {NUMERICOID, INT8OID, INT4OID, INT2OID, InvalidOid};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz as_of;
	Oid			relid;
	char	   *ccol,
			   *tcol,
			   *acol,
			   *qt;
	Oid			ctype,
				ttype,
				atype;
	bool		has_period = !PG_ARGISNULL(5);
	bool		direct = false;
	RfmScanShared params;
	RfmFound	found;
	StringInfoData q;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	Datum		segments[RFM_CODES];
	bool		known[RFM_CODES];
	RfmTable   *t = NULL;
	int64		n = 0,
				total,
				i,
				j;
	double	   *mon = NULL,
			   *work = NULL;
	double		br[4],
				bf[4],
				bm[4];
	MemoryContext workcxt;
	MemoryContext oldcxt;
	RfmRowForm *rowform;

	CheckArgNotNull(fcinfo, 0, "as_of");
	CheckArgNotNull(fcinfo, 1, "source");
	CheckArgNotNull(fcinfo, 2, "customer_col");
	CheckArgNotNull(fcinfo, 3, "time_col");
	CheckArgNotNull(fcinfo, 4, "amount_col");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	relid = PG_GETARG_OID(1);
	ccol = NameStr(*PG_GETARG_NAME(2));
	tcol = NameStr(*PG_GETARG_NAME(3));
	acol = NameStr(*PG_GETARG_NAME(4));
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time"),
				 errdetail("Recency is counted in days up to as_of."),
				 errhint("Pass a time such as now().")));
	args[0] = TimestampTzGetDatum(as_of);
	args[1] = (Datum) 0;
	if (has_period)
	{
		Interval   *period = PG_GETARG_INTERVAL_P(5);

		if (period->month < 0 || period->day < 0 || period->time < 0 ||
			(period->month == 0 && period->day == 0 && period->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period must be a positive interval"),
					 errdetail("Only purchases after as_of - period and up to as_of are counted."),
					 errhint("Pass an interval such as '1 year', or NULL for all history.")));
		args[1] = DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(as_of),
									  IntervalPGetDatum(period));
	}
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errdetail("The source must be a table, view or partitioned table."),
				 errhint("Pass the table's name, such as 'crm.purchase'.")));
	ctype = CheckColumn(relid, ccol, "customer id", "customer_col", cust_ok, "bigint, integer or smallint");
	ttype = CheckColumn(relid, tcol, "purchase time", "time_col", time_ok, "timestamp with time zone, timestamp or date");
	atype = CheckColumn(relid, acol, "amount", "amount_col", amount_ok, "numeric or an integer type");

	/* One aggregate over the source. */
	qt = psprintf("%s::pg_catalog.timestamptz", quote_identifier(tcol));
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT crm.rfm_collect(%s::pg_catalog.int8, %s, %s%s) FROM %s "
					 "WHERE %s OPERATOR(pg_catalog.<=) $1",
					 quote_identifier(ccol), qt, quote_identifier(acol),
					 atype == NUMERICOID ? "" : "::pg_catalog.numeric",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)),
					 qt);
	if (has_period)
		appendStringInfo(&q, " AND %s OPERATOR(pg_catalog.>) $2", qt);

	InitMaterializedSRF(fcinfo, 0);
	workcxt = AllocSetContextCreate(CurrentMemoryContext, "crm.rfm_analyze", ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "rfm_analyze: SPI_connect failed");
	LoadSegments(segments, known);

	oldcxt = MemoryContextSwitchTo(workcxt);
	memset(&found, 0, sizeof(found));
	params.att[0] = get_attnum(relid, ccol);
	params.att[1] = get_attnum(relid, tcol);
	params.att[2] = get_attnum(relid, acol);
	if (RfmDirectPossible(relid, params.att))
	{
		params.relid = relid;
		params.type[0] = ctype;
		params.type[1] = ttype;
		params.type[2] = atype;
		params.upper = as_of;
		params.has_lower = has_period;
		params.lower = has_period ? DatumGetTimestampTz(args[1]) : DT_NOBEGIN;
		RfmDirectScan(&params, &found);
		direct = true;
	}
	else
	{
		/*
		 * Views, partitioned and foreign tables, row-level security, column
		 * privileges: the query path.  Its plan may use parallel query: on a
		 * large source the planner splits the scan over workers, each builds
		 * a partial table and the leader merges them (crm.rfm_collect is
		 * parallel safe).
		 */
		MemoryContextSwitchTo(oldcxt);
		if (SPI_execute_with_args(q.data, has_period ? 2 : 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "rfm_analyze: scan query failed: %s", q.data);
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				t = RfmTableForReading(d);
				found.a = t->slots;
				found.na = t->capacity;
				found.rows = t->rows;
				found.bytes = VARSIZE(t);
			}
		}
		MemoryContextSwitchTo(workcxt);
	}

	/*
	 * One walk over the tables: recency days and purchase counts are
	 * counted, monetary values kept for selecting their breaks.
	 */
	total = found.na + found.nsh;
	if (total > 0)
	{
		WholeCounts hr,
					hf;

		mon = (double *) MemoryContextAllocHuge(workcxt, total * 2 * sizeof(double));
		work = mon + total;
		WholeCountsInit(&hr, 4 * total + 1024);
		WholeCountsInit(&hf, 4 * total + 1024);
		for (i = 0; i < total; i++)
		{
			RfmOut		e;

			if (!RfmFoundGet(&found, i, &e))
				continue;
			WholeCountsAdd(&hr, RecencyDays(as_of, e.last));
			WholeCountsAdd(&hf, e.count);
			mon[n++] = OutMonetary(&e);
		}
		if (n > 0)
		{
			if (!WholeCountsBreaks(&hr, n, br))
				SelectedBreaks(&found, as_of, true, work, n, br);
			if (!WholeCountsBreaks(&hf, n, bf))
				SelectedBreaks(&found, as_of, false, work, n, bf);
			QuintileBreaksRadix(mon, n, bm, work);
		}
	}

	rowform = palloc(sizeof(RfmRowForm));
	RfmRowFormInit(rowform, rsinfo->setDesc, segments, known);
	/* The same walk over the tables again, now with every customer's scores. */
	for (i = 0, j = 0; j < n; i++)
	{
		RfmOut		e;
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, false, false, false};
		int			r,
					f,
					m,
					c;
		int32		days;

		if (!RfmFoundGet(&found, i, &e))
			continue;
		days = (int32) RecencyDays(as_of, e.last);
		r = ScoreLow((double) days, br);
		f = ScoreHigh((double) e.count, bf);
		m = ScoreHigh(mon[j], bm);
		c = RFM_CODE(r, f, m);
		j++;
		if (RfmRowPut(rowform, rsinfo->setResult, e.customer, days, e.count, OutUnits(&e), e.dscale, c))
			continue;
		values[0] = Int64GetDatum(e.customer);
		values[1] = Int32GetDatum(days);
		values[2] = Int64GetDatum(e.count);
		values[3] = NumericGetDatum(UnitsToNumeric(OutUnits(&e), e.dscale));
		values[4] = Int32GetDatum(r);
		values[5] = Int32GetDatum(f);
		values[6] = Int32GetDatum(m);
		values[7] = Int16GetDatum(c);
		if (known[c])
			values[8] = segments[c];
		else
			nulls[8] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[3]));
	}
	MemoryContextSwitchTo(oldcxt);

	elog(DEBUG2, "crm.rfm_analyze: " INT64_FORMAT " rows, " INT64_FORMAT " customers, %zu kB of tables, %zu kB of working memory",
		 found.rows, n, found.bytes / 1024, MemoryContextMemAllocated(workcxt, true) / 1024);
	if (direct)
	{
		char	   *ids = params.dense_n == 0 ? "" :
			psprintf("; ids " INT64_FORMAT " to " INT64_FORMAT " have a slot each",
					 params.dense_lo, params.dense_lo + (params.dense_n - 1));

		elog(DEBUG1, "crm.rfm_analyze read %s directly, %s%s%s", get_rel_name(relid),
			 found.pcxt == NULL ? "alone" : "with parallel workers", ids,
			 !found.filled ? "" : found.pcxt == NULL ? "; the table filled up" : "; the shared table filled up");
	}
	RfmFoundRelease(&found);
	SPI_finish();
	MemoryContextDelete(workcxt);
	return (Datum) 0;
}
