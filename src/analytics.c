/*
 * analytics.c: customer analytics aggregates.
 *
 *   crm.nps(), crm.csat()       counters in a bigint[] state
 *   crm.tally                   a sorted map from text keys to fixed-length
 *                               vectors of float8, with an exact text form
 *                               (JSON, shortest exact decimals); the state of
 *                               every aggregate below
 *   crm.rating_summary()        per-dimension count and mean
 *   crm.funnel()                furthest stage reached -> per-stage counts
 *   crm.ab_test()               two-proportion z test per variant
 *   crm.welch_test()            Welch's t test per variant
 *   crm.markov_attribution()    Markov chain (order 1 to 8) removal effects
 *   crm.heuristic_attribution() first touch, last touch, linear
 *
 * Partial states are combined by crm.tally_combine(), which knows how each
 * kind merges (sums, Chan's formula for means and squared deviations,
 * positions of funnel stages that must agree).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "crm.h"

/* ------------------------------------------------------------------------
 * Counters in a bigint[] state (crm.nps, crm.csat)
 * ------------------------------------------------------------------------ */

/* The counters of a bigint[] state, checked for shape. */
static int64 *
CountsOf(ArrayType *a, int n, const char *aggname)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != n || ARR_HASNULL(a) ||
		ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state of %s", aggname),
				 errdetail("The state must be a one-dimensional bigint array of %d counters without NULLs.", n),
				 errhint("Pass states produced by the aggregate itself.")));
	return (int64 *) ((char *) a + ARR_OVERHEAD_NONULLS(1));
}

/* A writable copy of the state unless we may update it in place. */
static ArrayType *
CountsState(FunctionCallInfo fcinfo, int argno)
{
	if (AggCheckCallContext(fcinfo, NULL))
		return PG_GETARG_ARRAYTYPE_P(argno);
	return PG_GETARG_ARRAYTYPE_P_COPY(argno);
}

/* Adds to a counter, refusing to wrap around. */
static inline void
CountAdd(int64 *c, int64 v)
{
	if (pg_add_s64_overflow(*c, v, c))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("counter out of range"),
				 errdetail("A count of the aggregate exceeds the bigint range."),
				 errhint("Aggregate smaller groups.")));
}

PG_FUNCTION_INFO_V1(counts_add);
/* Combine of the counter aggregates: element-wise sum of two bigint[] states. */
Datum
counts_add(PG_FUNCTION_ARGS)
{
	ArrayType  *a = CountsState(fcinfo, 0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			n = ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0;
	int64	   *ca = CountsOf(a, n, "a counter aggregate");
	int64	   *cb = CountsOf(b, n, "a counter aggregate");
	int			i;

	for (i = 0; i < n; i++)
		CountAdd(&ca[i], cb[i]);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(nps_trans);
/* Transition of crm.nps: counts a detractor (0-6), passive (7-8) or promoter (9-10). */
Datum
nps_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a = CountsState(fcinfo, 0);
	int32		score = PG_GETARG_INT32(1);
	int64	   *c = CountsOf(a, 3, "crm.nps");

	if (score < 0 || score > 10)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("NPS score %d is out of range", score),
				 errdetail("A likelihood-to-recommend score is an integer from 0 to 10."),
				 errhint("Map other scales to 0..10 first, or filter the row out.")));
	CountAdd(&c[score <= 6 ? 0 : (score <= 8 ? 1 : 2)], 1);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(nps_final);
/* Final of crm.nps: 100 * (promoters - detractors) / responses, NULL without responses. */
Datum
nps_final(PG_FUNCTION_ARGS)
{
	int64	   *c = CountsOf(PG_GETARG_ARRAYTYPE_P(0), 3, "crm.nps");
	double		n = (double) c[0] + (double) c[1] + (double) c[2];

	if (c[0] < 0 || c[1] < 0 || c[2] < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state of crm.nps"),
				 errdetail("Counts cannot be negative."),
				 errhint("Pass states produced by the aggregate itself.")));
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(100.0 * ((double) c[2] - (double) c[0]) / n);
}

PG_FUNCTION_INFO_V1(csat_trans);
/* Transition of crm.csat: counts a response and whether it is satisfied. */
Datum
csat_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	int32		score;
	int32		scale;
	int64	   *c;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the state of crm.csat must not be NULL"),
				 errhint("Start from {0,0}.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	a = CountsState(fcinfo, 0);
	score = PG_GETARG_INT32(1);
	scale = PG_GETARG_INT32(2);
	c = CountsOf(a, 2, "crm.csat");
	if (scale < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CSAT scale %d is out of range", scale),
				 errdetail("The scale is the highest possible score and must be at least 2."),
				 errhint("Pass 5 for a 1..5 scale.")));
	if (score < 1 || score > scale)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CSAT score %d is out of range", score),
				 errdetail("Scores go from 1 to the scale, %d.", scale),
				 errhint("Check the scale passed with the score.")));
	CountAdd(&c[0], 1);
	/* satisfied: in the top quarter of the range, 4 and 5 on a 1..5 scale */
	if (4 * ((int64) score - 1) >= 3 * ((int64) scale - 1))
		CountAdd(&c[1], 1);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(csat_final);
/* Final of crm.csat: percent of satisfied responses, NULL without responses. */
Datum
csat_final(PG_FUNCTION_ARGS)
{
	int64	   *c = CountsOf(PG_GETARG_ARRAYTYPE_P(0), 2, "crm.csat");

	if (c[0] < 0 || c[1] < 0 || c[1] > c[0])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state of crm.csat"),
				 errdetail("The state is {responses,satisfied} with 0 <= satisfied <= responses."),
				 errhint("Pass states produced by the aggregate itself.")));
	if (c[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(100.0 * (double) c[1] / (double) c[0]);
}

/* ------------------------------------------------------------------------
 * crm.tally: sorted map from text keys to float8 vectors
 *
 * Layout: the header, int32 offsets[nkeys] of the entries in key order, the
 * label (NUL-terminated, label_len bytes with the NUL, 0 when there is none),
 * padding to 8 bytes, then the entries, each: float8 vals[width], int32
 * keylen, the key and a NUL, padding to 8.  Entries are appended; only the
 * offsets are kept in key order (bytewise, like strcmp).
 * ------------------------------------------------------------------------ */

typedef struct Tally
{
	int32		vl_len_;
	uint8		version;
	uint8		kind;
	uint16		width;
	int32		nkeys;
	int32		label_len;
	int32		entries_size;
	int32		offsets[FLEXIBLE_ARRAY_MEMBER];
} Tally;

#define TALLY_VERSION 1

enum
{
	TALLY_RATING = 1,
	TALLY_AB_TEST,
	TALLY_WELCH,
	TALLY_FUNNEL,
	TALLY_ATTRIBUTION
};

static const struct
{
	const char *name;
	int			width;
}			TallyKinds[] =
{
	{NULL, 0},
	{"rating", 2},				/* count, sum */
	{"ab_test", 2},				/* n, conversions */
	{"welch", 3},				/* n, mean, sum of squared deviations */
	{"funnel", 2},				/* position, count */
	{"attribution", 2}			/* see the attribution section */
};

#define TALLY_NKINDS ((int) lengthof(TallyKinds))

static inline Size
TallyHeadSize(int nkeys, int label_len)
{
	return TYPEALIGN(8, offsetof(Tally, offsets) + sizeof(int32) * nkeys + label_len);
}

static inline Size
TallyEntrySize(int width, int keylen)
{
	return sizeof(float8) * width + TYPEALIGN(8, sizeof(int32) + keylen + 1);
}

static inline char *
TallyLabel(Tally *t)
{
	return t->label_len > 0 ? (char *) (t->offsets + t->nkeys) : NULL;
}

/* Values of the i-th key in key order. */
static inline float8 *
TallyVals(Tally *t, int i)
{
	return (float8 *) ((char *) t + TallyHeadSize(t->nkeys, t->label_len) + t->offsets[i]);
}

static inline int
TallyKeyLen(Tally *t, int i)
{
	return *(int32 *) (TallyVals(t, i) + t->width);
}

static inline char *
TallyKey(Tally *t, int i)
{
	return (char *) (TallyVals(t, i) + t->width) + sizeof(int32);
}

/* An empty tally of a kind, in the current memory context. */
static Tally *
TallyNew(int kind, const char *label, int labellen)
{
	int			label_len = label ? labellen + 1 : 0;
	Size		size = TallyHeadSize(0, label_len);
	Tally	   *t = palloc0(size);

	SET_VARSIZE(t, size);
	t->version = TALLY_VERSION;
	t->kind = kind;
	t->width = TallyKinds[kind].width;
	t->label_len = label_len;
	if (label)
		memcpy((char *) t->offsets, label, labellen);
	return t;
}

/* Bytewise comparison of a key (ptr, len) with the i-th key. */
static inline int
TallyCmp(Tally *t, int i, const char *key, int keylen)
{
	int			l = TallyKeyLen(t, i);
	int			c = memcmp(key, TallyKey(t, i), Min(keylen, l));

	return c != 0 ? c : keylen - l;
}

/* Index of a key, or -1 with *pos set to where it would go. */
static int
TallySearch(Tally *t, const char *key, int keylen, int *pos)
{
	int			lo = 0;
	int			hi = t->nkeys;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = TallyCmp(t, mid, key, keylen);

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return -1;
}

/*
 * A copy of the tally with a new key (zero values) at position pos, in the
 * current memory context.  The old tally is left alone: inside an aggregate
 * the executor copies the new state into its context and frees the old one.
 */
static Tally *
TallyInsertAt(Tally *t, int pos, const char *key, int keylen)
{
	int			n = t->nkeys;
	Size		oldhead = TallyHeadSize(n, t->label_len);
	Size		newhead = TallyHeadSize(n + 1, t->label_len);
	Size		esize = TallyEntrySize(t->width, keylen);
	Size		total = newhead + t->entries_size + esize;
	Tally	   *r;
	char	   *e;

	if (total > MaxAllocSize / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("aggregate state too large"),
				 errdetail("The state would hold %d keys in %zu bytes.", n + 1, total),
				 errhint("Aggregate over fewer distinct keys (variants, dimensions, channels).")));
	r = palloc0(total);
	memcpy(r, t, offsetof(Tally, offsets));
	SET_VARSIZE(r, total);
	r->nkeys = n + 1;
	memcpy(r->offsets, t->offsets, sizeof(int32) * pos);
	r->offsets[pos] = t->entries_size;
	memcpy(r->offsets + pos + 1, t->offsets + pos, sizeof(int32) * (n - pos));
	if (t->label_len > 0)
		memcpy(r->offsets + n + 1, t->offsets + n, t->label_len);
	memcpy((char *) r + newhead, (char *) t + oldhead, t->entries_size);
	e = (char *) r + newhead + t->entries_size;
	*(int32 *) (e + sizeof(float8) * t->width) = keylen;
	memcpy(e + sizeof(float8) * t->width + sizeof(int32), key, keylen);
	r->entries_size += esize;
	return r;
}

