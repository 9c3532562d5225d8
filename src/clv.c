/*
 * clv.c: customer lifetime value, "buy till you die" models.
 *
 *   crm.clv_sample        aggregate state of crm.bgnbd_fit and crm.paretonbd_fit:
 *                         the distinct (x, t_x, T) triples seen, with counts
 *   crm.clv_spend_sample  aggregate state of crm.gamma_gamma_fit: the distinct
 *                         (x, mean spend) pairs seen, with counts
 *   fitting               maximum likelihood by BFGS on the logarithms of the
 *                         parameters (analytic gradients for BG/NBD and
 *                         Gamma-Gamma, central differences for Pareto/NBD)
 *   predictions           P(alive), expected purchases, expected spend, CLV
 *
 * Both state types are varlenas with an exact text form (shortest decimal
 * that reads back to the same double) and a binary form, so partial states
 * can be combined by parallel query and shipped between nodes.  A state keeps
 * one row per distinct observation: when its buffer fills up it is sorted
 * and equal rows merged, so data measured in whole days or weeks compresses
 * to far fewer rows than customers, and the optimiser's likelihood pass runs
 * over those groups (with the logarithms of each distinct time computed once
 * per pass).
 *
 * Pareto/NBD needs F(u) = int_u^inf (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau,
 * which is (alpha+u)^-(r+s+x) H(r+s+x, s+1, (alpha-beta)/(alpha+u)) with
 * H(a, b, y) = int_0^1 t^(a-1) (1 - y t)^-b dt = 2F1(a, b; a+1; y) / a
 * (Euler's integral).  For 0 <= y <= 1/2 we sum the power series of 2F1, for
 * -1 <= y < 0 the same series after Pfaff's transformation (terms of one sign
 * in both cases); otherwise we integrate with the tanh-sinh rule, refining
 * the step until two levels agree.  Large fits start from a fit on a
 * subsample of the distinct rows.  See doc/clv.md.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "crm.h"

/* ------------------------------------------------------------------------
 * The sample state
 * ------------------------------------------------------------------------ */

#define CLV_SAMPLE_VERSION 1

typedef struct ClvRow
{
	double		a;				/* t_x, or the mean spend */
	double		b;				/* T (0 in a spend sample) */
	int64		count;			/* customers with these values */
	int32		x;				/* repeat purchases */
	int32		pad;
} ClvRow;

typedef struct ClvSample
{
	int32		vl_len_;		/* varlena header; covers the capacity */
	int32		version;		/* CLV_SAMPLE_VERSION */
	int32		dims;			/* 3: (x, t_x, T); 2: (x, mean spend) */
	int32		sorted;			/* rows sorted and merged */
	int64		n;				/* rows stored */
	int64		cap;			/* rows there is room for */
	ClvRow		rows[FLEXIBLE_ARRAY_MEMBER];
} ClvSample;

#define CLV_SAMPLE_HDRSZ offsetof(ClvSample, rows)
/* states of up to this many rows grow without merging equal rows (32 MB) */
#define CLV_SAMPLE_COMPACT_ROWS (INT64CONST(1) << 20)
#define CLV_SAMPLE_MAXCAP ((int64) ((MaxAllocSize - CLV_SAMPLE_HDRSZ) / sizeof(ClvRow)))

/* Name of a sample's SQL type, for messages. */
static inline const char *
SampleTypeName(int dims)
{
	return dims == 3 ? "crm.clv_sample" : "crm.clv_spend_sample";
}

/* Allocates an empty sample with room for cap rows in the current context. */
static ClvSample *
SampleMake(int dims, int64 cap)
{
	Size		sz;
	ClvSample  *s;

	if (cap > CLV_SAMPLE_MAXCAP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct observations for one %s", SampleTypeName(dims)),
				 errdetail("One state holds at most " INT64_FORMAT " distinct rows.", CLV_SAMPLE_MAXCAP),
				 errhint("Round the times to whole days, or fit on a random sample of customers.")));
	sz = CLV_SAMPLE_HDRSZ + cap * sizeof(ClvRow);
	s = (ClvSample *) palloc(sz);
	SET_VARSIZE(s, sz);
	s->version = CLV_SAMPLE_VERSION;
	s->dims = dims;
	s->sorted = 1;
	s->n = 0;
	s->cap = cap;
	return s;
}

/* Orders rows by x, then a, then b. */
static int
RowCmp(const void *p, const void *q)
{
	const ClvRow *u = (const ClvRow *) p;
	const ClvRow *v = (const ClvRow *) q;

	if (u->x != v->x)
		return u->x < v->x ? -1 : 1;
	if (u->a != v->a)
		return u->a < v->a ? -1 : 1;
	if (u->b != v->b)
		return u->b < v->b ? -1 : 1;
	return 0;
}

/* sort_clv_rows(ClvRow *, size_t): PostgreSQL's sort template with RowCmp inlined. */
#define ST_SORT sort_clv_rows
#define ST_ELEMENT_TYPE ClvRow
#define ST_COMPARE(a, b) RowCmp(a, b)
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sorts a sample's rows and merges equal ones, in place. */
static void
SampleCompact(ClvSample *s)
{
	int64		i,
				k = 0;

	if (s->sorted || s->n == 0)
	{
		s->sorted = 1;
		return;
	}
	sort_clv_rows(s->rows, s->n);
	for (i = 1; i < s->n; i++)
	{
		if (RowCmp(&s->rows[k], &s->rows[i]) == 0)
			s->rows[k].count += s->rows[i].count;
		else
			s->rows[++k] = s->rows[i];
	}
	s->n = k + 1;
	s->sorted = 1;
}

/*
 * Returns a sample with room for extra more rows: s itself (compacted when
 * that frees enough room) or a bigger copy in the current memory context.
 */
static ClvSample *
SampleReserve(ClvSample *s, int64 extra)
{
	ClvSample  *t;
	int64		cap;

	if (s->n + extra <= s->cap)
		return s;
	/* small states just grow; large ones first merge equal rows */
	if (s->cap >= CLV_SAMPLE_COMPACT_ROWS)
	{
		SampleCompact(s);
		if (s->n + extra <= s->cap && s->n <= s->cap / 2)
			return s;
	}
	cap = Max(s->cap * 2, s->n + extra);
	cap = Min(cap, Max(CLV_SAMPLE_MAXCAP, s->n + extra));
	t = SampleMake(s->dims, cap);
	t->n = s->n;
	t->sorted = s->sorted;
	memcpy(t->rows, s->rows, s->n * sizeof(ClvRow));
	return t;
}

/* Rejects an observation of the purchase models that cannot be. */
static void
CheckTriple(int32 x, double t_x, double T)
{
	if (x < 0 || isnan(t_x) || isnan(T) || isinf(t_x) || isinf(T) || t_x < 0 || T < t_x)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid customer summary (x=%d, t_x=%g, T=%g)", x, t_x, T),
				 errdetail("x (repeat purchases) must be at least 0 and 0 <= t_x <= T, all finite."),
				 errhint("Compute the summary with crm.clv_summary.")));
	if (x == 0 && t_x != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid customer summary (x=0, t_x=%g)", t_x),
				 errdetail("A customer without repeat purchases has t_x = 0."),
				 errhint("Compute the summary with crm.clv_summary.")));
}

/* Rejects a spend observation that cannot be. */
static void
CheckSpend(int32 x, double m)
{
	if (x < 0 || isnan(m) || isinf(m) || (x > 0 && m <= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid spend summary (x=%d, mean_spend=%g)", x, m),
				 errdetail("x must be at least 0 and the mean repeat spend positive and finite."),
				 errhint("The Gamma-Gamma model needs positive spend amounts.")));
}

/* Validates one row read from outside (text or binary input). */
static void
CheckRow(int dims, const ClvRow *r)
{
	if (r->count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid %s value: count " INT64_FORMAT, SampleTypeName(dims), r->count),
				 errdetail("Every row counts at least one customer."),
				 errhint("Use a value produced by the fitting aggregates.")));
	if (dims == 3)
		CheckTriple(r->x, r->a, r->b);
	else
	{
		CheckSpend(r->x, r->a);
		if (r->x < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid %s value: x %d", SampleTypeName(dims), r->x),
					 errdetail("A spend sample keeps customers with at least one repeat purchase."),
					 errhint("Use a value produced by crm.gamma_gamma_fit.")));
	}
}

/* Appends the shortest decimal that reads back as exactly d. */
static inline void
AppendDouble(StringInfo buf, double d)
{
	crm_append_double(buf, d, NULL);
}

/* Parses a double at *p, advancing *p. */
static double
ParseDouble(char **p, char *whole)
{
	char	   *end;
	double		d;

#if PG_VERSION_NUM >= 160000
	d = float8in_internal(*p, &end, "double precision", whole, NULL);
#else
	d = float8in_internal(*p, &end, "double precision", whole);
#endif
	*p = end;
	return d;
}

/* Parses an integer at *p, advancing *p; false when there is none. */
static bool
ParseInt64(char **p, int64 *v)
{
	char	   *end;
	long long	l;

	errno = 0;
	l = strtoll(*p, &end, 10);
	if (end == *p || errno != 0)
		return false;
	*v = (int64) l;
	*p = end;
	return true;
}

