/*
 * tagset.c: the crm.tagset type, a sorted, de-duplicated set of short labels
 * ("vip", "region:north"), with set operators, btree/hash support, a GIN
 * operator class, a parallel-safe union aggregate and the predicate check of
 * rule-based tagging.
 *
 * On-disk form (after the varlena header, byte-aligned, so short headers are
 * used for small sets):
 *   byte 0      format version (TAGSET_VERSION)
 *   bytes 1-2   number of labels, little endian
 *   then        for each label in byte order: one length byte, the bytes
 * Labels are trimmed, ASCII case-folded and validated on the way in, so equal
 * sets have identical bytes: equality and hashing work on the raw payload.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/gin.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#define TAGSET_VERSION		1
#define TAGSET_HEADER		3		/* version byte and 16-bit count */
#define TAGSET_MAX_LABEL	64		/* bytes per label */
#define TAGSET_MAX_LABELS	1000	/* labels per set */

/* GIN strategies, numbered as core's array opclass numbers them. */
#define TagsetOverlapStrategy	1
#define TagsetContainsStrategy	2
#define TagsetContainedStrategy 3
#define TagsetEqualStrategy		4
#define TagsetHasLabelStrategy	5	/* tagset ? text */

/* One label: a pointer into a payload or a buffer, and its length. */
typedef struct TagLabel
{
	const char *s;
	int			len;
} TagLabel;

/* A read position in a tagset payload. */
typedef struct TagIter
{
	const unsigned char *p;
	const unsigned char *end;
	int			remaining;
} TagIter;

#define PG_GETARG_TAGSET(n) ((struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(n)))

/* ---------------------------------------------------------------------------
 * Payload access
 * ---------------------------------------------------------------------------
 */

/* Number of labels stored in a tagset. */
static inline int
TagsetCount(struct varlena *t)
{
	const unsigned char *d = (const unsigned char *) VARDATA_ANY(t);

	return d[1] | (d[2] << 8);
}

/* Checks the header of a stored tagset (can't-happen corruption only). */
static inline void
CheckTagsetHeader(struct varlena *t)
{
	if (VARSIZE_ANY_EXHDR(t) < TAGSET_HEADER ||
		((const unsigned char *) VARDATA_ANY(t))[0] != TAGSET_VERSION)
		elog(ERROR, "corrupt crm.tagset value");
}

/* Starts iterating over the labels of a tagset. */
static inline void
TagIterInit(TagIter *it, struct varlena *t)
{
	CheckTagsetHeader(t);
	it->p = (const unsigned char *) VARDATA_ANY(t) + TAGSET_HEADER;
	it->end = (const unsigned char *) VARDATA_ANY(t) + VARSIZE_ANY_EXHDR(t);
	it->remaining = TagsetCount(t);
}

/* Fetches the next label; false at the end. */
static inline bool
TagIterNext(TagIter *it, TagLabel *l)
{
	if (it->remaining <= 0)
		return false;
	if (it->p >= it->end || it->p + 1 + *it->p > it->end)
		elog(ERROR, "corrupt crm.tagset value");
	l->len = *it->p;
	l->s = (const char *) it->p + 1;
	it->p += 1 + l->len;
	it->remaining--;
	return true;
}

/* Orders two labels by their bytes, a shorter prefix first. */
static inline int
LabelCmp(const TagLabel *a, const TagLabel *b)
{
	int			r = memcmp(a->s, b->s, Min(a->len, b->len));

	if (r != 0)
		return r;
	return (a->len > b->len) - (a->len < b->len);
}

/* qsort comparator over TagLabel. */
static int
LabelCmpQsort(const void *a, const void *b)
{
	return LabelCmp((const TagLabel *) a, (const TagLabel *) b);
}

/* Builds a tagset from labels that are already sorted and unique. */
static struct varlena *
TagsetFromSorted(const TagLabel *labels, int n)
{
	Size		size = VARHDRSZ + TAGSET_HEADER;
	struct varlena *result;
	unsigned char *p;
	int			i;

	for (i = 0; i < n; i++)
		size += 1 + labels[i].len;
	result = palloc(size);
	SET_VARSIZE(result, size);
	p = (unsigned char *) VARDATA(result);
	p[0] = TAGSET_VERSION;
	p[1] = n & 0xFF;
	p[2] = (n >> 8) & 0xFF;
	p += TAGSET_HEADER;
	for (i = 0; i < n; i++)
	{
		*p++ = (unsigned char) labels[i].len;
		memcpy(p, labels[i].s, labels[i].len);
		p += labels[i].len;
	}
	return result;
}

/* Checks the number of labels in a set being built. */
static inline void
CheckLabelCount(int n)
{
	if (n > TAGSET_MAX_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("crm.tagset cannot hold more than %d labels", TAGSET_MAX_LABELS),
				 errdetail("The set would hold %d labels.", n),
				 errhint("Keep a customer's labels to a few dozen; use a table for open-ended lists.")));
}

/* Sorts, de-duplicates and serialises labels (the array is reordered). */
static struct varlena *
TagsetFromLabels(TagLabel *labels, int n)
{
	int			i,
				out = 0;

	if (n > 1)
		qsort(labels, n, sizeof(TagLabel), LabelCmpQsort);
	for (i = 0; i < n; i++)
		if (out == 0 || LabelCmp(&labels[out - 1], &labels[i]) != 0)
			labels[out++] = labels[i];
	CheckLabelCount(out);
	return TagsetFromSorted(labels, out);
}

/* ---------------------------------------------------------------------------
 * Label validation, shared by text input, binary input, casts and operators
 * ---------------------------------------------------------------------------
 */

/* Raises the error for an invalid label. */
static void
pg_attribute_noreturn()
LabelError(const char *label, int len, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid label for type crm.tagset: \"%s\"", pnstrdup(label, len)),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

/* Whether a byte is trimmed from both ends of a label. */
static inline bool
IsTrimSpace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Normalises one label of len bytes into a new palloc'd buffer: trims white
 * space, folds ASCII letters to lower case and checks length, characters and
 * the optional "namespace:" prefix.
 */