/* Values of a key, adding the key when missing (*tp may change). */
static float8 *
TallyGet(Tally **tp, const char *key, int keylen)
{
	int			pos;
	int			i = TallySearch(*tp, key, keylen, &pos);

	if (i < 0)
	{
		*tp = TallyInsertAt(*tp, pos, key, keylen);
		i = pos;
	}
	return TallyVals(*tp, i);
}

static const char *
TallyKindName(int kind)
{
	return kind > 0 && kind < TALLY_NKINDS ? TallyKinds[kind].name : "unknown";
}

/* Checks that a tally is of the kind a function expects. */
static void
TallyCheckKind(Tally *t, int kind, const char *fname)
{
	if (t->version != TALLY_VERSION || t->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot use a crm.tally of kind \"%s\"", fname, TallyKindName(t->kind)),
				 errdetail("It needs a state of kind \"%s\".", TallyKindName(kind)),
				 errhint("Pass states produced by the matching aggregate.")));
}

/* Appends a float8 as the shortest decimal that reads back exactly (JSON null if not finite). */
static inline void
AppendDouble(StringInfo buf, double v)
{
	crm_append_double(buf, v, "null");
}

/* Appends a JSON string of (ptr, len). */
static void
AppendJsonString(StringInfo buf, const char *s, int len)
{
	char	   *c = pnstrdup(s, len);

	escape_json(buf, c);
	pfree(c);
}

/* Text form: {"kind": "rating", "label": null, "data": {"key": [v, ...], ...}} */
static char *
TallyToText(Tally *t)
{
	StringInfoData buf;
	int			i,
				j;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"kind\": ");
	escape_json(&buf, TallyKindName(t->kind));
	appendStringInfoString(&buf, ", \"label\": ");
	if (TallyLabel(t))
		escape_json(&buf, TallyLabel(t));
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"data\": {");
	for (i = 0; i < t->nkeys; i++)
	{
		float8	   *v = TallyVals(t, i);

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		AppendJsonString(&buf, TallyKey(t, i), TallyKeyLen(t, i));
		appendStringInfoString(&buf, ": [");
		for (j = 0; j < t->width; j++)
		{
			if (j > 0)
				appendStringInfoString(&buf, ", ");
			AppendDouble(&buf, v[j]);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

static void
TallySyntax(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.tally: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("Write {\"kind\": \"rating\", \"label\": null, \"data\": {\"taste\": [2, 9]}}.")));
}

/* A finite float8 from a JSON number. */
static double
JsonbNumberToDouble(JsonbValue *v, const char *str)
{
	double		d;

	if (v->type != jbvNumeric)
		TallySyntax(str, "Every value must be a number.");
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (isnan(d) || isinf(d))
		TallySyntax(str, "Every value must be finite.");
	return d;
}

/* Parses the text form through jsonb; values read back to the same float8. */
static Tally *
TallyFromText(const char *str)
{
	Jsonb	   *jb;
	JsonbValue *kv;
	JsonbValue *lv;
	JsonbValue *dv;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Tally	   *t;
	int			kind = 0;
	int			k;
	char	   *key = NULL;
	int			keylen = 0;

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		TallySyntax(str, "The text form is a JSON object.");
	kv = getKeyJsonValueFromContainer(&jb->root, "kind", 4, NULL);
	lv = getKeyJsonValueFromContainer(&jb->root, "label", 5, NULL);
	dv = getKeyJsonValueFromContainer(&jb->root, "data", 4, NULL);
	if (JsonContainerSize(&jb->root) != 3 || !kv || !lv || !dv)
		TallySyntax(str, "The object has exactly the keys kind, label and data.");
	if (kv->type != jbvString)
		TallySyntax(str, "The kind is a string.");
	for (k = 1; k < TALLY_NKINDS; k++)
		if (strlen(TallyKinds[k].name) == (size_t) kv->val.string.len &&
			memcmp(TallyKinds[k].name, kv->val.string.val, kv->val.string.len) == 0)
			kind = k;
	if (kind == 0)
		TallySyntax(str, "The kind is one of rating, ab_test, welch, funnel, attribution.");
	if (lv->type == jbvString)
	{
		if (memchr(lv->val.string.val, '\0', lv->val.string.len))
			TallySyntax(str, "The label cannot contain a NUL character.");
		t = TallyNew(kind, lv->val.string.val, lv->val.string.len);
	}
	else if (lv->type == jbvNull)
		t = TallyNew(kind, NULL, 0);
	else
		TallySyntax(str, "The label is a string or null.");
	if (dv->type != jbvBinary || !JsonContainerIsObject(dv->val.binary.data))
		TallySyntax(str, "The data is an object of arrays of numbers.");

	it = JsonbIteratorInit(dv->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			if (memchr(key, '\0', keylen))
				TallySyntax(str, "A key cannot contain a NUL character.");
		}
		else if (tok == WJB_VALUE)
		{
			JsonbIterator *ai;
			JsonbValue	e;
			JsonbIteratorToken at;
			float8	   *vals;
			int			j = 0;
			int			pos;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
				JsonContainerSize(v.val.binary.data) != t->width)
				TallySyntax(str, psprintf("Each value is an array of %d numbers for kind %s.",
										  (int) t->width, TallyKinds[kind].name));
			if (TallySearch(t, key, keylen, &pos) >= 0)
				TallySyntax(str, "Keys must be unique.");
			t = TallyInsertAt(t, pos, key, keylen);
			vals = TallyVals(t, pos);
			ai = JsonbIteratorInit(v.val.binary.data);
			while ((at = JsonbIteratorNext(&ai, &e, true)) != WJB_DONE)
				if (at == WJB_ELEM)
					vals[j++] = JsonbNumberToDouble(&e, str);
		}
	}
	return t;
}