/* Skips blanks, then expects character c; true when it is there (and skipped). */
static bool
SkipTo(char **p, char c)
{
	while (isspace((unsigned char) **p))
		(*p)++;
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* Text input shared by both sample types: {(x,a[,b],count),...}. */
static ClvSample *
SampleFromText(char *str, int dims)
{
	char	   *p = str;
	ClvSample  *s = SampleMake(dims, 16);

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
			ClvRow		r;
			int64		v;

			memset(&r, 0, sizeof(r));
			while (isspace((unsigned char) *p))
				p++;
			if (*p++ != '(')
				goto syntax;
			if (!ParseInt64(&p, &v) || v < PG_INT32_MIN || v > PG_INT32_MAX || !SkipTo(&p, ','))
				goto syntax;
			r.x = (int32) v;
			r.a = ParseDouble(&p, str);
			if (!SkipTo(&p, ','))
				goto syntax;
			if (dims == 3)
			{
				r.b = ParseDouble(&p, str);
				if (!SkipTo(&p, ','))
					goto syntax;
			}
			if (!ParseInt64(&p, &r.count) || !SkipTo(&p, ')'))
				goto syntax;
			CheckRow(dims, &r);
			s = SampleReserve(s, 1);
			s->rows[s->n++] = r;
			s->sorted = 0;
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
	SampleCompact(s);
	return s;

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s", SampleTypeName(dims)),
			 errdetail(dims == 3 ? "The text form is {(x,t_x,T,count),...}." : "The text form is {(x,mean_spend,count),...}."),
			 errhint("Use a value produced by the fitting aggregates.")));
	return NULL;				/* not reached */
}

/* Text output shared by both sample types, rows sorted. */
static char *
SampleToText(ClvSample *s)
{
	StringInfoData buf;
	int64		i;

	SampleCompact(s);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < s->n; i++)
	{
		ClvRow	   *r = &s->rows[i];

		appendStringInfo(&buf, "%s(%d,", i ? "," : "", r->x);
		AppendDouble(&buf, r->a);
		appendStringInfoChar(&buf, ',');
		if (s->dims == 3)
		{
			AppendDouble(&buf, r->b);
			appendStringInfoChar(&buf, ',');
		}
		appendStringInfo(&buf, INT64_FORMAT ")", r->count);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* A detoasted private copy of a sample argument (output sorts it). */
static ClvSample *
SampleArgCopy(Datum d)
{
	return (ClvSample *) PG_DETOAST_DATUM_COPY(d);
}

/* Binary output shared by both sample types. */
static bytea *
SampleSend(ClvSample *s)
{
	StringInfoData buf;
	int64		i;

	SampleCompact(s);
	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	for (i = 0; i < s->n; i++)
	{
		pq_sendint32(&buf, s->rows[i].x);
		pq_sendfloat8(&buf, s->rows[i].a);
		if (s->dims == 3)
			pq_sendfloat8(&buf, s->rows[i].b);
		pq_sendint64(&buf, s->rows[i].count);
	}
	return pq_endtypsend(&buf);
}

/* Binary input shared by both sample types. */
static ClvSample *
SampleRecv(StringInfo buf, int dims)
{
	int64		n = pq_getmsgint64(buf);
	int			rowsz = dims == 3 ? 28 : 20;
	ClvSample  *s;
	int64		i;

	if (n < 0 || n > (buf->len - buf->cursor) / rowsz)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary %s: bad count " INT64_FORMAT, SampleTypeName(dims), n),
				 errdetail("The message is shorter than the count it announces."),
				 errhint("Send the value the type's send function produced.")));
	s = SampleMake(dims, Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ClvRow	   *r = &s->rows[i];

		memset(r, 0, sizeof(ClvRow));
		r->x = (int32) pq_getmsgint(buf, 4);
		r->a = pq_getmsgfloat8(buf);
		if (dims == 3)
			r->b = pq_getmsgfloat8(buf);
		r->count = pq_getmsgint64(buf);
		CheckRow(dims, r);
	}
	s->n = n;
	s->sorted = 0;
	pq_getmsgend(buf);
	SampleCompact(s);
	return s;
}

PG_FUNCTION_INFO_V1(clv_sample_in);
/* Text input of crm.clv_sample: {(x,t_x,T,count),...}. */
Datum
clv_sample_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(SampleFromText(PG_GETARG_CSTRING(0), 3));
}

PG_FUNCTION_INFO_V1(clv_spend_sample_in);
/* Text input of crm.clv_spend_sample: {(x,mean_spend,count),...}. */
Datum
clv_spend_sample_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(SampleFromText(PG_GETARG_CSTRING(0), 2));
}

