/*
 * phone_core.h: parsing, validation and formatting of telephone numbers as
 * E.164, in plain C (no PostgreSQL headers) so the fuzz driver can run it.
 */
#ifndef CRM_PHONE_CORE_H
#define CRM_PHONE_CORE_H

#include <stddef.h>
#include <stdint.h>

#define PHONE_MAX_DIGITS 15		/* E.164: country code plus national number */

typedef enum PhoneStatus
{
	PHONE_OK = 0,
	PHONE_EMPTY,
	PHONE_BAD_CHAR,
	PHONE_NO_DIGITS,
	PHONE_TOO_LONG,
	PHONE_NO_COUNTRY,
	PHONE_UNKNOWN_CODE,
	PHONE_LENGTH,
	PHONE_LEADING_ZERO,
	PHONE_NANP_AREA,
	PHONE_NANP_EXCHANGE
} PhoneStatus;

/* What the parser learned, for the error detail. */
typedef struct PhoneInfo
{
	int			cc;				/* country calling code, 0 if unknown */
	int			nsn_len;		/* digits of the national significant number */
	int			min_len;		/* allowed national lengths for cc */
	int			max_len;
	char		bad_char;		/* the offending character, for PHONE_BAD_CHAR */
} PhoneInfo;

typedef enum PhoneStyle
{
	PHONE_STYLE_E164,
	PHONE_STYLE_INTERNATIONAL,
	PHONE_STYLE_NATIONAL
} PhoneStyle;

/*
 * Parses len bytes as a telephone number.  default_cc is the calling code of
 * the default country (0 for none), used for numbers written without one.
 * On success sets *out to the E.164 digits as an integer.
 */
extern PhoneStatus phone_parse(const char *in, size_t len, int default_cc,
							   uint64_t *out, PhoneInfo *info);

/* Checks a stored value (from binary input) and fills info; PHONE_OK if valid. */
extern PhoneStatus phone_check_value(uint64_t value, PhoneInfo *info);

/* Calling code for an ISO 3166 alpha-2 code (any case), or 0 if unknown. */
extern int	phone_country_calling_code(const char *iso);

/* Splits a valid value into its calling code and national number digits. */
extern int	phone_split(uint64_t value, char *nsn, size_t nsnsize);

/* Formats a valid value; buf must hold at least 40 bytes. */
extern void phone_format(uint64_t value, PhoneStyle style, char *buf, size_t bufsize);

/* A sentence saying what is wrong (written into buf), and a hint. */
extern void phone_status_detail(PhoneStatus status, const PhoneInfo *info,
								char *buf, size_t bufsize);
extern const char *phone_status_hint(PhoneStatus status);

#endif