PG_FUNCTION_INFO_V1(tally_in);
/* Text input of crm.tally. */
Datum
tally_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TallyFromText(PG_GETARG_CSTRING(0)));
}

PG_FUNCTION_INFO_V1(tally_out);
/* Text output of crm.tally. */
Datum
tally_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(TallyToText((Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(tally_recv);
/* Binary input of crm.tally: the text form. */
Datum
tally_recv(PG_FUNCTION_ARGS)
{
	StringInfo	msg = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *s = pq_getmsgtext(msg, msg->len - msg->cursor, &nbytes);

	PG_RETURN_POINTER(TallyFromText(s));
}

PG_FUNCTION_INFO_V1(tally_send);
/* Binary output of crm.tally: the text form. */
Datum
tally_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	char	   *s = TallyToText((Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));

	pq_begintypsend(&buf);
	pq_sendtext(&buf, s, strlen(s));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Refuses a sum that left the float8 range. */
static inline void
CheckFinite(double v)
{
	if (isinf(v) || isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range in aggregate state"),
				 errdetail("A sum left the range of double precision."),
				 errhint("Aggregate smaller values or fewer rows.")));
}

/* Merges the values of one key of b into a, as the kind requires. */
static void
TallyMergeVals(int kind, float8 *a, const float8 *b, int width, const char *key)
{
	int			j;

	switch (kind)
	{
		case TALLY_WELCH:
			{
				/* Chan et al.: pooled mean and sum of squared deviations */
				double		na = a[0],
							nb = b[0],
							n = na + nb,
							d;

				if (nb == 0)
					return;
				if (na == 0)
				{
					memcpy(a, b, sizeof(float8) * 3);
					return;
				}
				d = b[1] - a[1];
				a[1] = a[1] + d * nb / n;
				a[2] = a[2] + b[2] + d * d * na * nb / n;
				a[0] = n;
				break;
			}
		case TALLY_FUNNEL:
			if (a[0] != b[0])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("funnel states disagree on the position of stage \"%s\"", key),
						 errdetail("One state has it at %g, the other at %g.", a[0], b[0]),
						 errhint("Pass the same stages array to every crm.funnel call that is combined.")));
			a[1] += b[1];
			break;
		default:
			for (j = 0; j < width; j++)
				a[j] += b[j];
			break;
	}
	for (j = 0; j < width; j++)
		CheckFinite(a[j]);
}

/* Merges b into a (a may be replaced). */
static Tally *
TallyMerge(Tally *a, Tally *b)
{
	int			i;

	if (a->kind != b->kind || a->version != b->version)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine crm.tally states of kinds \"%s\" and \"%s\"",
						TallyKindName(a->kind), TallyKindName(b->kind)),
				 errhint("Combine states of the same aggregate.")));
	if ((TallyLabel(a) == NULL) != (TallyLabel(b) == NULL) ||
		(TallyLabel(a) && strcmp(TallyLabel(a), TallyLabel(b)) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine crm.tally states with different labels"),
				 errdetail("One has \"%s\", the other \"%s\".",
						   TallyLabel(a) ? TallyLabel(a) : "", TallyLabel(b) ? TallyLabel(b) : ""),
				 errhint("An A/B test state records its control variant; use the same control everywhere.")));
	if (a->kind == TALLY_FUNNEL && a->nkeys != b->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel states have different stages"),
				 errhint("Pass the same stages array to every crm.funnel call that is combined.")));
	for (i = 0; i < b->nkeys; i++)
	{
		float8	   *va = TallyGet(&a, TallyKey(b, i), TallyKeyLen(b, i));

		TallyMergeVals(a->kind, va, TallyVals(b, i), a->width, TallyKey(b, i));
	}
	return a;
}

PG_FUNCTION_INFO_V1(tally_combine);
/* Combine of every crm.tally aggregate (either side may be NULL). */
Datum
tally_combine(PG_FUNCTION_ARGS)
{
	Tally	   *a;
	Tally	   *b;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "tally_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1)));
	/* a may arrive in a short-header copy; detoasting then makes a new one */
	a = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	PG_RETURN_POINTER(TallyMerge(a, b));
}

/* The state of a transition function: the previous one, or a new tally. */
static Tally *
TallyState(FunctionCallInfo fcinfo, int kind, const char *fname, const char *label, int labellen)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "%s called in non-aggregate context", fname);
	if (PG_ARGISNULL(0))
		return TallyNew(kind, label, labellen);
	return (Tally *) PG_GETARG_POINTER(0);
}

/* Builds a jsonb from JSON text. */
static Datum
JsonbFromBuf(StringInfo buf)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data));
}

/* ------------------------------------------------------------------------
 * crm.rating_summary
 * ------------------------------------------------------------------------ */

/* Adds one rating of a dimension. */
static void
RatingAdd(Tally **t, const char *dim, int dimlen, double rating)
{
	float8	   *v;

	if (isnan(rating) || isinf(rating))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("rating of \"%.*s\" is not a finite number", dimlen, dim),
				 errhint("Pass ratings such as 4 or 4.5.")));
	v = TallyGet(t, dim, dimlen);
	v[0] += 1;
	v[1] += rating;
	CheckFinite(v[1]);
}

PG_FUNCTION_INFO_V1(rating_summary_trans);
/* Transition of crm.rating_summary(jsonb): every numeric member of an object. */
Datum
rating_summary_trans(PG_FUNCTION_ARGS)
{
	Tally	   *t = TallyState(fcinfo, TALLY_RATING, "rating_summary_trans", NULL, 0);
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			keylen = 0;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(t);
	jb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ratings must be a JSON object"),
				 errdetail("Got a JSON %s.", JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb) ? "array" : "scalar"),
				 errhint("Pass ratings like {\"taste\": 5, \"service\": 4}.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type == jbvNull)
				continue;
			if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("rating of \"%.*s\" is not a number", keylen, key),
						 errhint("Pass ratings like {\"taste\": 5, \"service\": 4}; null skips a dimension.")));
			RatingAdd(&t, key, keylen,
					  DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														 NumericGetDatum(v.val.numeric))));
		}
	}
	PG_RETURN_POINTER(t);
}

PG_FUNCTION_INFO_V1(rating_summary_pair_trans);
/* Transition of crm.rating_summary(text, float8): one (dimension, rating) pair. */
Datum
rating_summary_pair_trans(PG_FUNCTION_ARGS)
{
	Tally	   *t = TallyState(fcinfo, TALLY_RATING, "rating_summary_pair_trans", NULL, 0);
	text	   *dim;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(t);
	dim = PG_GETARG_TEXT_PP(1);
	RatingAdd(&t, VARDATA_ANY(dim), VARSIZE_ANY_EXHDR(dim), PG_GETARG_FLOAT8(2));
	PG_RETURN_POINTER(t);
}

PG_FUNCTION_INFO_V1(rating_summary_final);
/* Final of crm.rating_summary: {"dimension": {"count": n, "mean": m}, ...}. */
Datum
rating_summary_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int			i;

	TallyCheckKind(t, TALLY_RATING, "crm.rating_summary");
	if (t->nkeys == 0)
		PG_RETURN_NULL();		/* no rating counted */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < t->nkeys; i++)
	{
		float8	   *v = TallyVals(t, i);

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		AppendJsonString(&buf, TallyKey(t, i), TallyKeyLen(t, i));
		appendStringInfoString(&buf, ": {\"count\": ");
		AppendDouble(&buf, v[0]);
		appendStringInfoString(&buf, ", \"mean\": ");
		AppendDouble(&buf, v[0] > 0 ? v[1] / v[0] : NAN);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}

/* ------------------------------------------------------------------------
 * crm.funnel
 * ------------------------------------------------------------------------ */

/* Cached stages of a crm.funnel call: the array as given, to check it stays the same. */
typedef struct FunnelCache
{
	ArrayType  *stages;
} FunnelCache;

