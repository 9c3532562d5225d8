/*
 * email.c: the crm.email type, a validated, lower-case email address stored
 * as its normalised text.  Comparison is bytewise on the normalised form, which
 * makes it case-insensitive.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "email_core.h"

/* Validates len bytes and returns the normalised address as a new varlena. */
static text *
EmailFromCString(const char *str, size_t len)
{
	char	   *buf = palloc(len + 1);
	size_t		outlen = 0;
	EmailStatus st = email_normalize(str, len, buf, &outlen);
	text	   *result;

	if (st != EMAIL_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type crm.email: \"%s\"",
						pnstrdup(str, len)),
				 errdetail("%s", email_status_detail(st)),
				 errhint("%s", email_status_hint(st))));
	result = cstring_to_text_with_len(buf, (int) outlen);
	pfree(buf);
	return result;
}

/* Compares two normalised addresses bytewise. */
static int
EmailCompare(text *a, text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			r = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	if (r != 0)
		return r;
	return (la > lb) - (la < lb);
}

PG_FUNCTION_INFO_V1(email_in);
/* Text input: validates and normalises. */
Datum
email_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_TEXT_P(EmailFromCString(str, strlen(str)));
}

PG_FUNCTION_INFO_V1(email_out);
/* Text output: the normalised address. */
Datum
email_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(text_to_cstring(PG_GETARG_TEXT_PP(0)));
}

PG_FUNCTION_INFO_V1(email_recv);
/* Binary input: the address as text, validated like the text input. */
Datum
email_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;
	const char *data = pq_getmsgbytes(buf, nbytes);

	if (memchr(data, '\0', nbytes) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type crm.email"),
				 errdetail("The value contains a zero byte."),
				 errhint("Send the address as plain text bytes.")));
	PG_RETURN_TEXT_P(EmailFromCString(data, nbytes));
}

PG_FUNCTION_INFO_V1(email_send);
/* Binary output: the normalised address as bytes. */
Datum
email_send(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(email_is_valid);
/* Whether a text is a valid address, without raising an error. */
Datum
email_is_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	char	   *buf = palloc(len + 1);
	size_t		outlen;
	bool		ok = email_normalize(VARDATA_ANY(t), len, buf, &outlen) == EMAIL_OK;

	pfree(buf);
	PG_RETURN_BOOL(ok);
}

PG_FUNCTION_INFO_V1(email_cmp);
/* btree support: three-way comparison. */
Datum
email_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(EmailCompare(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)));
}

#define EMAIL_CMP_FUNC(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(EmailCompare(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)) op 0); \
}

EMAIL_CMP_FUNC(email_eq, ==)
EMAIL_CMP_FUNC(email_ne, !=)
EMAIL_CMP_FUNC(email_lt, <)
EMAIL_CMP_FUNC(email_le, <=)
EMAIL_CMP_FUNC(email_gt, >)
EMAIL_CMP_FUNC(email_ge, >=)

PG_FUNCTION_INFO_V1(email_hash);
/* hash support: hash of the normalised bytes. */
Datum
email_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	return hash_any((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

PG_FUNCTION_INFO_V1(email_hash_extended);
/* hash support: 64-bit seeded hash of the normalised bytes. */
Datum
email_hash_extended(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	return hash_any_extended((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
							 PG_GETARG_INT64(1));
}

/* Position of the "@" in a normalised address (always present). */
static int
AtPosition(text *t)
{
	const char *p = memchr(VARDATA_ANY(t), '@', VARSIZE_ANY_EXHDR(t));

	if (p == NULL)
		elog(ERROR, "corrupt crm.email value without \"@\"");
	return (int) (p - VARDATA_ANY(t));
}

PG_FUNCTION_INFO_V1(email_domain);
/* The domain after the "@". */
Datum
email_domain(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			at = AtPosition(t);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(VARDATA_ANY(t) + at + 1,
											  VARSIZE_ANY_EXHDR(t) - at - 1));
}

PG_FUNCTION_INFO_V1(email_local);
/* The local part before the "@". */
Datum
email_local(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(VARDATA_ANY(t), AtPosition(t)));
}