PG_FUNCTION_INFO_V1(clv_sample_out);
/* Text output of both sample types. */
Datum
clv_sample_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(SampleToText(SampleArgCopy(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(clv_sample_send);
/* Binary output of both sample types. */
Datum
clv_sample_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(SampleSend(SampleArgCopy(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(clv_sample_recv);
/* Binary input of crm.clv_sample. */
Datum
clv_sample_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(SampleRecv((StringInfo) PG_GETARG_POINTER(0), 3));
}

PG_FUNCTION_INFO_V1(clv_spend_sample_recv);
/* Binary input of crm.clv_spend_sample. */
Datum
clv_spend_sample_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(SampleRecv((StringInfo) PG_GETARG_POINTER(0), 2));
}

/* Appends one row to an aggregate state (NULL: a new one), in place when there is room. */
static ClvSample *
SampleAdd(ClvSample *s, int dims, int32 x, double a, double b)
{
	ClvRow	   *r;

	if (s == NULL)
		s = SampleMake(dims, 1024);
	s = SampleReserve(s, 1);
	r = &s->rows[s->n++];
	r->x = x;
	r->a = a;
	r->b = b;
	r->count = 1;
	r->pad = 0;
	s->sorted = 0;
	return s;
}

PG_FUNCTION_INFO_V1(clv_sample_trans);
/* Transition of crm.bgnbd_fit and crm.paretonbd_fit: one customer; rows with a NULL are skipped. */
Datum
clv_sample_trans(PG_FUNCTION_ARGS)
{
	ClvSample  *s;
	int32		x;
	double		t_x,
				T;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "clv_sample_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_INT32(1);
	t_x = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	CheckTriple(x, t_x, T);
	s = PG_ARGISNULL(0) ? NULL : (ClvSample *) PG_GETARG_POINTER(0);
	PG_RETURN_POINTER(SampleAdd(s, 3, x, t_x, T));
}

PG_FUNCTION_INFO_V1(clv_spend_sample_trans);
/* Transition of crm.gamma_gamma_fit: customers without repeat purchases and rows with a NULL are skipped. */
Datum
clv_spend_sample_trans(PG_FUNCTION_ARGS)
{
	ClvSample  *s;
	int32		x;
	double		m;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "clv_spend_sample_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT32(1) == 0)
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_INT32(1);
	m = PG_GETARG_FLOAT8(2);
	CheckSpend(x, m);
	s = PG_ARGISNULL(0) ? NULL : (ClvSample *) PG_GETARG_POINTER(0);
	PG_RETURN_POINTER(SampleAdd(s, 2, x, m, 0));
}

PG_FUNCTION_INFO_V1(clv_sample_combine);
/* Combine of the fitting aggregates: concatenates two states (either may be NULL). */
Datum
clv_sample_combine(PG_FUNCTION_ARGS)
{
	ClvSample  *a;
	ClvSample  *b;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "clv_sample_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (ClvSample *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	a = PG_ARGISNULL(0) ? SampleMake(b->dims, Max(b->n, 16)) : (ClvSample *) PG_GETARG_POINTER(0);
	if (a->dims != b->dims)
		elog(ERROR, "clv_sample_combine: states of different kinds");
	a = SampleReserve(a, b->n);
	memcpy(&a->rows[a->n], b->rows, b->n * sizeof(ClvRow));
	a->n += b->n;
	a->sorted = 0;
	PG_RETURN_POINTER(a);
}

/* ------------------------------------------------------------------------
 * Special functions
 * ------------------------------------------------------------------------ */

/* Digamma function psi(x) for x > 0: recurrence up to 6, then the asymptotic series. */
static double
Digamma(double x)
{
	double		r = 0;
	double		f;

	while (x < 6)
	{
		r -= 1 / x;
		x += 1;
	}
	f = 1 / (x * x);
	return r + log(x) - 0.5 / x
		- f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* log(exp(u) + exp(v)). */
static inline double
LogAddExp(double u, double v)
{
	if (u < v)
	{
		double		t = u;

		u = v;
		v = t;
	}
	if (v == -INFINITY)
		return u;
	return u + log1p(exp(v - u));
}

/* log(1 - exp(d)) for d < 0. */
static inline double
Log1mExp(double d)
{
	return d > -M_LN2 ? log(-expm1(d)) : log1p(-exp(d));
}

/*
 * Tanh-sinh nodes on [0, 1]: t = 1 / (1 + exp(-pi sinh u)) at u = k h,
 * dt/du = pi cosh(u) t (1 - t).  Level L has step 2^-L; the nodes of level L
 * that are not in level L-1 are the odd multiples of its step.  For each node
 * we keep log t, log(1 - t), 1 - t and the log weight log(pi cosh u t (1-t)).
 */
#define TS_LEVELS 7				/* steps 1 .. 1/64 */
#define TS_UMAX 6.1				/* t down to e^-630: far below any integrand's scale */
#define TS_MAXNODES 1024

typedef struct TsNode
{
	double		t;
	double		omt;			/* 1 - t, accurate near 1 */
	double		lt;
	double		lomt;
	double		lw;
} TsNode;

static TsNode ts_nodes[TS_MAXNODES];
static int	ts_level_start[TS_LEVELS + 1];
static bool ts_ready = false;

/* Fills ts_nodes, level by level (level 0: all multiples of 1; level L: odd multiples of 2^-L). */
static void
TsInit(void)
{
	int			n = 0;
	int			L;

	for (L = 0; L < TS_LEVELS; L++)
	{
		double		h = ldexp(1.0, -L);
		int			k;
		int			kmax = (int) floor(TS_UMAX / h);

		ts_level_start[L] = n;
		for (k = -kmax; k <= kmax; k++)
		{
			double		u = k * h;
			double		sh,
						e;
			TsNode	   *nd;

			if (L > 0 && (k % 2) == 0)
				continue;
			Assert(n < TS_MAXNODES);
			nd = &ts_nodes[n++];
			sh = M_PI * sinh(u);
			if (u >= 0)
			{
				e = exp(-sh);
				nd->t = 1 / (1 + e);
				nd->omt = e / (1 + e);
				nd->lt = -log1p(e);
				nd->lomt = -sh - log1p(e);
			}
			else
			{
				e = exp(sh);
				nd->t = e / (1 + e);
				nd->omt = 1 / (1 + e);
				nd->lt = sh - log1p(e);
				nd->lomt = -log1p(e);
			}
			nd->lw = log(M_PI * cosh(u)) + nd->lt + nd->lomt;
		}
	}
	ts_level_start[TS_LEVELS] = n;
	ts_ready = true;
}

/*
 * Log of the integrand of H at a node: (a-1) log t - b log(1 - y t).  When
 * a < 1 the singular factor t^(a-1) is taken out by t = v^(1/a), which gives
 * (1/a) int_0^1 (1 - y v^(1/a))^-b dv, a bounded integrand.
 */
static inline double
HLogIntegrand(const TsNode *nd, double a, double b, double y)
{
	double		t = nd->t,
				omt = nd->omt,
				l,
				c = (a - 1) * nd->lt;

	if (a < 1)
	{
		double		lt = nd->lt / a;

		t = exp(lt);
		omt = -expm1(lt);
		c = -log(a);
	}
	if (y > 0.5)
		l = log((1 - y) + y * omt);
	else
		l = log1p(-y * t);
	return c - b * l;
}

/* log H(a, b, y) by tanh-sinh, refined until two levels agree to 1e-14. */
static double
LogHQuad(double a, double b, double y)
{
	double		logsum = -INFINITY;
	double		prev = 0;
	int			L;

	if (!ts_ready)
		TsInit();
	for (L = 0; L < TS_LEVELS; L++)
	{
		double		h = ldexp(1.0, -L);
		double		m = -INFINITY;
		double		acc = 0;
		int			i;

		/* log of the sum of the new nodes' terms */
		for (i = ts_level_start[L]; i < ts_level_start[L + 1]; i++)
		{
			double		v = HLogIntegrand(&ts_nodes[i], a, b, y) + ts_nodes[i].lw;

			if (v > m)
			{
				acc = acc * exp(m - v) + 1;
				m = v;
			}
			else
				acc += exp(v - m);
		}
		if (m > -INFINITY)
			logsum = LogAddExp(logsum, m + log(acc));
		/* the estimate of this level: h times the sum of all nodes so far */
		{
			double		est = logsum + log(h);

			/* the change between levels bounds the error of the previous level; the
			 * error of this one is about its square */
			if (L >= 2 && fabs(est - prev) < 1e-9)
				return est;
			prev = est;
		}
	}
	return prev;
}

/*
 * log H(a, b, y), H = int_0^1 t^(a-1) (1 - y t)^-b dt, for a > 0, b > 0, y < 1:
 * the series sum_n (b)_n y^n / (n! (a + n)) when 0 <= y <= 1/2, the same
 * series after Pfaff's transformation when -1 <= y < 0, else quadrature.
 */
static double
LogH(double a, double b, double y)
{
	if (y >= 0 && y <= 0.5 && b * y < 200)
	{
		double		c = 1;
		double		sum = 1 / a;
		int			n;

		for (n = 1; n < 5000; n++)
		{
			double		t;

			c *= (b + n - 1) * y / n;
			t = c / (a + n);
			sum += t;
			if (fabs(t) <= 1e-17 * fabs(sum))
				return log(sum);
		}
	}
	if (y < 0 && y >= -1 && a + 1 - b > 0 && (a + 1 - b) * y / (y - 1) < 200)
	{
		/*
		 * Pfaff: H(a, b, y) = (1 - y)^-a H(a, a + 1 - b, y / (y - 1)), argument
		 * in (0, 1/2]: terms of one sign again (a + 1 - b = r + x > 0 here).
		 */
		double		w = y / (y - 1);
		double		bb = a + 1 - b;
		double		c = 1;
		double		sum = 1 / a;
		int			n;

		for (n = 1; n < 20000; n++)
		{
			double		t;

			c *= (bb + n - 1) * w / n;
			t = c / (a + n);
			sum += t;
			if (fabs(t) <= 1e-17 * fabs(sum))
				return log(sum) - a * log1p(-y);
		}
	}
	return LogHQuad(a, b, y);
}

/* log F(u) of the Pareto/NBD model for customers with x repeat purchases. */
static inline double
ParetoLogF(double r, double alpha, double s, double beta, int32 x, double u)
{
	double		a = r + s + x;

	return -a * log(alpha + u) + LogH(a, s + 1, (alpha - beta) / (alpha + u));
}

/* ------------------------------------------------------------------------
 * The optimiser: BFGS on log-parameters with a backtracking line search
 * ------------------------------------------------------------------------ */

#define MAXPAR 4
#define GTOL_STALL 1e-6
/* parameters stay within e^-15 .. e^15: beyond, the fit is running to a boundary */
#define PARAM_LOG_LIMIT 15

/* Objective: mean negative log-likelihood at log-parameters th; gradient into g when g != NULL. */
typedef double (*ObjFn) (void *ctx, const double *th, double *g);

typedef struct Objective
{
	ObjFn		f;
	void	   *ctx;
	int			k;
	bool		analytic;		/* f fills g itself */
} Objective;

/* Value and gradient, by central differences where the model gives none. */
static double
ObjEval(Objective *o, const double *th, double *g)
{
	double		f;
	int			i;

	CHECK_FOR_INTERRUPTS();
	if (o->analytic)
		return o->f(o->ctx, th, g);
	f = o->f(o->ctx, th, NULL);
	if (g != NULL && isfinite(f))
	{
		for (i = 0; i < o->k; i++)
		{
			double		t[MAXPAR];
			double		h = 1e-5;
			double		fp,
						fm;

			memcpy(t, th, sizeof(double) * o->k);
			t[i] = th[i] + h;
			fp = o->f(o->ctx, t, NULL);
			t[i] = th[i] - h;
			fm = o->f(o->ctx, t, NULL);
			g[i] = (fp - fm) / (2 * h);
		}
	}
	return f;
}

static inline double
MaxAbs(const double *v, int k)
{
	double		m = 0;
	int			i;

	for (i = 0; i < k; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/*
 * Minimises from th (updated in place).  Returns true when the gradient's
 * largest component fell below gtol; *fout gets the final value.
 */
static bool
Bfgs(Objective *o, double *th, double *fout, double gtol, int maxit, double (*Hio)[MAXPAR])
{
	int			k = o->k;
	double		H[MAXPAR][MAXPAR];
	double		g[MAXPAR],
				gn[MAXPAR],
				p[MAXPAR],
				thn[MAXPAR],
				sv[MAXPAR],
				yv[MAXPAR];
	double		f,
				fn = 0;
	int			it,
				i,
				j,
				stall = 0;
	bool		fresh = true;

	memset(H, 0, sizeof(H));
	for (i = 0; i < k; i++)
		H[i][i] = 1;
	if (Hio != NULL && Hio[0][0] > 0)
	{
		/* a warm start: the inverse Hessian of a previous fit */
		memcpy(H, Hio, sizeof(H));
		fresh = false;
	}
	f = ObjEval(o, th, g);
	if (!isfinite(f))
	{
		*fout = f;
		return false;
	}
	for (it = 0; it < maxit; it++)
	{
		double		gp = 0,
					step = 1,
					pm;
		bool		ok = false;
		int			ls;

		if (MaxAbs(g, k) < gtol)
			break;
		for (i = 0; i < k; i++)
		{
			p[i] = 0;
			for (j = 0; j < k; j++)
				p[i] -= H[i][j] * g[j];
			gp += p[i] * g[i];
		}
		if (gp >= 0)
		{
			/* not a descent direction: restart from steepest descent */
			memset(H, 0, sizeof(H));
			gp = 0;
			for (i = 0; i < k; i++)
			{
				H[i][i] = 1;
				p[i] = -g[i];
				gp -= g[i] * g[i];
			}
			fresh = true;
		}
		/* at most a factor e^2 on any parameter per step */
		pm = MaxAbs(p, k);
		if (pm > 2)
			step = 2 / pm;
		for (ls = 0; ls < 60; ls++)
		{
			for (i = 0; i < k; i++)
				thn[i] = th[i] + step * p[i];
			if (MaxAbs(thn, k) > PARAM_LOG_LIMIT)
				fn = INFINITY;
			else
				fn = ObjEval(o, thn, gn);
			if (isfinite(fn) && fn <= f + 1e-4 * step * gp)
			{
				ok = true;
				break;
			}
			step *= 0.5;
		}
		if (!ok)
		{
			if (fresh)
				break;			/* no progress even along the gradient */
			memset(H, 0, sizeof(H));
			for (i = 0; i < k; i++)
				H[i][i] = 1;
			fresh = true;
			continue;
		}
		/* BFGS update of the inverse Hessian */
		{
			double		sy = 0,
						yy = 0,
						Hy[MAXPAR],
						yHy = 0;

			for (i = 0; i < k; i++)
			{
				sv[i] = thn[i] - th[i];
				yv[i] = gn[i] - g[i];
				sy += sv[i] * yv[i];
				yy += yv[i] * yv[i];
			}
			if (sy > 1e-14 * sqrt(yy) * MaxAbs(sv, k) && sy > 0)
			{
				if (fresh)
				{
					for (i = 0; i < k; i++)
						for (j = 0; j < k; j++)
							H[i][j] = (i == j) ? sy / yy : 0;
					fresh = false;
				}
				for (i = 0; i < k; i++)
				{
					Hy[i] = 0;
					for (j = 0; j < k; j++)
						Hy[i] += H[i][j] * yv[j];
					yHy += yv[i] * Hy[i];
				}
				for (i = 0; i < k; i++)
					for (j = 0; j < k; j++)
						H[i][j] += (sy + yHy) * sv[i] * sv[j] / (sy * sy)
							- (Hy[i] * sv[j] + sv[i] * Hy[j]) / sy;
			}
		}
		/* no decrease left in double precision: stop */
		stall = (f - fn <= 1e-15 * fabs(f)) ? stall + 1 : 0;
		memcpy(th, thn, sizeof(double) * k);
		memcpy(g, gn, sizeof(double) * k);
		f = fn;
		if (stall >= 5)
			break;
	}
	*fout = f;
	if (Hio != NULL)
		memcpy(Hio, H, sizeof(H));
	elog(DEBUG1, "clv fit: %d iterations, mean log-likelihood %.17g, largest gradient %g",
		 it, -f, MaxAbs(g, k));
	/* converged: gradient below gtol, or below GTOL_STALL where no decrease is left */
	return MaxAbs(g, k) < gtol || (stall >= 5 && MaxAbs(g, k) < GTOL_STALL);
}

/*
 * Fits from several starting points; keeps the best.  Returns whether the
 * best point converged; th gets it, *ll the log-likelihood (times n).
 */
static bool
FitFromStarts(Objective *o, double starts[][MAXPAR], int nstarts, double gtol,
			  double n, double *best_th, double *ll, double (*Hio)[MAXPAR])
{
	double		Hbest[MAXPAR][MAXPAR];

	double		best = INFINITY;
	bool		best_conv = false;
	int			i;

	for (i = 0; i < nstarts; i++)
	{
		double		th[MAXPAR];
		double		f;
		bool		conv;
		int			j;

		double		H[MAXPAR][MAXPAR];

		/* the first start may come with an inverse Hessian */
		if (i == 0 && Hio != NULL)
			memcpy(H, Hio, sizeof(H));
		else
			H[0][0] = 0;
		for (j = 0; j < o->k; j++)
			th[j] = log(starts[i][j]);
		conv = Bfgs(o, th, &f, gtol, o->analytic ? 1000 : 200, H);
		if (isfinite(f) && (f < best - 1e-12 || (!best_conv && conv && f <= best + 1e-12)))
		{
			best = f;
			best_conv = conv;
			memcpy(best_th, th, sizeof(double) * o->k);
			memcpy(Hbest, H, sizeof(H));
		}
		if (best_conv)
			break;				/* a converged fit: the other starts are fallbacks */
	}
	*ll = -best * n;
	if (Hio != NULL && isfinite(best))
		memcpy(Hio, Hbest, sizeof(Hbest));
	return best_conv && isfinite(best);
}

/* ------------------------------------------------------------------------
 * The data of a fit: groups of customers, distinct x and distinct times
 * ------------------------------------------------------------------------ */

typedef struct FitData
{
	int64		ng;				/* groups */
	double		n;				/* customers */
	double	   *w;				/* customers per group */
	int32	   *gx;				/* group -> index into ux */
	int32	   *gt;				/* group -> index into ut (t_x, or mean spend) */
	int32	   *gT;				/* group -> index into uT */
	int32	   *ux;				/* distinct x */
	int			nux;
	double	   *ut;				/* distinct t_x (spend: distinct mean spend) */
	int64		nut;
	double	   *uT;				/* distinct T */
	int64		nuT;
	/* Pareto/NBD: distinct (x, t_x) and (x, T) pairs */
	int32	   *gpt;			/* group -> pair of (x, t_x) */
	int32	   *gpT;			/* group -> pair of (x, T) */
	int32	   *pt_x,
			   *pt_u;			/* pair -> x index, t index */
	int64		npt;
	int32	   *pT_x,
			   *pT_u;
	int64		npT;
	/* scratch per pass */
	double	   *lt,
			   *lT,
			   *lt2,
			   *lT2,
			   *ix1,
			   *ix2,
			   *ix3,
			   *ix4,
			   *ix5,
			   *ix6;
	double	   *pft,
			   *pfT;
	double		meanT;
	double		meanm;
	double	   *glmx;			/* spend: log(mean spend * x) per group */
} FitData;

static int
DoubleCmp(const void *p, const void *q)
{
	double		u = *(const double *) p;
	double		v = *(const double *) q;

	return u < v ? -1 : (u > v ? 1 : 0);
}

static int
Int64Cmp(const void *p, const void *q)
{
	int64		u = *(const int64 *) p;
	int64		v = *(const int64 *) q;

	return u < v ? -1 : (u > v ? 1 : 0);
}

/* Sorted distinct values of v[0..n-1] (reorders v); returns the count. */
static int64
Distinct(double *v, int64 n)
{
	int64		i,
				k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(double), DoubleCmp);
	for (i = 1; i < n; i++)
		if (v[i] != v[k])
			v[++k] = v[i];
	return k + 1;
}

/* Index of value d in sorted distinct values u[0..n-1]. */
static int32
FindDouble(const double *u, int64 n, double d)
{
	int64		lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int64		mid = (lo + hi) / 2;

		if (u[mid] < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int32) lo;
}

/* Index of key in sorted distinct keys. */
static int32
FindInt64(const int64 *u, int64 n, int64 d)
{
	int64		lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int64		mid = (lo + hi) / 2;

		if (u[mid] < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int32) lo;
}

/* Builds the pair table of (x index, time index) for Pareto/NBD. */
static void
BuildPairs(FitData *d, const int32 *gu, int64 nu, int32 **gp, int32 **px, int32 **pu, int64 *np)
{
	int64	   *keys = palloc(sizeof(int64) * Max(d->ng, 1));
	int64	   *uk = palloc(sizeof(int64) * Max(d->ng, 1));
	int64		i,
				k = 0;

	for (i = 0; i < d->ng; i++)
		keys[i] = (int64) d->gx[i] * nu + gu[i];
	memcpy(uk, keys, sizeof(int64) * d->ng);
	if (d->ng > 0)
	{
		qsort(uk, d->ng, sizeof(int64), Int64Cmp);
		for (i = 1; i < d->ng; i++)
			if (uk[i] != uk[k])
				uk[++k] = uk[i];
		k++;
	}
	*np = k;
	*gp = palloc(sizeof(int32) * Max(d->ng, 1));
	*px = palloc(sizeof(int32) * Max(k, 1));
	*pu = palloc(sizeof(int32) * Max(k, 1));
	for (i = 0; i < k; i++)
	{
		(*px)[i] = (int32) (uk[i] / nu);
		(*pu)[i] = (int32) (uk[i] % nu);
	}
	for (i = 0; i < d->ng; i++)
		(*gp)[i] = FindInt64(uk, k, keys[i]);
	pfree(keys);
	pfree(uk);
}

/* Turns a compacted sample into fit data. */
static FitData *
BuildFitData(ClvSample *s, bool pairs)
{
	FitData    *d = palloc0(sizeof(FitData));
	int64		i,
				ng = s->n;
	double		sumT = 0,
				summ = 0;

	SampleCompact(s);
	ng = s->n;
	d->ng = ng;
	d->w = palloc(sizeof(double) * Max(ng, 1));
	d->gx = palloc(sizeof(int32) * Max(ng, 1));
	d->gt = palloc(sizeof(int32) * Max(ng, 1));
	d->gT = palloc(sizeof(int32) * Max(ng, 1));
	d->ux = palloc(sizeof(int32) * Max(ng, 1));
	d->ut = palloc(sizeof(double) * Max(ng, 1));
	d->uT = palloc(sizeof(double) * Max(ng, 1));
	d->nux = 0;
	for (i = 0; i < ng; i++)
	{
		ClvRow	   *r = &s->rows[i];

		d->w[i] = (double) r->count;
		d->n += d->w[i];
		if (d->nux == 0 || d->ux[d->nux - 1] != r->x)
			d->ux[d->nux++] = r->x;
		d->gx[i] = d->nux - 1;
		d->ut[i] = r->a;
		d->uT[i] = r->b;
		sumT += d->w[i] * r->b;
		summ += d->w[i] * r->a;
	}
	d->meanT = d->n > 0 ? sumT / d->n : 1;
	d->meanm = d->n > 0 ? summ / d->n : 1;
	if (s->dims == 3)
	{
		d->nut = Distinct(d->ut, ng);
		d->nuT = Distinct(d->uT, ng);
		for (i = 0; i < ng; i++)
		{
			d->gt[i] = FindDouble(d->ut, d->nut, s->rows[i].a);
			d->gT[i] = FindDouble(d->uT, d->nuT, s->rows[i].b);
		}
	}
	else
	{
		/* spend: one mean spend per group, no shared times */
		d->nut = ng;
		d->nuT = 0;
		for (i = 0; i < ng; i++)
		{
			d->ut[i] = s->rows[i].a;
			d->gt[i] = (int32) i;
		}
	}
	d->lt = palloc(sizeof(double) * Max(d->nut, 1));
	d->lT = palloc(sizeof(double) * Max(d->nuT, 1));
	d->lt2 = palloc(sizeof(double) * Max(d->nut, 1));
	d->lT2 = palloc(sizeof(double) * Max(d->nuT, 1));
	d->ix1 = palloc(sizeof(double) * (d->nux + 1));
	d->ix2 = palloc(sizeof(double) * (d->nux + 1));
	d->ix3 = palloc(sizeof(double) * (d->nux + 1));
	d->ix4 = palloc(sizeof(double) * (d->nux + 1));
	d->ix5 = palloc(sizeof(double) * (d->nux + 1));
	d->ix6 = palloc(sizeof(double) * (d->nux + 1));
	d->glmx = palloc(sizeof(double) * Max(ng, 1));
	for (i = 0; i < ng; i++)
		d->glmx[i] = log(s->rows[i].a * s->rows[i].x);
	if (pairs)
	{
		BuildPairs(d, d->gt, d->nut, &d->gpt, &d->pt_x, &d->pt_u, &d->npt);
		BuildPairs(d, d->gT, d->nuT, &d->gpT, &d->pT_x, &d->pT_u, &d->npT);
		d->pft = palloc(sizeof(double) * Max(d->npt, 1));
		d->pfT = palloc(sizeof(double) * Max(d->npT, 1));
	}
	return d;
}

/* ------------------------------------------------------------------------
 * BG/NBD likelihood (Fader, Hardie and Lee 2005), analytic gradient
 * ------------------------------------------------------------------------ */

/* Mean negative log-likelihood of BG/NBD at log-parameters th; gradient into g. */
static double
BgObjective(void *ctx, const double *th, double *g)
{
	FitData    *d = (FitData *) ctx;
	double		r = exp(th[0]),
				al = exp(th[1]),
				a = exp(th[2]),
				b = exp(th[3]);
	double		ll = 0,
				sr = 0,
				sal = 0,
				sa = 0,
				sb = 0;
	double		lal = log(al),
				psr = 0,
				psab = 0,
				psb = 0,
				lgab = 0,
				lgr = 0,
				lgb = 0;
	int64		i;

	for (i = 0; i < d->nut; i++)
	{
		d->lt[i] = log(al + d->ut[i]);
		d->lt2[i] = 1 / (al + d->ut[i]);
	}
	for (i = 0; i < d->nuT; i++)
	{
		d->lT[i] = log(al + d->uT[i]);
		d->lT2[i] = 1 / (al + d->uT[i]);
	}
	lgr = lgamma(r);
	lgab = lgamma(a + b);
	lgb = lgamma(b);
	if (g)
	{
		psr = Digamma(r);
		psab = Digamma(a + b);
		psb = Digamma(b);
	}
	for (i = 0; i < d->nux; i++)
	{
		double		x = d->ux[i];

		/* terms that depend on x only */
		d->ix1[i] = lgamma(r + x) - lgr + r * lal + lgab + lgamma(b + x) - lgb - lgamma(a + b + x);
		d->ix2[i] = x > 0 ? log(a) - log(b + x - 1) : -INFINITY;
		if (g)
		{
			double		psabx = Digamma(a + b + x);

			d->ix3[i] = Digamma(r + x) - psr + lal;
			d->ix4[i] = psab - psabx;
			d->ix5[i] = psab + Digamma(b + x) - psb - psabx;
			d->ix6[i] = x > 0 ? -1 / (b + x - 1) : 0;
		}
	}
	for (i = 0; i < d->ng; i++)
	{
		int32		xi = d->gx[i];
		double		x = d->ux[xi];
		double		m = r + x;
		double		lT = d->lT[d->gT[i]];
		double		A3 = -m * lT;
		double		w = d->w[i];
		double		lse,
					w3,
					w4;

		if (x > 0)
		{
			double		lt = d->lt[d->gt[i]];
			double		A4 = d->ix2[xi] - m * lt;
			double		e;

			if (A3 >= A4)
			{
				e = exp(A4 - A3);
				lse = A3 + log1p(e);
				w3 = 1 / (1 + e);
				w4 = e / (1 + e);
			}
			else
			{
				e = exp(A3 - A4);
				lse = A4 + log1p(e);
				w3 = e / (1 + e);
				w4 = 1 / (1 + e);
			}
			if (g)
			{
				sr += w * (d->ix3[xi] - w3 * lT - w4 * lt);
				sal += w * (r / al - m * (w3 * d->lT2[d->gT[i]] + w4 * d->lt2[d->gt[i]]));
				sa += w * (d->ix4[xi] + w4 / a);
				sb += w * (d->ix5[xi] + w4 * d->ix6[xi]);
			}
		}
		else
		{
			lse = A3;
			if (g)
			{
				sr += w * (d->ix3[xi] - lT);
				sal += w * (r / al - m * d->lT2[d->gT[i]]);
				sa += w * d->ix4[xi];
				sb += w * d->ix5[xi];
			}
		}
		ll += w * (d->ix1[xi] + lse);
	}
	if (g)
	{
		g[0] = -r * sr / d->n;
		g[1] = -al * sal / d->n;
		g[2] = -a * sa / d->n;
		g[3] = -b * sb / d->n;
	}
	return -ll / d->n;
}

/* ------------------------------------------------------------------------
 * Pareto/NBD likelihood (Schmittlein, Morrison and Colombo 1987)
 * ------------------------------------------------------------------------ */

/* Mean negative log-likelihood of Pareto/NBD at log-parameters th. */
static double
ParetoObjective(void *ctx, const double *th, double *g)
{
	FitData    *d = (FitData *) ctx;
	double		r = exp(th[0]),
				al = exp(th[1]),
				s = exp(th[2]),
				be = exp(th[3]);
	double		ll = 0,
				ls = log(s),
				lgr = lgamma(r),
				c0 = r * log(al) + s * log(be);
	int64		i;

	for (i = 0; i < d->nuT; i++)
	{
		d->lT[i] = log(al + d->uT[i]);
		d->lT2[i] = log(be + d->uT[i]);
	}
	for (i = 0; i < d->nux; i++)
		d->ix1[i] = lgamma(r + d->ux[i]) - lgr + c0;
	for (i = 0; i < d->npt; i++)
		d->pft[i] = ParetoLogF(r, al, s, be, d->ux[d->pt_x[i]], d->ut[d->pt_u[i]]);
	for (i = 0; i < d->npT; i++)
		d->pfT[i] = ParetoLogF(r, al, s, be, d->ux[d->pT_x[i]], d->uT[d->pT_u[i]]);
	for (i = 0; i < d->ng; i++)
	{
		int32		xi = d->gx[i];
		double		x = d->ux[xi];
		double		lA = -(r + x) * d->lT[d->gT[i]] - s * d->lT2[d->gT[i]];
		double		lf1 = d->pft[d->gpt[i]];
		double		lf2 = d->pfT[d->gpT[i]];
		double		l = lA;

		if (lf2 < lf1)
			l = LogAddExp(lA, ls + lf1 + Log1mExp(lf2 - lf1));
		ll += d->w[i] * (d->ix1[xi] + l);
	}
	return -ll / d->n;
}

/* ------------------------------------------------------------------------
 * Gamma-Gamma spend likelihood (Fader, Hardie and Lee 2005), analytic gradient
 * ------------------------------------------------------------------------ */

/* Mean negative log-likelihood of Gamma-Gamma at log-parameters th; gradient into g. */
static double
GgObjective(void *ctx, const double *th, double *g)
{
	FitData    *d = (FitData *) ctx;
	double		p = exp(th[0]),
				q = exp(th[1]),
				v = exp(th[2]);
	double		ll = 0,
				sp = 0,
				sq = 0,
				sv = 0,
				lv = log(v),
				lgq = lgamma(q),
				psq = g ? Digamma(q) : 0;
	int64		i;

	for (i = 0; i < d->nux; i++)
	{
		double		x = d->ux[i];

		d->ix1[i] = lgamma(p * x + q) - lgamma(p * x) - lgq + q * lv + log(x);
		if (g)
		{
			double		ps = Digamma(p * x + q);

			d->ix2[i] = ps - Digamma(p * x);
			d->ix3[i] = ps - psq + lv;
		}
	}
	for (i = 0; i < d->ng; i++)
	{
		int32		xi = d->gx[i];
		double		x = d->ux[xi];
		double		mx = d->ut[d->gt[i]] * x;
		double		lmx = d->glmx[i];
		double		lvm = log(v + mx);
		double		w = d->w[i];

		ll += w * (d->ix1[xi] + (p * x - 1) * lmx - (p * x + q) * lvm);
		if (g)
		{
			sp += w * x * (d->ix2[xi] + lmx - lvm);
			sq += w * (d->ix3[xi] - lvm);
			sv += w * (q / v - (p * x + q) / (v + mx));
		}
	}
	if (g)
	{
		g[0] = -p * sp / d->n;
		g[1] = -q * sq / d->n;
		g[2] = -v * sv / d->n;
	}
	return -ll / d->n;
}

/* ------------------------------------------------------------------------
 * Final functions: the fitted parameters as a composite
 * ------------------------------------------------------------------------ */

/* Starting points of a model, from its data. */
typedef void (*StartsFn) (FitData *d, double starts[][MAXPAR]);

#define WARM_ROWS 20000

/*
 * Fits a model to a sample.  A large sample is first fitted on every k-th of
 * its (sorted) rows, about WARM_ROWS of them, and the full fit starts from
 * there, which saves most of the passes over the full data.
 */
static bool
FitModel(ClvSample *s, ObjFn fn, int k, bool analytic, bool pairs, StartsFn mkstarts,
		 double gtol, double *th, double *ll, double *n)
{
	FitData    *d;
	Objective	o;
	double		starts[4][MAXPAR];
	double		Hw[MAXPAR][MAXPAR];
	int			nst = 0,
				j;

	SampleCompact(s);
	if (s->n > 2 * WARM_ROWS)
	{
		int64		step = s->n / WARM_ROWS;
		ClvSample  *sub = SampleMake(s->dims, s->n / step + 1);
		FitData    *ds;
		double		ths[MAXPAR],
					lls;
		int64		i;

		for (i = 0; i < s->n; i += step)
			sub->rows[sub->n++] = s->rows[i];
		sub->sorted = 1;
		ds = BuildFitData(sub, pairs);
		o.f = fn;
		o.ctx = ds;
		o.k = k;
		o.analytic = analytic;
		mkstarts(ds, starts + 1);
		Hw[0][0] = 0;
		(void) FitFromStarts(&o, starts + 1, 3, gtol, ds->n, ths, &lls, Hw);
		for (j = 0; j < k; j++)
			starts[0][j] = exp(ths[j]);
		nst = 1;
	}
	d = BuildFitData(s, pairs);
	mkstarts(d, starts + nst);
	o.f = fn;
	o.ctx = d;
	o.k = k;
	o.analytic = analytic;
	*n = d->n;
	return FitFromStarts(&o, starts, nst + 3, gtol, d->n, th, ll, nst ? Hw : NULL);
}

/* Starting points: BG/NBD. */
static void
BgStarts(FitData *d, double st[][MAXPAR])
{
	double		mt = Max(d->meanT, 1e-3);

	st[0][0] = 1; st[0][1] = mt; st[0][2] = 1; st[0][3] = 1;
	st[1][0] = 1; st[1][1] = 1; st[1][2] = 1; st[1][3] = 1;
	st[2][0] = 0.5; st[2][1] = mt / 4; st[2][2] = 0.5; st[2][3] = 3;
}

/* Starting points: Pareto/NBD. */
static void
ParetoStarts(FitData *d, double st[][MAXPAR])
{
	double		mt = Max(d->meanT, 1e-3);

	st[0][0] = 1; st[0][1] = mt; st[0][2] = 1; st[0][3] = mt;
	st[1][0] = 1; st[1][1] = 1; st[1][2] = 1; st[1][3] = 1;
	st[2][0] = 0.5; st[2][1] = mt / 4; st[2][2] = 0.5; st[2][3] = mt * 4;
}

/* Starting points: Gamma-Gamma. */
static void
GgStarts(FitData *d, double st[][MAXPAR])
{
	double		mm = Max(d->meanm, 1e-6);

	st[0][0] = 1; st[0][1] = 2; st[0][2] = mm;
	st[1][0] = 1; st[1][1] = 1; st[1][2] = 1;
	st[2][0] = 5; st[2][1] = 5; st[2][2] = mm * 4;
}

/* Builds the result row: k parameters, loglik, n, converged. */
static Datum
FitResult(FunctionCallInfo fcinfo, int k, const double *par, double ll, double n, bool conv)
{
	TupleDesc	tupdesc;
	Datum		values[MAXPAR + 3];
	bool		nulls[MAXPAR + 3];
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "clv fit: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	memset(nulls, 0, sizeof(nulls));
	for (i = 0; i < k; i++)
		values[i] = Float8GetDatum(par[i]);
	values[k] = Float8GetDatum(ll);
	values[k + 1] = Int64GetDatum((int64) n);
	values[k + 2] = BoolGetDatum(conv);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Gradient tolerance (mean log-likelihood, log-parameters) reported as convergence. */
#define GTOL_ANALYTIC 1e-9
#define GTOL_NUMERIC 1e-7

/*
 * The final function of a fitting aggregate: fits the model of k parameters
 * to the state and returns the estimates (the optimiser works on their logs).
 */
static Datum
FitFinal(FunctionCallInfo fcinfo, ObjFn fn, int k, bool analytic, bool pairs, StartsFn mkstarts,
		 double gtol)
{
	double		th[MAXPAR],
				par[MAXPAR],
				ll,
				n;
	bool		conv;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	conv = FitModel(SampleArgCopy(PG_GETARG_DATUM(0)), fn, k, analytic, pairs, mkstarts, gtol, th, &ll, &n);
	for (i = 0; i < k; i++)
		par[i] = exp(th[i]);
	PG_RETURN_DATUM(FitResult(fcinfo, k, par, ll, n, conv));
}

PG_FUNCTION_INFO_V1(bgnbd_fit_final);
/* Final of crm.bgnbd_fit: maximum likelihood estimates. */
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return FitFinal(fcinfo, BgObjective, 4, true, false, BgStarts, GTOL_ANALYTIC);
}

PG_FUNCTION_INFO_V1(paretonbd_fit_final);
/* Final of crm.paretonbd_fit: maximum likelihood estimates. */
Datum
paretonbd_fit_final(PG_FUNCTION_ARGS)
{
	return FitFinal(fcinfo, ParetoObjective, 4, false, true, ParetoStarts, GTOL_NUMERIC);
}

PG_FUNCTION_INFO_V1(gamma_gamma_fit_final);
/* Final of crm.gamma_gamma_fit: maximum likelihood estimates. */
Datum
gamma_gamma_fit_final(PG_FUNCTION_ARGS)
{
	return FitFinal(fcinfo, GgObjective, 3, true, false, GgStarts, GTOL_ANALYTIC);
}

/* ------------------------------------------------------------------------
 * Predictions
 * ------------------------------------------------------------------------ */

/* Reads k positive finite parameters from a composite argument. */
static void
ReadParams(HeapTupleHeader t, int k, double *par, const char *model)
{
	int			i;

	for (i = 0; i < k; i++)
	{
		bool		isnull;
		Datum		v = GetAttributeByNum(t, i + 1, &isnull);

		par[i] = isnull ? NAN : DatumGetFloat8(v);
		if (isnull || !(par[i] > 0) || isinf(par[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s parameters", model),
					 errdetail("Every model parameter must be positive and finite."),
					 errhint("Use the result of the fitting aggregate.")));
	}
}

/*
 * Per call site cache, in fn_extra.  A scoring query passes the same
 * composite of parameters on every row: it is read once per distinct value
 * (reading it costs a type cache lookup per field).  Per-customer results
 * that depend on the parameters and on a few of the customer's numbers only
 * (BG/NBD expected purchases on (x, T), the discounted CLV sum on (x, T),
 * Pareto/NBD P(alive) on (x, t_x, T)) are memoised in a direct-mapped table:
 * customer tables repeat these keys a lot (time is counted in whole days),
 * and a hit returns the very value the computation gives.  Every change of
 * parameters or of the other arguments (period, horizon, rate) starts a new
 * generation, which invalidates every slot.
 */
#define PARAM_CACHE_BYTES 192
#define MEMO_BITS 14
#define MEMO_SLOTS (1 << MEMO_BITS)
#define MEMO_AFTER 64			/* calls before the table is allocated */
#define MEMO_TABLES 2
#define LODDS_X 1024

typedef struct MemoSlot
{
	uint64		a;				/* bits of the first double of the key */
	uint64		b;				/* bits of the second */
	int32		x;
	uint32		gen;			/* generation of the value; 0 = empty */
	double		v;
} MemoSlot;

typedef struct FnCache
{
	int32		len[2];
	double		par[2][MAXPAR];
	char		raw[2][PARAM_CACHE_BYTES];
	uint64		extra[2];		/* bits of the other arguments the memo depends on */
	uint32		gen;
	uint64		calls;
	MemoryContext mcxt;			/* fn_mcxt: lives as long as the call site */
	MemoSlot   *memo[MEMO_TABLES];
	struct
	{
		uint32		gen;
		double		v;
	}		   *lodds;			/* BG/NBD log(a) - log(b + x - 1) by x */
} FnCache;

static FnCache *
GetFnCache(FunctionCallInfo fcinfo)
{
	FnCache    *c = (FnCache *) fcinfo->flinfo->fn_extra;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FnCache));
		c->gen = 1;
		c->mcxt = fcinfo->flinfo->fn_mcxt;
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

/* Invalidates every memoised value. */
static void
NewGeneration(FnCache *c)
{
	int			i;

	if (++c->gen == 0)
	{
		for (i = 0; i < MEMO_TABLES; i++)
			if (c->memo[i] != NULL)
				memset(c->memo[i], 0, sizeof(MemoSlot) * MEMO_SLOTS);
		if (c->lodds != NULL)
			memset(c->lodds, 0, sizeof(*c->lodds) * LODDS_X);
		c->gen = 1;
	}
}

static inline uint64
DoubleBits(double d)
{
	uint64		u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

/* Records the other arguments a memo depends on; a change invalidates it. */
static void
MemoDependsOn(FnCache *c, double e0, double e1)
{
	uint64		u0 = DoubleBits(e0),
				u1 = DoubleBits(e1);

	if (u0 != c->extra[0] || u1 != c->extra[1])
	{
		c->extra[0] = u0;
		c->extra[1] = u1;
		NewGeneration(c);
	}
}

/*
 * The slot of key (x, a, b) in memo table i, or NULL while the call site has
 * made too few calls to be worth a table.  *hit tells whether slot->v holds
 * the value; on a miss the caller computes it and calls MemoStore.
 */
static inline MemoSlot *
MemoFind(FnCache *c, int i, int32 x, double a, double b, bool *hit)
{
	uint64		ua = DoubleBits(a),
				ub = DoubleBits(b),
				h;
	MemoSlot   *s;

	*hit = false;
	if (c->memo[i] == NULL)
	{
		if (++c->calls < MEMO_AFTER)
			return NULL;
		c->memo[i] = MemoryContextAllocZero(c->mcxt, sizeof(MemoSlot) * MEMO_SLOTS);
	}
	h = ua * UINT64CONST(0x9E3779B97F4A7C15);
	h ^= (ub + UINT64CONST(0x632BE59BD9B4E019)) * UINT64CONST(0xC2B2AE3D27D4EB4F);
	h ^= (uint64) (uint32) x * UINT64CONST(0x165667B19E3779F9);
	h ^= h >> 29;
	h *= UINT64CONST(0xBF58476D1CE4E5B9);
	s = &c->memo[i][h >> (64 - MEMO_BITS)];
	*hit = s->gen == c->gen && s->x == x && s->a == ua && s->b == ub;
	return s;
}

static inline void
MemoStore(FnCache *c, MemoSlot *s, int32 x, double a, double b, double v)
{
	if (s == NULL)
		return;
	s->a = DoubleBits(a);
	s->b = DoubleBits(b);
	s->x = x;
	s->gen = c->gen;
	s->v = v;
}

/*
 * The cache compares the bytes of the composite after its varlena header, so
 * that a value stored in a table (short header) is recognised without being
 * detoasted, which would copy it on every row.
 */
static void
ReadParamsArg(FunctionCallInfo fcinfo, int argno, int k, double *par, const char *model)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	FnCache    *c = GetFnCache(fcinfo);
	HeapTupleHeader t;
	int32		len;

	if (!VARATT_IS_EXTERNAL(v) && !VARATT_IS_COMPRESSED(v))
	{
		len = (int32) VARSIZE_ANY_EXHDR(v);
		if (c->len[argno] == len && memcmp(c->raw[argno], VARDATA_ANY(v), len) == 0)
		{
			memcpy(par, c->par[argno], sizeof(double) * k);
			return;
		}
	}
	/* toasted, compressed or an expanded record (a PL/pgSQL variable): flatten */
	t = PG_GETARG_HEAPTUPLEHEADER(argno);
	len = (int32) HeapTupleHeaderGetDatumLength(t) - VARHDRSZ;
	if (c->len[argno] == len && memcmp(c->raw[argno], VARDATA(t), len) == 0)
	{
		memcpy(par, c->par[argno], sizeof(double) * k);
		return;
	}
	ReadParams(t, k, par, model);
	NewGeneration(c);
	if (len <= PARAM_CACHE_BYTES)
	{
		memcpy(c->raw[argno], VARDATA(t), len);
		memcpy(c->par[argno], par, sizeof(double) * k);
		c->len[argno] = len;
	}
	else
		c->len[argno] = -1;
}

/* Rejects a negative or non-finite prediction horizon. */
static void
CheckHorizon(double t)
{
	if (!(t >= 0) || isinf(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid prediction period %g", t),
				 errdetail("The period must be zero or positive and finite, in the model's time unit."),
				 errhint("Pass for example 13 for 13 weeks when the model was fitted in weeks.")));
}

/* BG/NBD: log of the odds a customer has dropped out (against alive), -inf when x = 0. */
static double
BgLogDeadOdds(const double *p, int32 x, double t_x, double T)
{
	if (x == 0)
		return -INFINITY;
	return log(p[2]) - log(p[3] + x - 1) + (p[0] + x) * (log(p[1] + T) - log(p[1] + t_x));
}

static double
BgPAlive(const double *p, int32 x, double t_x, double T)
{
	double		lo = BgLogDeadOdds(p, x, t_x, T);

	return lo == -INFINITY ? 1 : 1 / (1 + exp(lo));
}

/*
 * BgPAlive with log(a) - log(b + x - 1) taken from the call site's cache
 * for small x: the same expression in the same order, so the same bits.
 */
static double
BgPAliveCached(FnCache *c, const double *p, int32 x, double t_x, double T)
{
	double		l0,
				lo;

	if (x == 0)
		return 1;
	if (x >= LODDS_X)
		return BgPAlive(p, x, t_x, T);
	if (c->lodds == NULL)
		c->lodds = MemoryContextAllocZero(c->mcxt, sizeof(*c->lodds) * LODDS_X);
	if (c->lodds[x].gen == c->gen)
		l0 = c->lodds[x].v;
	else
	{
		l0 = log(p[2]) - log(p[3] + x - 1);
		c->lodds[x].v = l0;
		c->lodds[x].gen = c->gen;
	}
	lo = l0 + (p[0] + x) * (log(p[1] + T) - log(p[1] + t_x));
	return 1 / (1 + exp(lo));
}

/*
 * BG/NBD: expected purchases in (T, T + t] of a customer known alive at T:
 * E over p ~ Beta(a, b + x) of (1 - (1 + p t / (alpha + T))^-(r + x)) / p.
 * The closed form of Fader, Hardie and Lee when it is well conditioned, else
 * tanh-sinh quadrature over p.
 */
static double
BgExpectedAlive(const double *p, int32 x, double T, double t)
{
	double		r = p[0],
				al = p[1],
				a = p[2],
				b = p[3];
	double		m = r + x,
				bb = b + x,
				c = a + b + x - 1,
				z = t / (al + T + t);
	double		lbeta;
	double		k;
	double		sum = 0;
	int			L,
				i;
	double		prev = 0;

	if (t == 0)
		return 0;
	if (fabs(a - 1) >= 0.05 && c >= 0.5 && z <= 0.9)
	{
		/* 2F1(m, bb; c; z): terms of one sign */
		double		term = 1,
					f = 1;
		int			n;

		for (n = 0; n < 10000; n++)
		{
			term *= (m + n) * (bb + n) / ((c + n) * (n + 1)) * z;
			f += term;
			if (term <= 1e-17 * f)
				break;
		}
		if (n < 10000)
			return (a + b + x - 1) / (a - 1) * (1 - exp(m * log1p(-z)) * f);
	}
	if (!ts_ready)
		TsInit();
	lbeta = lgamma(a) + lgamma(bb) - lgamma(a + bb);
	k = t / (al + T);
	for (L = 0; L < TS_LEVELS; L++)
	{
		double		h = ldexp(1.0, -L);

		for (i = ts_level_start[L]; i < ts_level_start[L + 1]; i++)
		{
			const TsNode *nd = &ts_nodes[i];
			double		lw = (a - 1) * nd->lt + (bb - 1) * nd->lomt - lbeta + nd->lw;
			double		gp = -expm1(-m * log1p(nd->t * k)) / nd->t;

			sum += exp(lw) * gp;
		}
		if (L >= 2 && fabs(sum * h - prev) <= 1e-9 * fabs(prev))
			return sum * h;
		prev = sum * h;
	}
	return prev;
}

/*
 * Pareto/NBD log F(x, u) of the likelihood, memoised on (x, u) in table i of
 * the call site's cache: it depends on one of t_x or T only, and customer
 * tables repeat (x, t_x) and (x, T) far more than (x, t_x, T).
 */
static double
ParetoLogFMemo(FnCache *c, int i, const double *p, int32 x, double u)
{
	bool		hit;
	MemoSlot   *slot = MemoFind(c, i, x, u, 0, &hit);
	double		f;

	if (hit)
		return slot->v;
	f = ParetoLogF(p[0], p[1], p[2], p[3], x, u);
	MemoStore(c, slot, x, u, 0, f);
	return f;
}

/* Pareto/NBD: log A and log s D of the likelihood (P(alive) = A / (A + s D)). */
static void
ParetoParts(FnCache *c, int i, const double *p, int32 x, double t_x, double T, double *lA, double *lsD)
{
	double		r = p[0],
				al = p[1],
				s = p[2],
				be = p[3];

	*lA = -(r + x) * log(al + T) - s * log(be + T);
	if (t_x < T)
	{
		double		f1 = ParetoLogFMemo(c, i, p, x, t_x);
		double		f2 = ParetoLogFMemo(c, i, p, x, T);

		*lsD = f2 < f1 ? log(s) + f1 + Log1mExp(f2 - f1) : -INFINITY;
	}
	else
		*lsD = -INFINITY;
}

static double
ParetoPAlive(FnCache *c, int i, const double *p, int32 x, double t_x, double T)
{
	double		lA,
				lsD;

	ParetoParts(c, i, p, x, t_x, T, &lA, &lsD);
	if (lsD == -INFINITY)
		return 1;
	return 1 / (1 + exp(lsD - lA));
}

/* Pareto/NBD: expected purchases in (T, T + t] of a customer known alive at T. */
static double
ParetoExpectedAlive(const double *p, int32 x, double T, double t)
{
	double		r = p[0],
				al = p[1],
				s = p[2],
				be = p[3];
	double		q = log1p(t / (be + T));
	double		f;

	if (fabs(s - 1) < 1e-10)
		f = q;
	else
		f = -expm1(-(s - 1) * q) / (s - 1);
	return (r + x) * (be + T) / (al + T) * f;
}

/* Argument helpers. */
static void
ReadCustomer(FunctionCallInfo fcinfo, int first, int32 *x, double *t_x, double *T)
{
	*x = PG_GETARG_INT32(first);
	*t_x = PG_GETARG_FLOAT8(first + 1);
	*T = PG_GETARG_FLOAT8(first + 2);
	CheckTriple(*x, *t_x, *T);
}

PG_FUNCTION_INFO_V1(bgnbd_p_alive);
/* crm.p_alive(crm.bgnbd_params, x, t_x, T). */
Datum
bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		p[4],
				t_x,
				T;
	int32		x;

	ReadParamsArg(fcinfo, 0, 4, p, "BG/NBD");
	ReadCustomer(fcinfo, 1, &x, &t_x, &T);
	PG_RETURN_FLOAT8(BgPAliveCached(GetFnCache(fcinfo), p, x, t_x, T));
}

PG_FUNCTION_INFO_V1(bgnbd_expected_purchases);
/* crm.expected_purchases(crm.bgnbd_params, t, x, t_x, T). */
Datum
bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		p[4],
				t,
				t_x,
				T;
	int32		x;

	FnCache    *c;
	MemoSlot   *slot;
	bool		hit;
	double		e;

	ReadParamsArg(fcinfo, 0, 4, p, "BG/NBD");
	t = PG_GETARG_FLOAT8(1);
	CheckHorizon(t);
	ReadCustomer(fcinfo, 2, &x, &t_x, &T);
	c = GetFnCache(fcinfo);
	MemoDependsOn(c, t, 0);
	slot = MemoFind(c, 0, x, T, 0, &hit);
	if (hit)
		e = slot->v;
	else
	{
		e = BgExpectedAlive(p, x, T, t);
		MemoStore(c, slot, x, T, 0, e);
	}
	PG_RETURN_FLOAT8(BgPAliveCached(c, p, x, t_x, T) * e);
}

PG_FUNCTION_INFO_V1(paretonbd_p_alive);
/* crm.p_alive(crm.paretonbd_params, x, t_x, T). */
Datum
paretonbd_p_alive(PG_FUNCTION_ARGS)
{
	double		p[4],
				t_x,
				T;
	int32		x;

	ReadParamsArg(fcinfo, 0, 4, p, "Pareto/NBD");
	ReadCustomer(fcinfo, 1, &x, &t_x, &T);
	PG_RETURN_FLOAT8(ParetoPAlive(GetFnCache(fcinfo), 0, p, x, t_x, T));
}

PG_FUNCTION_INFO_V1(paretonbd_expected_purchases);
/* crm.expected_purchases(crm.paretonbd_params, t, x, t_x, T). */
Datum
paretonbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		p[4],
				t,
				t_x,
				T;
	int32		x;

	ReadParamsArg(fcinfo, 0, 4, p, "Pareto/NBD");
	t = PG_GETARG_FLOAT8(1);
	CheckHorizon(t);
	ReadCustomer(fcinfo, 2, &x, &t_x, &T);
	PG_RETURN_FLOAT8(ParetoPAlive(GetFnCache(fcinfo), 0, p, x, t_x, T) * ParetoExpectedAlive(p, x, T, t));
}

/* Gamma-Gamma: expected spend per purchase; x = 0 gives the population mean. */
static double
GgExpectedSpend(const double *p, int32 x, double m)
{
	if (p[1] <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Gamma-Gamma q = %g gives no finite expected spend", p[1]),
				 errdetail("The mean spend of the model is p v / (q - 1), finite only when q > 1."),
				 errhint("The spend data is too heavy-tailed for the model; cap outliers and refit.")));
	if (x == 0)
		return p[0] * p[2] / (p[1] - 1);
	return p[0] * (p[2] + x * m) / (p[0] * x + p[1] - 1);
}

/* Reads (x, mean_spend) of a non-strict function; false when the answer is NULL. */
static bool
ReadSpend(FunctionCallInfo fcinfo, int first, int32 *x, double *m)
{
	if (PG_ARGISNULL(first))
		return false;
	*x = PG_GETARG_INT32(first);
	if (*x > 0 && PG_ARGISNULL(first + 1))
		return false;
	*m = *x > 0 ? PG_GETARG_FLOAT8(first + 1) : 0;
	CheckSpend(*x, *m);
	return true;
}

PG_FUNCTION_INFO_V1(gamma_gamma_expected_spend);
/* crm.expected_spend(crm.gamma_gamma_params, x, mean_spend). */
Datum
gamma_gamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		p[3],
				m = 0;
	int32		x = 0;

	if (PG_ARGISNULL(0) || !ReadSpend(fcinfo, 1, &x, &m))
		PG_RETURN_NULL();
	ReadParamsArg(fcinfo, 0, 3, p, "Gamma-Gamma");
	PG_RETURN_FLOAT8(GgExpectedSpend(p, x, m));
}

/*
 * crm.clv(model params, gamma-gamma params, x, t_x, T, mean_spend, horizon,
 * discount_rate): expected purchases in each whole time unit up to the
 * horizon, times the expected spend, discounted by (1 + rate)^-k at the end
 * of unit k (the last, partial unit at the horizon).
 */
static Datum
ClvCommon(FunctionCallInfo fcinfo, bool pareto)
{
	double		p[4],
				gg[3],
				t_x,
				T,
				m = 0,
				horizon,
				rate,
				spend,
				pa,
				prev = 0,
				total = 0;
	int32		x,
				xs = 0;
	int64		k,
				K;
	int			i;
	FnCache    *c;
	MemoSlot   *slot;
	bool		hit;

	for (i = 0; i < 8; i++)
		if (PG_ARGISNULL(i) && i != 5)
			PG_RETURN_NULL();
	ReadParamsArg(fcinfo, 0, 4, p, pareto ? "Pareto/NBD" : "BG/NBD");
	ReadParamsArg(fcinfo, 1, 3, gg, "Gamma-Gamma");
	ReadCustomer(fcinfo, 2, &x, &t_x, &T);
	xs = x;
	if (x > 0)
	{
		if (PG_ARGISNULL(5))
			PG_RETURN_NULL();
		m = PG_GETARG_FLOAT8(5);
	}
	CheckSpend(xs, m);
	horizon = PG_GETARG_FLOAT8(6);
	rate = PG_GETARG_FLOAT8(7);
	CheckHorizon(horizon);
	if (!(rate > -1) || isinf(rate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid discount rate %g", rate),
				 errdetail("The rate per time unit must be above -1 and finite."),
				 errhint("Pass for example 0.0018 for about 10%% a year when the unit is a week.")));
	if (horizon > 1e6)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("horizon %g is too long", horizon),
				 errdetail("The horizon is summed one time unit at a time, at most a million units."),
				 errhint("Fit the model in a longer time unit.")));
	spend = GgExpectedSpend(gg, xs, m);
	c = GetFnCache(fcinfo);
	MemoDependsOn(c, horizon, rate);
	pa = pareto ? ParetoPAlive(c, 1, p, x, t_x, T) : BgPAliveCached(c, p, x, t_x, T);
	/* the discounted sum depends on (x, T) only */
	slot = MemoFind(c, 0, x, T, 0, &hit);
	if (hit)
		total = slot->v;
	else
	{
		K = (int64) ceil(horizon);
		for (k = 1; k <= K; k++)
		{
			double		tk = Min((double) k, horizon);
			double		e = pareto ? ParetoExpectedAlive(p, x, T, tk) : BgExpectedAlive(p, x, T, tk);

			total += (e - prev) * pow(1 + rate, -tk);
			prev = e;
		}
		MemoStore(c, slot, x, T, 0, total);
	}
	PG_RETURN_FLOAT8(pa * total * spend);
}