/* A new funnel state with every stage at count 0; checks the stages. */
static Tally *
FunnelNew(ArrayType *stages)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	Tally	   *t = TallyNew(TALLY_FUNNEL, NULL, 0);

	if (ARR_NDIM(stages) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("stages must be a one-dimensional array"),
				 errhint("Pass the stages in order, such as ARRAY['lead', 'qualified', 'proposal', 'won'].")));
	deconstruct_array(stages, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stages must not be empty"),
				 errhint("Pass the stages in order, such as ARRAY['lead', 'qualified', 'proposal', 'won'].")));
	for (i = 0; i < n; i++)
	{
		text	   *s;
		int			pos;
		float8	   *v;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("stages must not contain NULL"),
					 errhint("Pass the stages in order, such as ARRAY['lead', 'qualified', 'proposal', 'won'].")));
		s = DatumGetTextPP(elems[i]);
		if (TallySearch(t, VARDATA_ANY(s), VARSIZE_ANY_EXHDR(s), &pos) >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stage \"%s\" appears twice in stages", text_to_cstring(s)),
					 errhint("Name each stage once, in funnel order.")));
		t = TallyInsertAt(t, pos, VARDATA_ANY(s), VARSIZE_ANY_EXHDR(s));
		v = TallyVals(t, pos);
		v[0] = i + 1;
	}
	return t;
}

PG_FUNCTION_INFO_V1(funnel_trans);
/* Transition of crm.funnel: counts the furthest stage one lead or opportunity reached. */
Datum
funnel_trans(PG_FUNCTION_ARGS)
{
	Tally	   *t;
	ArrayType  *stages;
	FunnelCache *cache = (FunnelCache *) fcinfo->flinfo->fn_extra;
	text	   *stage;
	int			pos;
	int			i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_trans called in non-aggregate context");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stages must not be NULL"),
				 errhint("Pass the stages in order, such as ARRAY['lead', 'qualified', 'proposal', 'won'].")));
	stages = PG_GETARG_ARRAYTYPE_P(2);
	if (cache == NULL)
	{
		cache = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FunnelCache));
		cache->stages = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(stages));
		memcpy(cache->stages, stages, VARSIZE(stages));
		fcinfo->flinfo->fn_extra = cache;
	}
	else if (VARSIZE(stages) != VARSIZE(cache->stages) ||
			 memcmp(stages, cache->stages, VARSIZE(stages)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stages must be the same for every row of crm.funnel"),
				 errhint("Pass a constant array of stages.")));
	t = PG_ARGISNULL(0) ? FunnelNew(stages) : (Tally *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(t);
	stage = PG_GETARG_TEXT_PP(1);
	i = TallySearch(t, VARDATA_ANY(stage), VARSIZE_ANY_EXHDR(stage), &pos);
	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage \"%s\" is not one of the funnel stages", text_to_cstring(stage)),
				 errdetail("The stages are %s.",
						   DatumGetCString(OidFunctionCall1(F_ARRAY_OUT, PointerGetDatum(stages)))),
				 errhint("Map the value to one of the stages, or filter the row out.")));
	TallyVals(t, i)[1] += 1;
	PG_RETURN_POINTER(t);
}

/* Orders funnel entries by position. */
static Tally *funnel_sort_tally;

static int
FunnelCmp(const void *a, const void *b)
{
	float8		pa = TallyVals(funnel_sort_tally, *(const int *) a)[0];
	float8		pb = TallyVals(funnel_sort_tally, *(const int *) b)[0];

	return pa < pb ? -1 : (pa > pb ? 1 : 0);
}

PG_FUNCTION_INFO_V1(funnel_final);
/* Final of crm.funnel: one object per stage, in funnel order. */
Datum
funnel_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	int		   *order;
	double	   *reached;
	double		first;
	StringInfoData buf;
	int			i;

	TallyCheckKind(t, TALLY_FUNNEL, "crm.funnel");
	order = palloc(sizeof(int) * (t->nkeys + 1));
	reached = palloc(sizeof(double) * (t->nkeys + 1));
	for (i = 0; i < t->nkeys; i++)
		order[i] = i;
	funnel_sort_tally = t;
	qsort(order, t->nkeys, sizeof(int), FunnelCmp);
	reached[t->nkeys] = 0;
	for (i = t->nkeys - 1; i >= 0; i--)
		reached[i] = reached[i + 1] + TallyVals(t, order[i])[1];
	first = t->nkeys > 0 ? reached[0] : 0;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < t->nkeys; i++)
	{
		int			k = order[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"stage\": ");
		AppendJsonString(&buf, TallyKey(t, k), TallyKeyLen(t, k));
		appendStringInfo(&buf, ", \"position\": %d, \"stopped\": ", i + 1);
		AppendDouble(&buf, TallyVals(t, k)[1]);
		appendStringInfoString(&buf, ", \"reached\": ");
		AppendDouble(&buf, reached[i]);
		appendStringInfoString(&buf, ", \"conversion\": ");
		AppendDouble(&buf, i == 0 ? NAN : (reached[i - 1] > 0 ? reached[i] / reached[i - 1] : NAN));
		appendStringInfoString(&buf, ", \"overall\": ");
		AppendDouble(&buf, first > 0 ? reached[i] / first : NAN);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}

/* ------------------------------------------------------------------------
 * Distribution functions
 * ------------------------------------------------------------------------ */

/* 97.5% quantile of the standard normal distribution. */
#define Z_975 1.959963984540054

/* Upper tail of the standard normal distribution, P(Z > z). */
static double
NormalSf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

/* log(Gamma(a + 1/2) / Gamma(a)) without cancellation for large a. */
static double
LogGammaHalfRatio(double a)
{
	if (a >= 50)
	{
		double		b = a + 0.5;

		/* Stirling: log G(x) = (x - 1/2) log x - x + log(2 pi)/2 + S(x) */
#define STIRLING_S(x) (1.0 / (12 * (x)) - 1.0 / (360 * (x) * (x) * (x)) + \
					   1.0 / (1260 * pow((x), 5)) - 1.0 / (1680 * pow((x), 7)))
		return a * log1p(0.5 / a) + 0.5 * log(a) - 0.5 + STIRLING_S(b) - STIRLING_S(a);
#undef STIRLING_S
	}
	return lgamma(a + 0.5) - lgamma(a);
}