static TagLabel
NormalizeLabel(const char *str, int len)
{
	const char *start = str;
	const char *end = str + len;
	TagLabel	l;
	char	   *buf;
	const char *colon;
	int			i;

	while (start < end && IsTrimSpace((unsigned char) *start))
		start++;
	while (end > start && IsTrimSpace((unsigned char) end[-1]))
		end--;
	len = (int) (end - start);
	if (len == 0)
		LabelError(str, (int) (end - str), "A label must not be empty.",
				   "Remove the empty label, or write a label such as vip or region:north.");
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) start[i];

		if (c < 0x20 || c == 0x7F)
			LabelError(start, len, "Labels must not contain control characters.",
					   "Remove tabs, line breaks and other control characters from the label.");
		if (c == ',' || c == '{' || c == '}' || c == '"' || c == '\\')
			LabelError(start, len, "Labels must not contain the characters , { } \" or \\.",
					   "Use letters, digits, spaces and punctuation such as : _ - . / in labels; write several labels in braces, such as {vip,region:north}.");
	}
	if (len > TAGSET_MAX_LABEL)
		LabelError(start, len, psprintf("The label is %d bytes long; the limit is %d.", len, TAGSET_MAX_LABEL),
				   "Use a shorter label.");
	colon = memchr(start, ':', len);
	if (colon == start)
		LabelError(start, len, "The namespace before the colon is empty.",
				   "Write a namespaced label as namespace:name, such as region:north, or drop the colon.");
	if (colon == end - 1)
		LabelError(start, len, "The name after the colon is empty.",
				   "Write a namespaced label as namespace:name, such as region:north.");
	if (pg_verifymbstr(start, len, true) == false)
		LabelError(start, len, "The label is not valid in the database encoding.",
				   "Send labels in the client encoding.");
	buf = palloc(len);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) start[i];

		buf[i] = (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : (char) c;
	}
	l.s = buf;
	l.len = len;
	return l;
}

/* Grows a label array when full. */
static inline TagLabel *
EnsureLabelSpace(TagLabel *labels, int n, int *cap)
{
	if (n < *cap)
		return labels;
	*cap *= 2;
	return repalloc(labels, sizeof(TagLabel) * *cap);
}

/* ---------------------------------------------------------------------------
 * Input and output
 * ---------------------------------------------------------------------------
 */

/* Raises the error for malformed text input. */
static void
pg_attribute_noreturn()
SyntaxError(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.tagset: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("Write a set of labels in braces, separated by commas, such as {vip,region:north}; {} is the empty set; a single label may be written without braces.")));
}

PG_FUNCTION_INFO_V1(tagset_in);
/* Text input: {label,label,...}, or one label without braces. */
Datum
tagset_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	int			cap = 8,
				n = 0;
	TagLabel   *labels = palloc(sizeof(TagLabel) * cap);

	while (IsTrimSpace((unsigned char) *p))
		p++;
	if (*p != '{')
	{
		/* A single label may be written without braces: 'vip'. */
		labels[0] = NormalizeLabel(str, (int) strlen(str));
		PG_RETURN_POINTER(TagsetFromSorted(labels, 1));
	}
	p++;
	while (IsTrimSpace((unsigned char) *p))
		p++;
	if (*p == '}')
		p++;
	else
	{
		for (;;)
		{
			const char *start = p;

			while (*p != '\0' && *p != ',' && *p != '}')
			{
				if (*p == '{' || *p == '"' || *p == '\\')
					SyntaxError(str, "Labels must not contain the characters { \" or \\.");
				p++;
			}
			if (*p == '\0')
				SyntaxError(str, "The closing \"}\" is missing.");
			labels = EnsureLabelSpace(labels, n, &cap);
			labels[n++] = NormalizeLabel(start, (int) (p - start));
			if (*p++ == '}')
				break;
		}
	}
	while (IsTrimSpace((unsigned char) *p))
		p++;
	if (*p != '\0')
		SyntaxError(str, "There is text after the closing \"}\".");
	CheckLabelCount(n);
	PG_RETURN_POINTER(TagsetFromLabels(labels, n));
}

PG_FUNCTION_INFO_V1(tagset_out);
/* Text output: {label,label,...} in sorted order. */
Datum
tagset_out(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);
	StringInfoData buf;
	TagIter		it;
	TagLabel	l;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	TagIterInit(&it, t);
	while (TagIterNext(&it, &l))
	{
		if (!first)
			appendStringInfoChar(&buf, ',');
		appendBinaryStringInfo(&buf, l.s, l.len);
		first = false;
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(tagset_recv);
/* Binary input: int32 count, then per label int32 length and text; validated like text input. */
Datum
tagset_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			n = pq_getmsgint(buf, 4);
	TagLabel   *labels;
	int			i;

	if (n < 0 || n > TAGSET_MAX_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type crm.tagset"),
				 errdetail("The label count %d is outside 0 to %d.", n, TAGSET_MAX_LABELS),
				 errhint("Send an int32 count followed by each label as an int32 length and its bytes.")));
	labels = palloc(sizeof(TagLabel) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		int			len = pq_getmsgint(buf, 4);
		char	   *s;

		if (len < 0 || len > buf->len - buf->cursor)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary value for type crm.tagset"),
					 errdetail("Label %d has an invalid length %d.", i + 1, len),
					 errhint("Send an int32 count followed by each label as an int32 length and its bytes.")));
		s = pq_getmsgtext(buf, len, &len);
		labels[i] = NormalizeLabel(s, len);
	}
	pq_getmsgend(buf);
	PG_RETURN_POINTER(TagsetFromLabels(labels, n));
}