PG_FUNCTION_INFO_V1(bgnbd_clv);
/* crm.clv(crm.bgnbd_params, crm.gamma_gamma_params, x, t_x, T, mean_spend, horizon, discount_rate). */
Datum
bgnbd_clv(PG_FUNCTION_ARGS)
{
	return ClvCommon(fcinfo, false);
}

PG_FUNCTION_INFO_V1(paretonbd_clv);
/* crm.clv(crm.paretonbd_params, crm.gamma_gamma_params, x, t_x, T, mean_spend, horizon, discount_rate). */
Datum
paretonbd_clv(PG_FUNCTION_ARGS)
{
	return ClvCommon(fcinfo, true);
}

PG_FUNCTION_INFO_V1(clv_log_h);
/* crm.clv_log_h(a, b, y): log of int_0^1 t^(a-1) (1 - y t)^-b dt, exposed for tests. */
Datum
clv_log_h(PG_FUNCTION_ARGS)
{
	double		a = PG_GETARG_FLOAT8(0),
				b = PG_GETARG_FLOAT8(1),
				y = PG_GETARG_FLOAT8(2);

	if (!(a > 0) || !(b > 0) || !(y < 1) || isinf(a) || isinf(b) || isinf(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("clv_log_h needs a > 0, b > 0 and y < 1"),
				 errdetail("Got a = %g, b = %g, y = %g.", a, b, y),
				 errhint("The integral diverges otherwise.")));
	PG_RETURN_FLOAT8(LogH(a, b, y));
}