/* log B(a, b), with the large-a, b = 1/2 case done carefully. */
static double
LogBeta(double a, double b)
{
	if (b == 0.5)
		return lgamma(0.5) - LogGammaHalfRatio(a);
	if (a == 0.5)
		return lgamma(0.5) - LogGammaHalfRatio(b);
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double
BetaContinuedFraction(double a, double b, double x)
{
	const double tiny = 1e-300;
	double		c = 1,
				d = 1 - (a + b) * x / (a + 1),
				h;
	int			m;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1 / d;
	h = d;
	for (m = 1; m <= 100000; m++)
	{
		double		m2 = 2.0 * m;
		double		num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
		double		del;

		d = 1 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		h *= d * c;
		num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
		d = 1 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return h;
}

/*
 * Regularized incomplete beta I_x(a, b), given x and y = 1 - x separately so
 * that neither loses digits.
 */
static double
IncompleteBeta(double a, double b, double x, double y)
{
	double		front,
				lx,
				ly;

	if (x <= 0)
		return 0;
	if (y <= 0)
		return 1;
	if (x > (a + 1) / (a + b + 2))
		return 1 - IncompleteBeta(b, a, y, x);
	/* take each logarithm from whichever of x and y is the small one */
	lx = x < 0.5 ? log(x) : log1p(-y);
	ly = y < 0.5 ? log(y) : log1p(-x);
	front = exp(a * lx + b * ly - LogBeta(a, b)) / a;
	return front * BetaContinuedFraction(a, b, x);
}

/*
 * Two-sided p-value of Student's t for large df, where the continued fraction
 * loses digits to cancellation.  With u = exp(-s),
 *   I_x(a, 1/2) = 1/B(a, 1/2) * integral from z0 = -log x to infinity of
 *                 exp(-a s) s^(-1/2) g(s) ds,   g(s) = sqrt(s / (1 - exp(-s))),
 * and expanding g(s) = sum c_k s^k (radius 2 pi) gives
 *   I_x(a, 1/2) = 1/B(a, 1/2) * sum c_k Gamma(k + 1/2, a z0) / a^(k + 1/2),
 * an expansion in 1/a whose terms shrink like (z0 / 2 pi)^k and k! / (2 pi a)^k.
 * Gamma(k + 1/2, w) comes from sqrt(pi) erfc(sqrt w) by the upward recurrence
 * Gamma(s + 1, w) = s Gamma(s, w) + w^s exp(-w), which only adds positive terms.
 */
#define T_SERIES_TERMS 13

static double
StudentTwoSidedLargeDf(double t2, double df)
{
	/* s / (1 - exp(-s)) = sum B+_n s^n / n!: 1, 1/2, 1/12, 0, -1/720, ... */
	static const double f[T_SERIES_TERMS] = {
		1.0, 0.5, 1.0 / 12, 0, -1.0 / 720, 0, 1.0 / 30240, 0, -1.0 / 1209600, 0,
		1.0 / 47900160, 0, -691.0 / (2730.0 * 479001600.0)
	};
	static double c[T_SERIES_TERMS];
	static bool c_ready = false;
	double		a = df / 2;
	double		w = a * log1p(t2 / df);
	double		G = sqrt(M_PI) * erfc(sqrt(w));
	double		sum = 0;
	double		apow = 1;
	double		s = 0.5;
	int			k;

	if (!c_ready)
	{
		/* c = sqrt(f) as power series: 2 c0 c_n = f_n - sum_{j=1..n-1} c_j c_(n-j) */
		c[0] = 1;
		for (k = 1; k < T_SERIES_TERMS; k++)
		{
			double		acc = f[k];
			int			j;

			for (j = 1; j < k; j++)
				acc -= c[j] * c[k - j];
			c[k] = acc / 2;
		}
		c_ready = true;
	}
	for (k = 0; k < T_SERIES_TERMS; k++)
	{
		sum += c[k] * G * apow;
		G = s * G + exp(s * log(w) - w);
		s += 1;
		apow /= a;
	}
	return sum * exp(-LogBeta(a, 0.5) - 0.5 * log(a));
}

/* Two-sided p-value of Student's t with df degrees of freedom: P(|T| > |t|). */
static double
StudentTwoSided(double t, double df)
{
	double		t2 = t * t;

	if (isnan(t) || isnan(df) || df <= 0)
		return NAN;
	if (isinf(t))
		return 0;
	if (t2 == 0)
		return 1;
	/* large df, moderate t: the expansion (accurate to about 1e-13 there) */
	if (df >= 1000 && log1p(t2 / df) < 0.1 && df / 2 * log1p(t2 / df) < 700)
		return StudentTwoSidedLargeDf(t2, df);
	/* I_x(df/2, 1/2) with x = df / (df + t^2), 1 - x = t^2 / (df + t^2) */
	return IncompleteBeta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

/* Density of Student's t. */
static double
StudentPdf(double t, double df)
{
	return exp(-(df + 1) / 2 * log1p(t * t / df) - LogBeta(df / 2, 0.5)) / sqrt(df);
}

/* The t with P(|T| > t) = alpha (0 < alpha < 1): Newton's method inside a bracket. */
static double
StudentQuantileTwoSided(double alpha, double df)
{
	double		lo = 0,
				hi = 2,
				t;
	int			i;

	if (isnan(df) || df <= 0)
		return NAN;
	while (StudentTwoSided(hi, df) > alpha)
	{
		lo = hi;
		hi *= 2;
		if (hi > 1e300)
			return INFINITY;
	}
	t = (lo + hi) / 2;
	for (i = 0; i < 200; i++)
	{
		double		g = StudentTwoSided(t, df) - alpha;
		double		step;
		double		next;

		if (g > 0)
			lo = t;
		else
			hi = t;
		step = g / (2 * StudentPdf(t, df));
		next = t + step;
		if (!(next > lo && next < hi))
			next = (lo + hi) / 2;
		if (fabs(next - t) <= 1e-15 * fabs(t) || hi - lo <= 1e-15 * fabs(t))
		{
			t = next;
			break;
		}
		t = next;
	}
	return t;
}

PG_FUNCTION_INFO_V1(student_t_p_value);
/* Two-sided p-value of a t statistic (SQL-callable, for checks and users). */
Datum
student_t_p_value(PG_FUNCTION_ARGS)
{
	double		df = PG_GETARG_FLOAT8(1);

	if (!(df > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be positive"),
				 errhint("Pass df > 0.")));
	PG_RETURN_FLOAT8(StudentTwoSided(PG_GETARG_FLOAT8(0), df));
}

/* ------------------------------------------------------------------------
 * crm.ab_test and crm.welch_test
 * ------------------------------------------------------------------------ */

/* State of an A/B test aggregate; the control recorded as the label. */
static Tally *
TestState(FunctionCallInfo fcinfo, int kind, const char *fname)
{
	text	   *control;
	Tally	   *t;
	const char *label;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the control variant must not be NULL"),
				 errhint("Pass the name of the control group, such as 'A'.")));
	control = PG_GETARG_TEXT_PP(3);
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "%s called in non-aggregate context", fname);
	if (PG_ARGISNULL(0))
		return TallyNew(kind, VARDATA_ANY(control), VARSIZE_ANY_EXHDR(control));
	t = (Tally *) PG_GETARG_POINTER(0);
	label = TallyLabel(t);
	if (strlen(label) != VARSIZE_ANY_EXHDR(control) ||
		memcmp(label, VARDATA_ANY(control), VARSIZE_ANY_EXHDR(control)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the control variant changed from \"%s\" to \"%s\"", label, text_to_cstring(control)),
				 errhint("Pass the same control for every row.")));
	return t;
}

PG_FUNCTION_INFO_V1(ab_test_trans);
/* Transition of crm.ab_test: counts a unit and its conversion per variant. */
Datum
ab_test_trans(PG_FUNCTION_ARGS)
{
	Tally	   *t = TestState(fcinfo, TALLY_AB_TEST, "ab_test_trans");
	text	   *variant;
	float8	   *v;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(t);
	variant = PG_GETARG_TEXT_PP(1);
	v = TallyGet(&t, VARDATA_ANY(variant), VARSIZE_ANY_EXHDR(variant));
	v[0] += 1;
	if (PG_GETARG_BOOL(2))
		v[1] += 1;
	PG_RETURN_POINTER(t);
}

/* Index of the control variant, which must have rows. */
static int
ControlIndex(Tally *t)
{
	const char *label = TallyLabel(t);
	int			pos;
	int			i;

	if (label == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the test state has no control variant"),
				 errhint("Set the label of the crm.tally to the control variant.")));
	i = TallySearch(t, label, strlen(label), &pos);
	if (i < 0 || TallyVals(t, i)[0] <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the control variant \"%s\" has no rows", label),
				 errhint("Check the spelling of the control, or filter for the rows of the test.")));
	return i;
}

/* Appends ", "key": number". */
static void
AppendNumberField(StringInfo buf, const char *key, double v)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	AppendDouble(buf, v);
}

PG_FUNCTION_INFO_V1(ab_test_final);
/* Final of crm.ab_test: a two-proportion z test of every variant against the control. */
Datum
ab_test_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int			c;
	int			i;
	bool		any = false;
	double		n1,
				x1,
				p1;

	TallyCheckKind(t, TALLY_AB_TEST, "crm.ab_test");
	c = ControlIndex(t);
	n1 = TallyVals(t, c)[0];
	x1 = TallyVals(t, c)[1];
	p1 = x1 / n1;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < t->nkeys; i++)
	{
		float8	   *v = TallyVals(t, i);
		double		n2 = v[0],
					x2 = v[1],
					p2,
					lift,
					pooled,
					se0,
					se1,
					z;

		if (i == c || n2 <= 0)
			continue;
		if (x1 < 0 || x1 > n1 || x2 < 0 || x2 > n2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid state of crm.ab_test"),
					 errdetail("Conversions must be between 0 and the number of units."),
					 errhint("Pass states produced by the aggregate itself.")));
		p2 = x2 / n2;
		lift = p2 - p1;
		/* z test: pooled standard error under the null hypothesis of equal rates */
		pooled = (x1 + x2) / (n1 + n2);
		se0 = sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
		z = se0 > 0 ? lift / se0 : NAN;
		/* interval: unpooled (Wald) standard error of the difference */
		se1 = sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2);

		appendStringInfoString(&buf, any ? ", {\"variant\": " : "{\"variant\": ");
		any = true;
		AppendJsonString(&buf, TallyKey(t, i), TallyKeyLen(t, i));
		AppendNumberField(&buf, "n", n2);
		AppendNumberField(&buf, "conversions", x2);
		AppendNumberField(&buf, "rate", p2);
		AppendNumberField(&buf, "control_n", n1);
		AppendNumberField(&buf, "control_conversions", x1);
		AppendNumberField(&buf, "control_rate", p1);
		AppendNumberField(&buf, "lift", lift);
		AppendNumberField(&buf, "relative_lift", p1 > 0 ? lift / p1 : NAN);
		AppendNumberField(&buf, "z", z);
		AppendNumberField(&buf, "p_value", isnan(z) ? NAN : 2 * NormalSf(fabs(z)));
		AppendNumberField(&buf, "ci_low", lift - Z_975 * se1);
		AppendNumberField(&buf, "ci_high", lift + Z_975 * se1);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}