PG_FUNCTION_INFO_V1(tagset_send);
/* Binary output: int32 count, then per label int32 length and text. */
Datum
tagset_send(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);
	StringInfoData buf;
	TagIter		it;
	TagLabel	l;

	TagIterInit(&it, t);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, TagsetCount(t));
	while (TagIterNext(&it, &l))
	{
		pq_sendint32(&buf, l.len);
		pq_sendtext(&buf, l.s, l.len);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------------
 * Casts and accessors
 * ---------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(tagset_from_array);
/* Cast from text[]: each element is one label; NULL elements are errors. */
Datum
tagset_from_array(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	TagLabel   *labels;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot convert a multidimensional array to crm.tagset"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Pass a one-dimensional array of labels.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	CheckLabelCount(n);
	labels = palloc(sizeof(TagLabel) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		text	   *e;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a crm.tagset label must not be NULL"),
					 errdetail("Element %d of the array is NULL.", i + 1),
					 errhint("Remove NULL elements, for example with array_remove(labels, NULL).")));
		e = DatumGetTextPP(elems[i]);
		labels[i] = NormalizeLabel(VARDATA_ANY(e), VARSIZE_ANY_EXHDR(e));
	}
	PG_RETURN_POINTER(TagsetFromLabels(labels, n));
}

PG_FUNCTION_INFO_V1(tagset_to_array);
/* Cast to text[]: the labels in sorted order. */
Datum
tagset_to_array(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);
	int			n = TagsetCount(t);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	TagIter		it;
	TagLabel	l;
	int			i = 0;

	TagIterInit(&it, t);
	while (TagIterNext(&it, &l))
		elems[i++] = PointerGetDatum(cstring_to_text_with_len(l.s, l.len));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(tagset_count);
/* Number of labels in a set. */
Datum
tagset_count(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);

	CheckTagsetHeader(t);
	PG_RETURN_INT32(TagsetCount(t));
}

PG_FUNCTION_INFO_V1(tagset_in_namespace);
/* The labels of a set whose namespace (the part before the first colon) is the given one. */
Datum
tagset_in_namespace(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);
	text	   *nst = PG_GETARG_TEXT_PP(1);
	const char *ns = VARDATA_ANY(nst);
	int			nslen = VARSIZE_ANY_EXHDR(nst);
	TagLabel   *keep = palloc(sizeof(TagLabel) * Max(TagsetCount(t), 1));
	TagLabel	nsl;
	TagIter		it;
	TagLabel	l;
	int			n = 0;

	/* Accept "region" and "region:"; normalise like a label. */
	if (nslen > 0 && ns[nslen - 1] == ':')
		nslen--;
	if (nslen > 0 && memchr(ns, ':', nslen) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid namespace \"%s\"", text_to_cstring(nst)),
				 errdetail("A namespace is the part of a label before its first colon and contains no colon itself."),
				 errhint("Pass the namespace alone, such as region.")));
	nsl = NormalizeLabel(ns, nslen);
	TagIterInit(&it, t);
	while (TagIterNext(&it, &l))
		if (l.len > nsl.len && l.s[nsl.len] == ':' && memcmp(l.s, nsl.s, nsl.len) == 0)
			keep[n++] = l;
	PG_RETURN_POINTER(TagsetFromSorted(keep, n));
}

/* ---------------------------------------------------------------------------
 * Set predicates: merge scans over the sorted payloads, no allocation
 * ---------------------------------------------------------------------------
 */

/* Whether every label of b is in a. */
static bool
TagsetContains(struct varlena *a, struct varlena *b)
{
	TagIter		ia,
				ib;
	TagLabel	la,
				lb;

	CheckTagsetHeader(a);
	CheckTagsetHeader(b);
	if (TagsetCount(b) > TagsetCount(a))
		return false;
	TagIterInit(&ia, a);
	TagIterInit(&ib, b);
	if (!TagIterNext(&ib, &lb))
		return true;
	while (TagIterNext(&ia, &la))
	{
		int			c = LabelCmp(&la, &lb);

		if (c > 0)
			return false;
		if (c == 0 && !TagIterNext(&ib, &lb))
			return true;
	}
	return false;
}

/* Whether a and b share at least one label. */
static bool
TagsetOverlaps(struct varlena *a, struct varlena *b)
{
	TagIter		ia,
				ib;
	TagLabel	la,
				lb;
	bool		more;

	TagIterInit(&ia, a);
	TagIterInit(&ib, b);
	if (!TagIterNext(&ia, &la) || !TagIterNext(&ib, &lb))
		return false;
	for (;;)
	{
		int			c = LabelCmp(&la, &lb);

		if (c == 0)
			return true;
		more = c < 0 ? TagIterNext(&ia, &la) : TagIterNext(&ib, &lb);
		if (!more)
			return false;
	}
}

/* Three-way comparison: label by label, a prefix set first. */
static int
TagsetCompare(struct varlena *a, struct varlena *b)
{
	TagIter		ia,
				ib;
	TagLabel	la,
				lb;

	TagIterInit(&ia, a);
	TagIterInit(&ib, b);
	for (;;)
	{
		bool		ma = TagIterNext(&ia, &la);
		bool		mb = TagIterNext(&ib, &lb);
		int			c;

		if (!ma || !mb)
			return (int) ma - (int) mb;
		c = LabelCmp(&la, &lb);
		if (c != 0)
			return c;
	}
}

/* Equality on the canonical bytes. */
static bool
TagsetEquals(struct varlena *a, struct varlena *b)
{
	Size		la = VARSIZE_ANY_EXHDR(a);

	return la == VARSIZE_ANY_EXHDR(b) && memcmp(VARDATA_ANY(a), VARDATA_ANY(b), la) == 0;
}

PG_FUNCTION_INFO_V1(tagset_contains);
/* a @> b: a holds every label of b. */
Datum
tagset_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TagsetContains(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1)));
}

PG_FUNCTION_INFO_V1(tagset_contained);
/* a <@ b: every label of a is in b. */
Datum
tagset_contained(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TagsetContains(PG_GETARG_TAGSET(1), PG_GETARG_TAGSET(0)));
}

PG_FUNCTION_INFO_V1(tagset_overlap);
/* a && b: the sets share a label. */
Datum
tagset_overlap(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TagsetOverlaps(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1)));
}

