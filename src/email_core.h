/*
 * email_core.h: validation and normalisation of email addresses, in plain C
 * (no PostgreSQL headers) so the fuzz driver can run it on its own.
 */
#ifndef CRM_EMAIL_CORE_H
#define CRM_EMAIL_CORE_H

#include <stddef.h>

#define EMAIL_MAX_LEN 254		/* RFC 5321 path limit less the angle brackets */
#define EMAIL_MAX_LOCAL 64
#define EMAIL_MAX_DOMAIN 253
#define EMAIL_MAX_LABEL 63

typedef enum EmailStatus
{
	EMAIL_OK = 0,
	EMAIL_EMPTY,
	EMAIL_TOO_LONG,
	EMAIL_NO_AT,
	EMAIL_MANY_AT,
	EMAIL_SPACE,
	EMAIL_NON_ASCII,
	EMAIL_LOCAL_EMPTY,
	EMAIL_LOCAL_TOO_LONG,
	EMAIL_LOCAL_CHAR,
	EMAIL_LOCAL_DOT,
	EMAIL_DOMAIN_EMPTY,
	EMAIL_DOMAIN_TOO_LONG,
	EMAIL_DOMAIN_ONE_LABEL,
	EMAIL_LABEL_EMPTY,
	EMAIL_LABEL_TOO_LONG,
	EMAIL_LABEL_CHAR,
	EMAIL_LABEL_HYPHEN,
	EMAIL_TLD
} EmailStatus;

/*
 * Validates the len bytes at in (which need not be NUL-terminated).  On success
 * writes the normalised address (surrounding whitespace trimmed, lower case) to
 * out, which must hold len + 1 bytes, sets *outlen and returns EMAIL_OK.
 */
extern EmailStatus email_normalize(const char *in, size_t len, char *out, size_t *outlen);

/* A sentence saying what is wrong, and one saying what to do about it. */
extern const char *email_status_detail(EmailStatus status);
extern const char *email_status_hint(EmailStatus status);

#endif
