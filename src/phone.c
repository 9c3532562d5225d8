/*
 * phone.c: the crm.phone type, a telephone number stored as its E.164 digits
 * in one int8 (passed by value).  Comparison and hashing are int8's.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "crm.h"
#include "phone_core.h"

char	   *crm_default_country = NULL;
static int	default_cc = 0;

/* GUC check hook: the default country must be a known ISO 3166 code. */
static bool
CheckDefaultCountry(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (phone_country_calling_code(*newval) == 0)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("\"%s\" is not an ISO 3166 alpha-2 country code known to crm.", *newval);
		GUC_check_errhint("Use a code such as CN, US, GB, DE, IN or JP; see the README for the list.");
		return false;
	}
	return true;
}

/* GUC assign hook: remember the calling code of the default country. */
static void
AssignDefaultCountry(const char *newval, void *extra)
{
	default_cc = (newval && newval[0]) ? phone_country_calling_code(newval) : 0;
}

void
crm_phone_init(void)
{
	DefineCustomStringVariable("crm.default_country",
							   "Country assumed for telephone numbers written without a country code.",
							   "An ISO 3166 alpha-2 code such as CN, US or GB; empty means such numbers are rejected.",
							   &crm_default_country,
							   "",
							   PGC_USERSET,
							   0,
							   CheckDefaultCountry,
							   AssignDefaultCountry,
							   NULL);
}

/* Raises the error for an invalid number. */
static void
ReportPhoneError(PhoneStatus st, const PhoneInfo *info, const char *str, size_t len)
{
	char		detail[256];

	phone_status_detail(st, info, detail, sizeof(detail));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.phone: \"%s\"", pnstrdup(str, len)),
			 errdetail("%s", detail),
			 errhint("%s", phone_status_hint(st))));
}

PG_FUNCTION_INFO_V1(phone_in);
/* Text input: parses what people type into E.164. */
Datum
phone_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	uint64		value;
	PhoneInfo	info;
	PhoneStatus st = phone_parse(str, len, default_cc, &value, &info);

	if (st != PHONE_OK)
		ReportPhoneError(st, &info, str, len);
	PG_RETURN_INT64((int64) value);
}

PG_FUNCTION_INFO_V1(phone_out);
/* Text output: E.164, as in +8613800138000. */
Datum
phone_out(PG_FUNCTION_ARGS)
{
	char		buf[64];

	phone_format((uint64) PG_GETARG_INT64(0), PHONE_STYLE_E164, buf, sizeof(buf));
	PG_RETURN_CSTRING(pstrdup(buf));
}

PG_FUNCTION_INFO_V1(phone_recv);
/* Binary input: the E.164 digits as an int8, checked like the text input. */
Datum
phone_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		v = pq_getmsgint64(buf);
	PhoneInfo	info;
	PhoneStatus st = v > 0 ? phone_check_value((uint64) v, &info) : PHONE_NO_DIGITS;

	if (st != PHONE_OK)
	{
		char		detail[256];

		phone_status_detail(st, &info, detail, sizeof(detail));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value for type crm.phone: " INT64_FORMAT, v),
				 errdetail("%s", detail),
				 errhint("Send the E.164 digits as a positive 64-bit integer.")));
	}
	PG_RETURN_INT64(v);
}

PG_FUNCTION_INFO_V1(phone_send);
/* Binary output: the E.164 digits as an int8. */
Datum
phone_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, PG_GETARG_INT64(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(phone_is_valid);
/* Whether a text parses as a number under the current default country. */
Datum
phone_is_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	uint64		value;
	PhoneInfo	info;

	PG_RETURN_BOOL(phone_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), default_cc,
							   &value, &info) == PHONE_OK);
}

PG_FUNCTION_INFO_V1(phone_country_code);
/* The country calling code, as in 86. */
Datum
phone_country_code(PG_FUNCTION_ARGS)
{
	char		nsn[24];

	PG_RETURN_INT32(phone_split((uint64) PG_GETARG_INT64(0), nsn, sizeof(nsn)));
}

PG_FUNCTION_INFO_V1(phone_national);
/* The national significant number, as in 13800138000. */
Datum
phone_national(PG_FUNCTION_ARGS)
{
	char		nsn[24];

	phone_split((uint64) PG_GETARG_INT64(0), nsn, sizeof(nsn));
	PG_RETURN_TEXT_P(cstring_to_text(nsn));
}

PG_FUNCTION_INFO_V1(phone_format_style);
/* Formats in one of the styles e164, international or national. */
Datum
phone_format_style(PG_FUNCTION_ARGS)
{
	int64		v = PG_GETARG_INT64(0);
	char	   *style = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PhoneStyle	s;
	char		buf[64];

	if (pg_strcasecmp(style, "e164") == 0)
		s = PHONE_STYLE_E164;
	else if (pg_strcasecmp(style, "international") == 0)
		s = PHONE_STYLE_INTERNATIONAL;
	else if (pg_strcasecmp(style, "national") == 0)
		s = PHONE_STYLE_NATIONAL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown telephone number style \"%s\"", style),
				 errdetail("The style must be e164, international or national."),
				 errhint("Use crm.phone_format(phone, 'international'), for example.")));
	phone_format((uint64) v, s, buf, sizeof(buf));
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}