PG_FUNCTION_INFO_V1(tagset_cmp);
/* btree support: three-way comparison. */
Datum
tagset_cmp(PG_FUNCTION_ARGS)
{
	int			c = TagsetCompare(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1));

	PG_RETURN_INT32((c > 0) - (c < 0));
}

PG_FUNCTION_INFO_V1(tagset_eq);
/* a = b: the same labels. */
Datum
tagset_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TagsetEquals(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1)));
}

PG_FUNCTION_INFO_V1(tagset_ne);
/* a <> b: not the same labels. */
Datum
tagset_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!TagsetEquals(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1)));
}

#define TAGSET_CMP_FUNC(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(TagsetCompare(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1)) op 0); \
}

TAGSET_CMP_FUNC(tagset_lt, <)
TAGSET_CMP_FUNC(tagset_le, <=)
TAGSET_CMP_FUNC(tagset_gt, >)
TAGSET_CMP_FUNC(tagset_ge, >=)

PG_FUNCTION_INFO_V1(tagset_hash);
/* hash support: hash of the canonical bytes. */
Datum
tagset_hash(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);

	return hash_any((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

PG_FUNCTION_INFO_V1(tagset_hash_extended);
/* hash support: 64-bit seeded hash of the canonical bytes. */
Datum
tagset_hash_extended(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);

	return hash_any_extended((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
							 PG_GETARG_INT64(1));
}

/* ---------------------------------------------------------------------------
 * Set algebra
 * ---------------------------------------------------------------------------
 */

typedef enum TagSetOp
{
	TAGOP_UNION,
	TAGOP_INTERSECT,
	TAGOP_MINUS
} TagSetOp;

/* Merges two sorted sets into a new one. */
static struct varlena *
TagsetCombine(struct varlena *a, struct varlena *b, TagSetOp op)
{
	TagIter		ia,
				ib;
	TagLabel	la,
				lb;
	TagLabel   *out;
	int			n = 0;
	bool		ma,
				mb;

	TagIterInit(&ia, a);
	TagIterInit(&ib, b);
	out = palloc(sizeof(TagLabel) * Max(TagsetCount(a) + TagsetCount(b), 1));
	ma = TagIterNext(&ia, &la);
	mb = TagIterNext(&ib, &lb);
	while (ma || mb)
	{
		int			c = !ma ? 1 : !mb ? -1 : LabelCmp(&la, &lb);

		if (c < 0)
		{
			if (op != TAGOP_INTERSECT)
				out[n++] = la;
			ma = TagIterNext(&ia, &la);
		}
		else if (c > 0)
		{
			if (op == TAGOP_UNION)
				out[n++] = lb;
			mb = TagIterNext(&ib, &lb);
		}
		else
		{
			if (op != TAGOP_MINUS)
				out[n++] = la;
			ma = TagIterNext(&ia, &la);
			mb = TagIterNext(&ib, &lb);
		}
	}
	CheckLabelCount(n);
	return TagsetFromSorted(out, n);
}

/* A one-label set from a text argument, validated like any label. */
static struct varlena *
TagsetFromText(text *t)
{
	TagLabel	l = NormalizeLabel(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

	return TagsetFromSorted(&l, 1);
}

PG_FUNCTION_INFO_V1(tagset_union);
/* a | b and a + b: labels in either set. */
Datum
tagset_union(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TagsetCombine(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1), TAGOP_UNION));
}

PG_FUNCTION_INFO_V1(tagset_intersect);
/* a & b: labels in both sets. */
Datum
tagset_intersect(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TagsetCombine(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1), TAGOP_INTERSECT));
}

PG_FUNCTION_INFO_V1(tagset_minus);
/* a - b: labels of a that are not in b. */
Datum
tagset_minus(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TagsetCombine(PG_GETARG_TAGSET(0), PG_GETARG_TAGSET(1), TAGOP_MINUS));
}

PG_FUNCTION_INFO_V1(tagset_add_label);
/* a + 'label': the set with one more label. */
Datum
tagset_add_label(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TagsetCombine(PG_GETARG_TAGSET(0), TagsetFromText(PG_GETARG_TEXT_PP(1)), TAGOP_UNION));
}

PG_FUNCTION_INFO_V1(tagset_remove_label);
/* a - 'label': the set without that label. */
Datum
tagset_remove_label(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(TagsetCombine(PG_GETARG_TAGSET(0), TagsetFromText(PG_GETARG_TEXT_PP(1)), TAGOP_MINUS));
}

PG_FUNCTION_INFO_V1(tagset_has_label);
/* a ? 'label': the set holds that label. */
Datum
tagset_has_label(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TagsetContains(PG_GETARG_TAGSET(0), TagsetFromText(PG_GETARG_TEXT_PP(1))));
}

PG_FUNCTION_INFO_V1(tagset_union_trans);
/*
 * Transition and combine function of crm.tag_union: the union of the state
 * and a value.  When the value adds nothing (the common case once the
 * vocabulary has been seen) the state itself is returned unchanged, so no
 * copy is made; otherwise the merged set replaces it.
 */
Datum
tagset_union_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	struct varlena *state;
	struct varlena *value;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "tagset_union_trans called in non-aggregate context");
	state = PG_GETARG_TAGSET(0);
	value = PG_GETARG_TAGSET(1);
	if (TagsetContains(state, value))
	{
		if (state == (struct varlena *) PG_GETARG_POINTER(0))
			PG_RETURN_DATUM(PG_GETARG_DATUM(0));
		PG_RETURN_POINTER(state);
	}
	PG_RETURN_POINTER(TagsetCombine(state, value, TAGOP_UNION));
}

/* ---------------------------------------------------------------------------
 * GIN operator class: keys are the labels, as text
 * ---------------------------------------------------------------------------
 */