PG_FUNCTION_INFO_V1(welch_test_trans);
/* Transition of crm.welch_test: running count, mean and squared deviations (Welford). */
Datum
welch_test_trans(PG_FUNCTION_ARGS)
{
	Tally	   *t = TestState(fcinfo, TALLY_WELCH, "welch_test_trans");
	text	   *variant;
	float8	   *v;
	double		x,
				d;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(t);
	x = PG_GETARG_FLOAT8(2);
	if (isnan(x) || isinf(x))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("outcome is not a finite number"),
				 errhint("Filter out NaN and infinite outcomes.")));
	variant = PG_GETARG_TEXT_PP(1);
	v = TallyGet(&t, VARDATA_ANY(variant), VARSIZE_ANY_EXHDR(variant));
	v[0] += 1;
	d = x - v[1];
	v[1] += d / v[0];
	v[2] += d * (x - v[1]);
	CheckFinite(v[2]);
	PG_RETURN_POINTER(t);
}

PG_FUNCTION_INFO_V1(welch_test_final);
/* Final of crm.welch_test: Welch's unequal-variance t test of every variant against the control. */
Datum
welch_test_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int			c;
	int			i;
	bool		any = false;
	double		n1,
				m1,
				var1;

	TallyCheckKind(t, TALLY_WELCH, "crm.welch_test");
	c = ControlIndex(t);
	n1 = TallyVals(t, c)[0];
	m1 = TallyVals(t, c)[1];
	var1 = n1 > 1 ? TallyVals(t, c)[2] / (n1 - 1) : NAN;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < t->nkeys; i++)
	{
		float8	   *v = TallyVals(t, i);
		double		n2 = v[0],
					m2 = v[1],
					var2 = n2 > 1 ? v[2] / (n2 - 1) : NAN,
					diff = m2 - m1,
					s1 = var1 / n1,
					s2 = var2 / n2,
					se = sqrt(s1 + s2),
					tt = NAN,
					df = NAN,
					q = NAN;

		if (i == c || n2 <= 0)
			continue;
		if (se > 0)
		{
			tt = diff / se;
			df = (s1 + s2) * (s1 + s2) / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1));
			q = StudentQuantileTwoSided(0.05, df);
		}
		appendStringInfoString(&buf, any ? ", {\"variant\": " : "{\"variant\": ");
		any = true;
		AppendJsonString(&buf, TallyKey(t, i), TallyKeyLen(t, i));
		AppendNumberField(&buf, "n", n2);
		AppendNumberField(&buf, "mean", m2);
		AppendNumberField(&buf, "sd", sqrt(var2));
		AppendNumberField(&buf, "control_n", n1);
		AppendNumberField(&buf, "control_mean", m1);
		AppendNumberField(&buf, "control_sd", sqrt(var1));
		AppendNumberField(&buf, "diff", diff);
		AppendNumberField(&buf, "relative_diff", m1 != 0 ? diff / m1 : NAN);
		AppendNumberField(&buf, "t", tt);
		AppendNumberField(&buf, "df", df);
		AppendNumberField(&buf, "p_value", StudentTwoSided(tt, df));
		AppendNumberField(&buf, "ci_low", diff - q * se);
		AppendNumberField(&buf, "ci_high", diff + q * se);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}

/* ------------------------------------------------------------------------
 * Attribution
 *
 * Keys of the state (width 2), with byte tags that channel names cannot hold:
 *   \x01 from \x1f to   [journeys, 0]: transition count; from is a state
 *                       or \x02 (start), to a state, \x03 (conversion) or
 *                       \x04 (null); a state is the last `order' channels
 *                       of the journey (fewer at its beginning) joined by
 *                       \x1e: just the channel for a first-order chain
 *   \x05 channel        [conversions, value] credited by first touch
 *   \x06 channel        [conversions, value] credited by last touch
 *   \x07 channel        [conversions, value] credited linearly
 *   \x08                [conversions, value] in all
 *   \x09                [1, 0] present when a value argument was given
 * The label is NULL for a first-order chain, else the order in decimal.
 * ------------------------------------------------------------------------ */

#define ATT_TRANS	'\x01'
#define ATT_START	'\x02'
#define ATT_CONV	'\x03'
#define ATT_NULL	'\x04'
#define ATT_FIRST	'\x05'
#define ATT_LAST	'\x06'
#define ATT_LINEAR	'\x07'
#define ATT_TOTAL	'\x08'
#define ATT_VALUED	'\x09'
#define ATT_SEP		'\x1f'
#define ATT_STATE_SEP '\x1e'
#define ATT_MAX_ORDER 8

/* Work buffers of an attribution transition, kept in fn_extra. */
typedef struct AttBuffers
{
	StringInfo	key;
	StringInfo	from;
	StringInfo	to;
} AttBuffers;

/* Adds to the values of a key made of a tag and up to two names. */
static void
AttAdd(Tally **t, StringInfo key, char tag, const char *a, int alen, const char *b, int blen,
	   double v0, double v1)
{
	float8	   *v;

	resetStringInfo(key);
	appendStringInfoChar(key, tag);
	if (a)
		appendBinaryStringInfo(key, a, alen);
	if (b)
	{
		appendStringInfoChar(key, ATT_SEP);
		appendBinaryStringInfo(key, b, blen);
	}
	v = TallyGet(t, key->data, key->len);
	v[0] += v0;
	v[1] += v1;
	CheckFinite(v[0]);
	CheckFinite(v[1]);
}

/* Checks a channel name: not empty, no control characters. */
static void
CheckChannel(const char *s, int len)
{
	int			i;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel name in a path must not be empty"),
				 errhint("Name every touchpoint's channel.")));
	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("channel name \"%.*s\" contains a control character", len, s),
					 errhint("Channel names are printable text.")));
}

/* Writes the state after touch i of a journey: its last `order' channels. */
static void
AttState(StringInfo buf, Datum *elems, int i, int order)
{
	int			j;
	int			first = Max(0, i - order + 1);

	resetStringInfo(buf);
	for (j = first; j <= i; j++)
	{
		if (j > first)
			appendStringInfoChar(buf, ATT_STATE_SEP);
		appendBinaryStringInfo(buf, VARDATA_ANY(elems[j]), VARSIZE_ANY_EXHDR(elems[j]));
	}
}

/*
 * Shared transition of the attribution aggregates.  Arguments after the
 * state: path, conversions, then (Markov only) nulls, then optionally value
 * and (Markov only) the order of the chain.
 */