/* Makes the GIN keys (text datums) of a set. */
static Datum *
TagsetGinKeys(struct varlena *t, int32 *nkeys)
{
	int			n = TagsetCount(t);
	Datum	   *keys = palloc(sizeof(Datum) * Max(n, 1));
	TagIter		it;
	TagLabel	l;
	int			i = 0;

	TagIterInit(&it, t);
	while (TagIterNext(&it, &l))
		keys[i++] = PointerGetDatum(cstring_to_text_with_len(l.s, l.len));
	*nkeys = i;
	return keys;
}

PG_FUNCTION_INFO_V1(tagset_gin_compare);
/* GIN support 1: orders keys bytewise, as labels are ordered in a set. */
Datum
tagset_gin_compare(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	TagLabel	la = {VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a)};
	TagLabel	lb = {VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)};

	PG_RETURN_INT32(LabelCmp(&la, &lb));
}

PG_FUNCTION_INFO_V1(tagset_gin_extract_value);
/* GIN support 2: the labels of an indexed set. */
Datum
tagset_gin_extract_value(PG_FUNCTION_ARGS)
{
	struct varlena *t = PG_GETARG_TAGSET(0);
	int32	   *nkeys = (int32 *) PG_GETARG_POINTER(1);

	PG_RETURN_POINTER(TagsetGinKeys(t, nkeys));
}