static Datum
AttributionTrans(FunctionCallInfo fcinfo, bool with_nulls)
{
	Tally	   *t;
	int			valarg = with_nulls ? 4 : 3;
	bool		has_value = PG_NARGS() > valarg;
	int			order = 1;
	char		label[16];
	AttBuffers *bufs;
	StringInfo	key;
	ArrayType  *path;
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	int			i;
	int64		conv;
	int64		nulls = 0;
	double		value = 0;
	double		w;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "attribution transition called in non-aggregate context");
	if (with_nulls && PG_NARGS() > 5)
	{
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("order must not be NULL"),
					 errhint("Pass 1 for a first-order chain.")));
		order = PG_GETARG_INT32(5);
		if (order < 1 || order > ATT_MAX_ORDER)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("order %d is out of range", order),
					 errdetail("The order of the Markov chain is from 1 to %d.", ATT_MAX_ORDER),
					 errhint("Orders 1 to 3 are the usual choice.")));
	}
	snprintf(label, sizeof(label), "%d", order);
	if (PG_ARGISNULL(0))
		t = TallyNew(TALLY_ATTRIBUTION, order > 1 ? label : NULL, strlen(label));
	else
	{
		t = (Tally *) PG_GETARG_POINTER(0);
		if (strcmp(TallyLabel(t) ? TallyLabel(t) : "1", label) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the order of the chain changed from %s to %d",
							TallyLabel(t) ? TallyLabel(t) : "1", order),
					 errhint("Pass the same order for every row.")));
	}
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		bufs = palloc(sizeof(AttBuffers));
		bufs->key = makeStringInfo();
		bufs->from = makeStringInfo();
		bufs->to = makeStringInfo();
		fcinfo->flinfo->fn_extra = bufs;
		MemoryContextSwitchTo(old);
	}
	bufs = (AttBuffers *) fcinfo->flinfo->fn_extra;
	key = bufs->key;
	if (has_value)
		AttAdd(&t, key, ATT_VALUED, NULL, 0, NULL, 0, 0, 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (with_nulls && PG_ARGISNULL(3)))
		PG_RETURN_POINTER(t);
	path = PG_GETARG_ARRAYTYPE_P(1);
	conv = PG_GETARG_INT64(2);
	if (with_nulls)
		nulls = PG_GETARG_INT64(3);
	if (has_value && !PG_ARGISNULL(valarg))
		value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, PG_GETARG_DATUM(valarg)));
	if (conv < 0 || nulls < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("conversions and nulls must not be negative"),
				 errdetail("Got %lld conversions and %lld nulls.", (long long) conv, (long long) nulls),
				 errhint("Count journeys that converted and journeys that did not.")));
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("conversion value must be finite"),
				 errhint("Pass the total value of the conversions of the path.")));
	if (ARR_NDIM(path) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("path must be a one-dimensional array"),
				 errhint("Pass the channels of a journey in order, such as ARRAY['search', 'email'].")));
	deconstruct_array(path, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	for (i = 0; i < n; i++)
	{
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("path must not contain NULL"),
					 errhint("Remove unknown touchpoints from the path.")));
		CheckChannel(VARDATA_ANY(elems[i]), VARSIZE_ANY_EXHDR(elems[i]));
	}
	w = (double) conv + (double) nulls;
	if (n == 0 || w == 0)
		PG_RETURN_POINTER(t);

#define CH(i) VARDATA_ANY(elems[i]), VARSIZE_ANY_EXHDR(elems[i])
	AttAdd(&t, key, ATT_TOTAL, NULL, 0, NULL, 0, conv, value);
	if (conv > 0)
	{
		AttAdd(&t, key, ATT_FIRST, CH(0), NULL, 0, conv, value);
		AttAdd(&t, key, ATT_LAST, CH(n - 1), NULL, 0, conv, value);
		for (i = 0; i < n; i++)
			AttAdd(&t, key, ATT_LINEAR, CH(i), NULL, 0, (double) conv / n, value / n);
	}
	if (with_nulls)
	{
		char		cv = ATT_CONV;
		char		nl = ATT_NULL;
		StringInfo	from = bufs->from;
		StringInfo	to = bufs->to;

		resetStringInfo(from);
		appendStringInfoChar(from, ATT_START);
		for (i = 0; i < n; i++)
		{
			StringInfo	tmp;

			AttState(to, elems, i, order);
			AttAdd(&t, key, ATT_TRANS, from->data, from->len, to->data, to->len, w, 0);
			tmp = from;
			from = to;
			to = tmp;
		}
		if (conv > 0)
			AttAdd(&t, key, ATT_TRANS, from->data, from->len, &cv, 1, conv, 0);
		if (nulls > 0)
			AttAdd(&t, key, ATT_TRANS, from->data, from->len, &nl, 1, nulls, 0);
	}
#undef CH
	PG_RETURN_POINTER(t);
}

PG_FUNCTION_INFO_V1(markov_attribution_trans);
/* Transition of crm.markov_attribution. */
Datum
markov_attribution_trans(PG_FUNCTION_ARGS)
{
	return AttributionTrans(fcinfo, true);
}

PG_FUNCTION_INFO_V1(heuristic_attribution_trans);
/* Transition of crm.heuristic_attribution. */
Datum
heuristic_attribution_trans(PG_FUNCTION_ARGS)
{
	return AttributionTrans(fcinfo, false);
}

static void
AttBadState(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid state of an attribution aggregate"),
			 errhint("Pass states produced by the aggregate itself.")));
}

/* Channels of an attribution state: every name after a channel tag, sorted, unique. */
typedef struct AttChannels
{
	int			n;
	char	  **names;
	int		   *lens;
} AttChannels;

static int
AttFindChannel(AttChannels *ch, const char *s, int len)
{
	int			lo = 0,
				hi = ch->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = memcmp(s, ch->names[mid], Min(len, ch->lens[mid]));

		if (c == 0)
			c = len - ch->lens[mid];
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Adds a name to a sorted set of channels (kept sorted by insertion). */
static void
AttAddChannel(AttChannels *ch, const char *s, int len, int cap)
{
	int			lo = 0,
				hi = ch->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = memcmp(s, ch->names[mid], Min(len, ch->lens[mid]));

		if (c == 0)
			c = len - ch->lens[mid];
		if (c == 0)
			return;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	Assert(ch->n < cap);
	memmove(ch->names + lo + 1, ch->names + lo, sizeof(char *) * (ch->n - lo));
	memmove(ch->lens + lo + 1, ch->lens + lo, sizeof(int) * (ch->n - lo));
	ch->names[lo] = (char *) s;
	ch->lens[lo] = len;
	ch->n++;
}

/* Adds a state name, and each channel in it, to the sets. */
static void
AttAddState(AttChannels *ch, AttChannels *states, int cap, const char *s, int len)
{
	const char *p = s;
	const char *end = s + len;

	if (states)
		AttAddChannel(states, s, len, cap);
	while (p <= end)
	{
		const char *q = memchr(p, ATT_STATE_SEP, end - p);

		if (q == NULL)
			q = end;
		if (q == p)
			AttBadState();
		AttAddChannel(ch, p, q - p, cap);
		p = q + 1;
	}
}

/*
 * Collects the channels of a state (from the transition and heuristic keys)
 * and, when states is not NULL, the states of the chain.
 */
static void
AttCollectChannels(Tally *t, AttChannels *ch, AttChannels *states)
{
	int			cap = 2 * (ATT_MAX_ORDER + 1) * t->nkeys + 1;
	int			i;

	ch->n = 0;
	ch->names = palloc(sizeof(char *) * cap);
	ch->lens = palloc(sizeof(int) * cap);
	if (states)
	{
		states->n = 0;
		states->names = palloc(sizeof(char *) * cap);
		states->lens = palloc(sizeof(int) * cap);
	}
	for (i = 0; i < t->nkeys; i++)
	{
		char	   *k = TallyKey(t, i);
		int			len = TallyKeyLen(t, i);

		if (len == 0)
			AttBadState();
		if (k[0] == ATT_FIRST || k[0] == ATT_LAST || k[0] == ATT_LINEAR)
		{
			if (len < 2)
				AttBadState();
			AttAddChannel(ch, k + 1, len - 1, cap);
		}
		else if (k[0] == ATT_TRANS)
		{
			char	   *sep = memchr(k + 1, ATT_SEP, len - 1);
			int			alen;

			if (sep == NULL)
				AttBadState();
			alen = sep - (k + 1);
			if (alen == 0 || sep + 1 >= k + len)
				AttBadState();
			if (!(alen == 1 && k[1] == ATT_START))
				AttAddState(ch, states, cap, k + 1, alen);
			if (!(k + len - (sep + 1) == 1 && (sep[1] == ATT_CONV || sep[1] == ATT_NULL)))
				AttAddState(ch, states, cap, sep + 1, k + len - (sep + 1));
		}
		else if (k[0] != ATT_TOTAL && k[0] != ATT_VALUED)
			AttBadState();
	}
}

/* True when a state (channels joined by \x1e) contains a channel. */
static bool
AttStateHas(const char *s, int len, const char *c, int clen)
{
	const char *p = s;
	const char *end = s + len;

	while (p <= end)
	{
		const char *q = memchr(p, ATT_STATE_SEP, end - p);

		if (q == NULL)
			q = end;
		if (q - p == clen && memcmp(p, c, clen) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* Values of a tagged key, or NULL. */
static float8 *
AttLookup(Tally *t, char tag, const char *name, int len)
{
	StringInfoData k;
	int			pos;
	int			i;

	initStringInfo(&k);
	appendStringInfoChar(&k, tag);
	if (name)
		appendBinaryStringInfo(&k, name, len);
	i = TallySearch(t, k.data, k.len, &pos);
	pfree(k.data);
	return i < 0 ? NULL : TallyVals(t, i);
}

/*
 * Solves A x = b in place by Gaussian elimination with partial pivoting
 * (A is n x n, row-major).  Returns false when A is singular.
 */
static bool
SolveLinear(double *A, double *b, int n)
{
	int			i,
				j,
				k;

	for (k = 0; k < n; k++)
	{
		int			p = k;
		double		best = fabs(A[k * n + k]);

		CHECK_FOR_INTERRUPTS();

		for (i = k + 1; i < n; i++)
			if (fabs(A[i * n + k]) > best)
			{
				best = fabs(A[i * n + k]);
				p = i;
			}
		if (best < 1e-300)
			return false;
		if (p != k)
		{
			for (j = 0; j < n; j++)
			{
				double		tmp = A[k * n + j];

				A[k * n + j] = A[p * n + j];
				A[p * n + j] = tmp;
			}
			{
				double		tmp = b[k];

				b[k] = b[p];
				b[p] = tmp;
			}
		}
		for (i = k + 1; i < n; i++)
		{
			double		f = A[i * n + k] / A[k * n + k];

			if (f == 0)
				continue;
			for (j = k; j < n; j++)
				A[i * n + j] -= f * A[k * n + j];
			b[i] -= f * b[k];
		}
	}
	for (i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (j = i + 1; j < n; j++)
			s -= A[i * n + j] * b[j];
		b[i] = s / A[i * n + i];
	}
	return true;
}

/*
 * Probability of reaching conversion from the start state, with the states
 * marked in removed[] (indexes 1..k; NULL: none) taken out: transitions into
 * them go to null.  State 0 is the start, states 1..k those of the chain.
 * P is (k+1) x (k+1) transition probabilities among transient states, r the
 * one-step conversion probabilities.
 */
static double
ConversionProbability(const double *P, const double *r, int k, const bool *removed)
{
	int			n = k + 1;
	int		   *map = palloc(sizeof(int) * n);
	int			m = 0;
	int			i,
				j;
	double	   *A;
	double	   *b;
	double		result;

	for (i = 0; i < n; i++)
		map[i] = (removed && removed[i]) ? -1 : m++;
	A = palloc0(sizeof(double) * m * m);
	b = palloc(sizeof(double) * m);
	/* x_i - sum_j P_ij x_j = r_i over the states that remain */
	for (i = 0; i < n; i++)
	{
		if (map[i] < 0)
			continue;
		b[map[i]] = r[i];
		A[map[i] * m + map[i]] += 1;
		for (j = 0; j < n; j++)
			if (map[j] >= 0)
				A[map[i] * m + map[j]] -= P[i * n + j];
	}
	if (!SolveLinear(A, b, m))
		elog(ERROR, "markov attribution: singular transition system");
	result = b[0];
	pfree(A);
	pfree(b);
	pfree(map);
	return result;
}

PG_FUNCTION_INFO_V1(markov_attribution_final);
/* Final of crm.markov_attribution: removal effects and attributed conversions and value. */
Datum
markov_attribution_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	AttChannels ch;
	AttChannels st;
	int			k,
				n,
				i;
	bool	   *removed;
	double	   *P;
	double	   *r;
	double	   *out;
	double	   *re;
	double		full,
				resum = 0,
				total_conv = 0,
				total_value = 0;
	float8	   *tot;
	bool		valued;
	StringInfoData buf;

	TallyCheckKind(t, TALLY_ATTRIBUTION, "crm.markov_attribution");
	AttCollectChannels(t, &ch, &st);
	k = st.n;
	n = k + 1;
	if (ch.n == 0)
		PG_RETURN_NULL();
	if ((double) n * n > MaxAllocSize / sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many states in the Markov chain: %d", k),
				 errhint("Use a lower order or fewer channels.")));
	P = palloc0(sizeof(double) * n * n);
	r = palloc0(sizeof(double) * n);
	out = palloc0(sizeof(double) * n);
	re = palloc0(sizeof(double) * (ch.n + 1));
	removed = palloc(sizeof(bool) * n);

	/* transition counts into probabilities */
	for (i = 0; i < t->nkeys; i++)
	{
		char	   *key = TallyKey(t, i);
		int			len = TallyKeyLen(t, i);
		char	   *sep;
		int			from,
					to = -1;
		double		w = TallyVals(t, i)[0];
		bool		conv = false;

		if (key[0] != ATT_TRANS)
			continue;
		sep = memchr(key + 1, ATT_SEP, len - 1);
		if (sep - (key + 1) == 1 && key[1] == ATT_START)
			from = 0;
		else
			from = 1 + AttFindChannel(&st, key + 1, sep - (key + 1));
		if (key + len - (sep + 1) == 1 && (sep[1] == ATT_CONV || sep[1] == ATT_NULL))
			conv = sep[1] == ATT_CONV;
		else
			to = 1 + AttFindChannel(&st, sep + 1, key + len - (sep + 1));
		if (w < 0 || isnan(w))
			AttBadState();
		out[from] += w;
		if (to >= 0)
			P[from * n + to] += w;
		else if (conv)
			r[from] += w;
	}
	for (i = 0; i < n; i++)
	{
		int			j;

		if (out[i] <= 0)
		{
			if (i == 0)
				PG_RETURN_NULL();	/* heuristic-only state: no journeys */
			AttBadState();
		}
		for (j = 0; j < n; j++)
			P[i * n + j] /= out[i];
		r[i] /= out[i];
	}
	tot = AttLookup(t, ATT_TOTAL, NULL, 0);
	if (tot)
	{
		total_conv = tot[0];
		total_value = tot[1];
	}
	valued = AttLookup(t, ATT_VALUED, NULL, 0) != NULL;

	full = ConversionProbability(P, r, k, NULL);
	for (i = 0; i < ch.n; i++)
	{
		double		without;
		int			j;

		/* take out every state the channel is part of */
		removed[0] = false;
		for (j = 0; j < k; j++)
			removed[j + 1] = AttStateHas(st.names[j], st.lens[j], ch.names[i], ch.lens[i]);
		without = ConversionProbability(P, r, k, removed);
		re[i] = full > 0 ? Max(0.0, 1 - without / full) : 0;
		resum += re[i];
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < ch.n; i++)
	{
		double		share = resum > 0 ? re[i] / resum : 0;

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		AppendJsonString(&buf, ch.names[i], ch.lens[i]);
		appendStringInfoString(&buf, ": {\"removal_effect\": ");
		AppendDouble(&buf, re[i]);
		AppendNumberField(&buf, "conversions", total_conv * share);
		AppendNumberField(&buf, "value", valued ? total_value * share : NAN);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}

PG_FUNCTION_INFO_V1(heuristic_attribution_final);
/* Final of crm.heuristic_attribution: first-touch, last-touch and linear credit per channel. */
Datum
heuristic_attribution_final(PG_FUNCTION_ARGS)
{
	Tally	   *t = (Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	AttChannels ch;
	bool		valued;
	StringInfoData buf;
	int			i;
	static const struct
	{
		char		tag;
		const char *name;
	}			models[] = {{ATT_FIRST, "first_touch"}, {ATT_LAST, "last_touch"}, {ATT_LINEAR, "linear"}};

	TallyCheckKind(t, TALLY_ATTRIBUTION, "crm.heuristic_attribution");
	AttCollectChannels(t, &ch, NULL);
	if (ch.n == 0)
		PG_RETURN_NULL();
	valued = AttLookup(t, ATT_VALUED, NULL, 0) != NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < ch.n; i++)
	{
		int			m;

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		AppendJsonString(&buf, ch.names[i], ch.lens[i]);
		appendStringInfoString(&buf, ": {");
		for (m = 0; m < (int) lengthof(models); m++)
		{
			float8	   *v = AttLookup(t, models[m].tag, ch.names[i], ch.lens[i]);

			appendStringInfo(&buf, "%s\"%s\": ", m > 0 ? ", " : "", models[m].name);
			AppendDouble(&buf, v ? v[0] : 0);
			appendStringInfo(&buf, ", \"%s_value\": ", models[m].name);
			AppendDouble(&buf, valued ? (v ? v[1] : 0) : NAN);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(JsonbFromBuf(&buf));
}