PG_FUNCTION_INFO_V1(tagset_gin_extract_query);
/* GIN support 3: the labels of a query (a set, or one label for ?) and the search mode. */
Datum
tagset_gin_extract_query(PG_FUNCTION_ARGS)
{
	int32	   *nkeys = (int32 *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = PG_GETARG_UINT16(2);
	int32	   *searchMode = (int32 *) PG_GETARG_POINTER(6);
	Datum	   *keys;

	if (strategy == TagsetHasLabelStrategy)
	{
		/* the query is a text label, normalised as the operator does */
		text	   *t = PG_GETARG_TEXT_PP(0);
		TagLabel	l = NormalizeLabel(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		keys = palloc(sizeof(Datum));
		keys[0] = PointerGetDatum(cstring_to_text_with_len(l.s, l.len));
		*nkeys = 1;
		*searchMode = GIN_SEARCH_MODE_DEFAULT;
		PG_RETURN_POINTER(keys);
	}
	keys = TagsetGinKeys(PG_GETARG_TAGSET(0), nkeys);
	switch (strategy)
	{
		case TagsetOverlapStrategy:
			/* no keys: nothing overlaps the empty set */
			*searchMode = GIN_SEARCH_MODE_DEFAULT;
			break;
		case TagsetContainsStrategy:
			/* every set contains the empty set */
			*searchMode = *nkeys > 0 ? GIN_SEARCH_MODE_DEFAULT : GIN_SEARCH_MODE_ALL;
			break;
		case TagsetContainedStrategy:
			/* the empty set is contained in every set */
			*searchMode = GIN_SEARCH_MODE_INCLUDE_EMPTY;
			break;
		case TagsetEqualStrategy:
			*searchMode = *nkeys > 0 ? GIN_SEARCH_MODE_DEFAULT : GIN_SEARCH_MODE_INCLUDE_EMPTY;
			break;
		default:
			elog(ERROR, "tagset_gin_extract_query: unknown strategy number %d", strategy);
	}
	PG_RETURN_POINTER(keys);
}

PG_FUNCTION_INFO_V1(tagset_gin_consistent);
/* GIN support 4: whether an item with these keys can match. */
Datum
tagset_gin_consistent(PG_FUNCTION_ARGS)
{
	bool	   *check = (bool *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);
	int32		i;

	switch (strategy)
	{
		case TagsetOverlapStrategy:
			*recheck = false;
			for (i = 0; i < nkeys; i++)
				if (check[i])
					PG_RETURN_BOOL(true);
			PG_RETURN_BOOL(false);
		case TagsetContainsStrategy:
		case TagsetHasLabelStrategy:
			*recheck = false;
			for (i = 0; i < nkeys; i++)
				if (!check[i])
					PG_RETURN_BOOL(false);
			PG_RETURN_BOOL(true);
		case TagsetContainedStrategy:
			/* only the heap value tells whether it has other labels */
			*recheck = true;
			PG_RETURN_BOOL(true);
		case TagsetEqualStrategy:
			*recheck = true;
			for (i = 0; i < nkeys; i++)
				if (!check[i])
					PG_RETURN_BOOL(false);
			PG_RETURN_BOOL(true);
		default:
			elog(ERROR, "tagset_gin_consistent: unknown strategy number %d", strategy);
	}
	PG_RETURN_BOOL(false);
}

PG_FUNCTION_INFO_V1(tagset_gin_triconsistent);
/* GIN support 6: ternary consistency for the fast scan. */
Datum
tagset_gin_triconsistent(PG_FUNCTION_ARGS)
{
	GinTernaryValue *check = (GinTernaryValue *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	GinTernaryValue res;
	int32		i;

	switch (strategy)
	{
		case TagsetOverlapStrategy:
			res = GIN_FALSE;
			for (i = 0; i < nkeys; i++)
			{
				if (check[i] == GIN_TRUE)
					PG_RETURN_GIN_TERNARY_VALUE(GIN_TRUE);
				if (check[i] == GIN_MAYBE)
					res = GIN_MAYBE;
			}
			break;
		case TagsetContainsStrategy:
		case TagsetHasLabelStrategy:
			res = GIN_TRUE;
			for (i = 0; i < nkeys; i++)
			{
				if (check[i] == GIN_FALSE)
					PG_RETURN_GIN_TERNARY_VALUE(GIN_FALSE);
				if (check[i] == GIN_MAYBE)
					res = GIN_MAYBE;
			}
			break;
		case TagsetContainedStrategy:
			res = GIN_MAYBE;
			break;
		case TagsetEqualStrategy:
			res = GIN_MAYBE;
			for (i = 0; i < nkeys; i++)
				if (check[i] == GIN_FALSE)
					PG_RETURN_GIN_TERNARY_VALUE(GIN_FALSE);
			break;
		default:
			elog(ERROR, "tagset_gin_triconsistent: unknown strategy number %d", strategy);
	}
	PG_RETURN_GIN_TERNARY_VALUE(res);
}

/* ---------------------------------------------------------------------------
 * Rule predicates
 * ---------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(tag_rule_parse_predicate);
/*
 * Checks that a tag rule's predicate is exactly one SQL expression: parsed as
 * "SELECT <predicate>", it must give a single plain SELECT with one target
 * and no other clause, so it cannot close a statement and start another, and
 * it cannot add FROM, WHERE or any other clause of its own.  (Whether its
 * columns exist and its type is boolean is checked by planning it against
 * crm.customer_metrics, in SQL.)
 */
Datum
tag_rule_parse_predicate(PG_FUNCTION_ARGS)
{
	char	   *pred = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *sql = psprintf("SELECT %s", pred);
	List	   *stmts;
	RawStmt    *raw;
	SelectStmt *sel;
	const char *problem = NULL;

	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(stmts) != 1)
		problem = "The predicate must be one expression, not several statements.";
	else
	{
		raw = linitial_node(RawStmt, stmts);
		if (!IsA(raw->stmt, SelectStmt))
			problem = "The predicate must be one expression.";
		else
		{
			sel = (SelectStmt *) raw->stmt;
			if (sel->op != SETOP_NONE || sel->valuesLists != NIL)
				problem = "The predicate must be one expression, not a set operation.";
			else if (list_length(sel->targetList) != 1)
				problem = "The predicate must be one expression, not a list.";
			else if (sel->fromClause != NIL || sel->whereClause != NULL ||
					 sel->groupClause != NIL || sel->havingClause != NULL ||
					 sel->windowClause != NIL || sel->sortClause != NIL ||
					 sel->limitCount != NULL || sel->limitOffset != NULL ||
					 sel->lockingClause != NIL || sel->withClause != NULL ||
					 sel->intoClause != NULL || sel->distinctClause != NIL)
				problem = "The predicate must be one expression without clauses such as FROM, WHERE or ORDER BY.";
			else if (((ResTarget *) linitial(sel->targetList))->name != NULL)
				problem = "The predicate must be one expression without an alias.";
		}
	}
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("tag rule predicate is not one expression"),
				 errdetail("%s", problem),
				 errhint("Write a boolean expression over the columns of crm.customer_metrics, such as total_spend > 1000 AND region = 'north'.")));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * Statistics: ANALYZE keeps, besides the usual statistics of whole sets, the
 * frequency of the most common labels (a STATISTIC_KIND_MCELEM slot, shown
 * in pg_stats.most_common_elems); the restriction estimators of @>, <@, &&
 * and ? use them instead of a constant guess.
 * ---------------------------------------------------------------------------
 */

/* Default selectivity when there are no statistics (as core's contsel). */
#define TAGSET_DEFAULT_SEL 0.001

typedef struct TagsetAnalyzeExtra
{
	AnalyzeAttrComputeStatsFunc std_compute_stats;
	void	   *std_extra_data;
} TagsetAnalyzeExtra;

/* A label seen in the sample and the number of rows holding it. */
typedef struct LabelCount
{
	TagLabel	label;
	int			count;
} LabelCount;

/* qsort: by count, most frequent first; ties by label. */
static int
LabelCountCmp(const void *a, const void *b)
{
	const LabelCount *x = (const LabelCount *) a;
	const LabelCount *y = (const LabelCount *) b;

	if (x->count != y->count)
		return (x->count < y->count) ? 1 : -1;
	return LabelCmp(&x->label, &y->label);
}

/* qsort: by label. */
static int
LabelCountLabelCmp(const void *a, const void *b)
{
	return LabelCmp(&((const LabelCount *) a)->label, &((const LabelCount *) b)->label);
}

/* An entry of the label-counting hash table (the key is the NUL-terminated label). */
typedef struct LabelHashEntry
{
	char		label[TAGSET_MAX_LABEL + 1];
	int			count;
	int			delta;			/* lossy counting: maximum undercount */
} LabelHashEntry;

/*
 * compute_stats of crm.tagset: the standard statistics, then label
 * frequencies.  Labels are counted with lossy counting (Manku and Motwani, as
 * core's array statistics do), so memory stays bounded however many distinct
 * labels the sample holds.
 */
static void
compute_tagset_stats(VacAttrStats *stats, AnalyzeAttrFetchFunc fetchfunc,
					 int samplerows, double totalrows)
{
	TagsetAnalyzeExtra *extra = (TagsetAnalyzeExtra *) stats->extra_data;
	int			nonnull = 0,
				slot,
				i,
				n,
				nkeep,
				num_mcelem,
				bucket_width,
				cutoff;
	int64		seen = 0,
				bucket = 1;
	HASHCTL		ctl;
	HTAB	   *counts;
	HASH_SEQ_STATUS scan;
	LabelHashEntry *e;
	LabelCount *all;
	MemoryContext old;
	Datum	   *values;
	float4	   *numbers;
	float4		minfreq,
				maxfreq;
#if PG_VERSION_NUM >= 170000
	int			target = stats->attstattarget;
#else
	int			target = stats->attr->attstattarget;
#endif

	/* Whole-set statistics (null fraction, width, MCV, histogram, n_distinct). */
	stats->extra_data = extra->std_extra_data;
	extra->std_compute_stats(stats, fetchfunc, samplerows, totalrows);
	stats->extra_data = extra;
	if (target < 0)
		target = default_statistics_target;
	num_mcelem = target * 10;
	bucket_width = num_mcelem * 10;		/* error bound 1 / bucket_width */

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TAGSET_MAX_LABEL + 1;
	ctl.entrysize = sizeof(LabelHashEntry);
	ctl.hcxt = CurrentMemoryContext;
	counts = hash_create("crm.tagset label counts", 1024, &ctl,
						 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	for (i = 0; i < samplerows; i++)
	{
		bool		isnull;
		Datum		value = fetchfunc(stats, i, &isnull);
		struct varlena *t;
		TagIter		it;
		TagLabel	l;

		vacuum_delay_point();
		if (isnull)
			continue;
		nonnull++;
		t = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
		TagIterInit(&it, t);
		while (TagIterNext(&it, &l))
		{
			char		key[TAGSET_MAX_LABEL + 1];
			bool		found;

			if (l.len > TAGSET_MAX_LABEL)
				continue;		/* cannot happen for valid values */
			memcpy(key, l.s, l.len);
			key[l.len] = '\0';
			e = hash_search(counts, key, HASH_ENTER, &found);
			if (found)
				e->count++;
			else
			{
				e->count = 1;
				e->delta = (int) (bucket - 1);
			}
			/* at each bucket boundary drop the labels that cannot be frequent */
			if (++seen % bucket_width == 0)
			{
				hash_seq_init(&scan, counts);
				while ((e = hash_seq_search(&scan)) != NULL)
					if (e->count + e->delta <= bucket)
						hash_search(counts, e->label, HASH_REMOVE, NULL);
				bucket++;
			}
		}
		if (t != (struct varlena *) DatumGetPointer(value))
			pfree(t);
	}
	n = (int) hash_get_num_entries(counts);
	if (nonnull == 0 || n == 0)
		return;

	/*
	 * Keep the most frequent labels, stored in label order; as core does for
	 * arrays, only labels above nine times the counting error are trusted.
	 */
	cutoff = Max(1, (int) (9 * seen / bucket_width));
	all = palloc(sizeof(LabelCount) * n);
	i = 0;
	hash_seq_init(&scan, counts);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->count < cutoff)
			continue;
		all[i].label.s = e->label;
		all[i].label.len = (int) strlen(e->label);
		all[i].count = e->count;
		i++;
	}
	n = i;
	if (n == 0)
		return;
	qsort(all, n, sizeof(LabelCount), LabelCountCmp);
	nkeep = Min(n, num_mcelem);
	minfreq = (float4) all[nkeep - 1].count / nonnull;
	maxfreq = (float4) all[0].count / nonnull;
	qsort(all, nkeep, sizeof(LabelCount), LabelCountLabelCmp);

	for (slot = 0; slot < STATISTIC_NUM_SLOTS; slot++)
		if (stats->stakind[slot] == 0)
			break;
	if (slot >= STATISTIC_NUM_SLOTS)
		return;

	old = MemoryContextSwitchTo(stats->anl_context);
	values = palloc(sizeof(Datum) * nkeep);
	numbers = palloc(sizeof(float4) * (nkeep + 3));
	for (i = 0; i < nkeep; i++)
	{
		values[i] = PointerGetDatum(cstring_to_text_with_len(all[i].label.s, all[i].label.len));
		numbers[i] = (float4) all[i].count / nonnull;
	}
	numbers[nkeep] = minfreq;
	numbers[nkeep + 1] = maxfreq;
	numbers[nkeep + 2] = 0.0;	/* labels are never NULL */
	MemoryContextSwitchTo(old);

	stats->stakind[slot] = STATISTIC_KIND_MCELEM;
	stats->staop[slot] = TextEqualOperator;
	stats->stacoll[slot] = C_COLLATION_OID;
	stats->stavalues[slot] = values;
	stats->numvalues[slot] = nkeep;
	stats->stanumbers[slot] = numbers;
	stats->numnumbers[slot] = nkeep + 3;
	stats->statypid[slot] = TEXTOID;
	stats->statyplen[slot] = -1;
	stats->statypbyval[slot] = false;
	stats->statypalign[slot] = TYPALIGN_INT;
	stats->stats_valid = true;
}

PG_FUNCTION_INFO_V1(tagset_typanalyze);
/* ANALYZE support: standard statistics plus the most common labels. */
Datum
tagset_typanalyze(PG_FUNCTION_ARGS)
{
	VacAttrStats *stats = (VacAttrStats *) PG_GETARG_POINTER(0);
	TagsetAnalyzeExtra *extra;

	if (!std_typanalyze(stats))
		PG_RETURN_BOOL(false);
	extra = MemoryContextAlloc(stats->anl_context, sizeof(TagsetAnalyzeExtra));
	extra->std_compute_stats = stats->compute_stats;
	extra->std_extra_data = stats->extra_data;
	stats->extra_data = extra;
	stats->compute_stats = compute_tagset_stats;
	PG_RETURN_BOOL(true);
}

typedef enum TagsetSelMode
{
	TAGSEL_CONTAINS,			/* column @> constant */
	TAGSEL_CONTAINED,			/* column <@ constant */
	TAGSEL_OVERLAP,				/* column && constant */
	TAGSEL_HAS					/* column ? 'label' */
} TagsetSelMode;

/* Frequency of a label among non-null rows, from the MCELEM slot. */
static double
LabelFrequency(AttStatsSlot *sslot, const TagLabel *l)
{
	int			lo = 0,
				hi = sslot->nvalues - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		text	   *v = DatumGetTextPP(sslot->values[mid]);
		TagLabel	m = {VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)};
		int			c = LabelCmp(&m, l);

		if (c == 0)
			return sslot->numbers[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	/* not among the most common: rarer than the rarest kept label */
	return sslot->numbers[sslot->nvalues] * 0.5;
}

/* Whether a label is in a (sorted) query set. */
static bool
TagsetHasLabel(struct varlena *t, const TagLabel *l)
{
	TagIter		it;
	TagLabel	x;

	TagIterInit(&it, t);
	while (TagIterNext(&it, &x))
	{
		int			c = LabelCmp(&x, l);

		if (c == 0)
			return true;
		if (c > 0)
			return false;
	}
	return false;
}

/*
 * Combines the exact share of the most common whole sets that match with an
 * estimate (a fraction of non-null rows) for all other rows.
 */
static Selectivity
TagsetMcvBlend(VariableStatData *vardata, TagsetSelMode mode, struct varlena *q,
			   const TagLabel *label, Selectivity rest_sel, double nullfrac)
{
	AttStatsSlot mcv;
	double		mcv_sel = 0.0,
				mcv_total = 0.0;
	int			i;

	if (mode == TAGSEL_HAS)
		q = TagsetFromSorted(label, 1);
	if (!get_attstatsslot(&mcv, vardata->statsTuple, STATISTIC_KIND_MCV, InvalidOid,
						  ATTSTATSSLOT_VALUES | ATTSTATSSLOT_NUMBERS))
		return rest_sel * (1.0 - nullfrac);
	for (i = 0; i < mcv.nvalues && i < mcv.nnumbers; i++)
	{
		struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(mcv.values[i]));
		bool		match;

		switch (mode)
		{
			case TAGSEL_CONTAINED:
				match = TagsetContains(q, v);
				break;
			case TAGSEL_OVERLAP:
				match = TagsetOverlaps(v, q);
				break;
			default:
				match = TagsetContains(v, q);
				break;
		}
		if (match)
			mcv_sel += mcv.numbers[i];
		mcv_total += mcv.numbers[i];
	}
	free_attstatsslot(&mcv);
	return mcv_sel + Max(0.0, 1.0 - nullfrac - mcv_total) * rest_sel;
}

/* Selectivity of one of the set operators against a constant. */
static Selectivity
TagsetSelectivity(PlannerInfo *root, List *args, int varRelid, TagsetSelMode mode)
{
	VariableStatData vardata;
	Node	   *other;
	bool		varonleft;
	Const	   *c;
	Selectivity sel = TAGSET_DEFAULT_SEL;
	AttStatsSlot sslot;

	if (!get_restriction_variable(root, args, varRelid, &vardata, &other, &varonleft))
		return TAGSET_DEFAULT_SEL;
	if (!IsA(other, Const))
	{
		ReleaseVariableStats(vardata);
		return TAGSET_DEFAULT_SEL;
	}
	c = (Const *) other;
	if (c->constisnull)
	{
		ReleaseVariableStats(vardata);
		return 0.0;
	}
	if (!varonleft)
	{
		/* constant @> column is column <@ constant, and the reverse */
		if (mode == TAGSEL_HAS)
		{
			ReleaseVariableStats(vardata);
			return TAGSET_DEFAULT_SEL;
		}
		if (mode == TAGSEL_CONTAINS)
			mode = TAGSEL_CONTAINED;
		else if (mode == TAGSEL_CONTAINED)
			mode = TAGSEL_CONTAINS;
	}
	if (HeapTupleIsValid(vardata.statsTuple) &&
		get_attstatsslot(&sslot, vardata.statsTuple, STATISTIC_KIND_MCELEM, InvalidOid,
						 ATTSTATSSLOT_VALUES | ATTSTATSSLOT_NUMBERS))
	{
		double		nullfrac = ((Form_pg_statistic) GETSTRUCT(vardata.statsTuple))->stanullfrac;

		if (sslot.nnumbers == sslot.nvalues + 3 && sslot.nvalues > 0)
		{
			struct varlena *q = NULL;
			TagIter		it;
			TagLabel	l;
			double		p = 1.0;
			int			i;

			if (mode == TAGSEL_HAS)
			{
				/* the label as the operator will see it: trimmed, lower case */
				text	   *t = DatumGetTextPP(c->constvalue);
				char	   *s = VARDATA_ANY(t);
				int			len = VARSIZE_ANY_EXHDR(t);
				char	   *buf;

				while (len > 0 && IsTrimSpace((unsigned char) *s))
					s++, len--;
				while (len > 0 && IsTrimSpace((unsigned char) s[len - 1]))
					len--;
				buf = palloc(Max(len, 1));
				for (i = 0; i < len; i++)
					buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + ('a' - 'A') : s[i];
				l.s = buf;
				l.len = len;
				sel = LabelFrequency(&sslot, &l);
			}
			else
			{
				q = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(c->constvalue));
				TagIterInit(&it, q);
				switch (mode)
				{
					case TAGSEL_CONTAINS:
						/* every label present, taken as independent */
						while (TagIterNext(&it, &l))
							p *= LabelFrequency(&sslot, &l);
						sel = p;
						break;
					case TAGSEL_OVERLAP:
						/* at least one label present */
						while (TagIterNext(&it, &l))
							p *= 1.0 - LabelFrequency(&sslot, &l);
						sel = 1.0 - p;
						break;
					case TAGSEL_CONTAINED:
						/* no common label outside the constant */
						for (i = 0; i < sslot.nvalues; i++)
						{
							text	   *v = DatumGetTextPP(sslot.values[i]);
							TagLabel	m = {VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)};

							if (!TagsetHasLabel(q, &m))
								p *= 1.0 - sslot.numbers[i];
						}
						sel = p;
						break;
					default:
						break;
				}
			}
			/*
			 * Whole sets in the most-common-values list (the empty set, say)
			 * are checked exactly; the estimate above covers the other rows.
			 */
			sel = TagsetMcvBlend(&vardata, mode, q, &l, sel, nullfrac);
		}
		free_attstatsslot(&sslot);
	}
	ReleaseVariableStats(vardata);
	CLAMP_PROBABILITY(sel);
	return sel;
}

#define TAGSET_SEL_FUNC(name, mode) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_FLOAT8(TagsetSelectivity((PlannerInfo *) PG_GETARG_POINTER(0), \
									   (List *) PG_GETARG_POINTER(2), \
									   PG_GETARG_INT32(3), mode)); \
}

/* Restriction estimators of @>, <@, && and ?. */
TAGSET_SEL_FUNC(tagset_contains_sel, TAGSEL_CONTAINS)
TAGSET_SEL_FUNC(tagset_contained_sel, TAGSEL_CONTAINED)
TAGSET_SEL_FUNC(tagset_overlap_sel, TAGSEL_OVERLAP)
TAGSET_SEL_FUNC(tagset_has_sel, TAGSEL_HAS)
