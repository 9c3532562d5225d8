/*
 * email_core.c: a practical subset of RFC 5321/5322 addresses.
 *
 * Accepted: dot-atom local part (letters, digits and !#$%&'*+/=?^_`{|}~-,
 * single dots between atoms), "@", and a domain of at least two dot-separated
 * labels (letters, digits, inner hyphens, 1..63 characters each) whose last
 * label is alphabetic (2..63 letters) or an IDNA A-label ("xn--...").
 * Not accepted: quoted local parts, comments, IP-address literals and
 * non-ASCII characters (domains must be written in their xn-- form).
 */
#include "email_core.h"

#include <string.h>

static inline int
IsSpace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int
IsAlpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int
IsDigit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline unsigned char
ToLower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + ('a' - 'A')) : c;
}

/* The atext characters of RFC 5322 section 3.2.3. */
static inline int
IsAtext(unsigned char c)
{
	return IsAlpha(c) || IsDigit(c) || (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static EmailStatus
CheckLocal(const char *s, size_t len)
{
	size_t		i;

	if (len == 0)
		return EMAIL_LOCAL_EMPTY;
	if (len > EMAIL_MAX_LOCAL)
		return EMAIL_LOCAL_TOO_LONG;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '.')
		{
			if (i == 0 || i == len - 1 || s[i - 1] == '.')
				return EMAIL_LOCAL_DOT;
		}
		else if (!IsAtext(c))
			return EMAIL_LOCAL_CHAR;
	}
	return EMAIL_OK;
}

/* Checks one domain label; last says whether it is the top-level label. */
static EmailStatus
CheckLabel(const char *s, size_t len, int last)
{
	size_t		i;
	int			alpha = 1;

	if (len == 0)
		return EMAIL_LABEL_EMPTY;
	if (len > EMAIL_MAX_LABEL)
		return EMAIL_LABEL_TOO_LONG;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!IsAlpha(c))
			alpha = 0;
		if (!(IsAlpha(c) || IsDigit(c) || c == '-'))
			return EMAIL_LABEL_CHAR;
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return EMAIL_LABEL_HYPHEN;
	if (last)
	{
		int			alabel = len > 4 && ToLower(s[0]) == 'x' && ToLower(s[1]) == 'n' &&
			s[2] == '-' && s[3] == '-';

		if (!alabel && (!alpha || len < 2))
			return EMAIL_TLD;
	}
	return EMAIL_OK;
}

static EmailStatus
CheckDomain(const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i;
	int			labels = 0;

	if (len == 0)
		return EMAIL_DOMAIN_EMPTY;
	if (len > EMAIL_MAX_DOMAIN)
		return EMAIL_DOMAIN_TOO_LONG;
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			EmailStatus st = CheckLabel(s + start, i - start, i == len);

			if (st != EMAIL_OK)
				return st;
			labels++;
			start = i + 1;
		}
	}
	return labels < 2 ? EMAIL_DOMAIN_ONE_LABEL : EMAIL_OK;
}

EmailStatus
email_normalize(const char *in, size_t len, char *out, size_t *outlen)
{
	size_t		b = 0;
	size_t		e = len;
	size_t		i;
	size_t		at = 0;
	int			nat = 0;
	EmailStatus st;

	while (b < e && IsSpace((unsigned char) in[b]))
		b++;
	while (e > b && IsSpace((unsigned char) in[e - 1]))
		e--;
	if (b == e)
		return EMAIL_EMPTY;
	for (i = b; i < e; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (c >= 0x80)
			return EMAIL_NON_ASCII;
		if (IsSpace(c))
			return EMAIL_SPACE;
		if (c == '@')
		{
			nat++;
			at = i;
		}
	}
	if (e - b > EMAIL_MAX_LEN)
		return EMAIL_TOO_LONG;
	if (nat == 0)
		return EMAIL_NO_AT;
	if (nat > 1)
		return EMAIL_MANY_AT;
	st = CheckLocal(in + b, at - b);
	if (st != EMAIL_OK)
		return st;
	st = CheckDomain(in + at + 1, e - at - 1);
	if (st != EMAIL_OK)
		return st;
	for (i = b; i < e; i++)
		out[i - b] = (char) ToLower((unsigned char) in[i]);
	out[e - b] = '\0';
	*outlen = e - b;
	return EMAIL_OK;
}

const char *
email_status_detail(EmailStatus status)
{
	switch (status)
	{
		case EMAIL_OK:
			return "The address is valid.";
		case EMAIL_EMPTY:
			return "The address is empty.";
		case EMAIL_TOO_LONG:
			return "An address may have at most 254 characters.";
		case EMAIL_NO_AT:
			return "An address needs an \"@\" between the local part and the domain.";
		case EMAIL_MANY_AT:
			return "An address may contain only one \"@\".";
		case EMAIL_SPACE:
			return "An address may not contain whitespace.";
		case EMAIL_NON_ASCII:
			return "An address may contain only ASCII characters.";
		case EMAIL_LOCAL_EMPTY:
			return "The local part before the \"@\" is empty.";
		case EMAIL_LOCAL_TOO_LONG:
			return "The local part before the \"@\" may have at most 64 characters.";
		case EMAIL_LOCAL_CHAR:
			return "The local part contains a character that is not allowed.";
		case EMAIL_LOCAL_DOT:
			return "The local part may not start or end with a dot or contain two dots in a row.";
		case EMAIL_DOMAIN_EMPTY:
			return "The domain after the \"@\" is empty.";
		case EMAIL_DOMAIN_TOO_LONG:
			return "The domain may have at most 253 characters.";
		case EMAIL_DOMAIN_ONE_LABEL:
			return "The domain must have at least two dot-separated labels.";
		case EMAIL_LABEL_EMPTY:
			return "The domain contains an empty label.";
		case EMAIL_LABEL_TOO_LONG:
			return "A domain label may have at most 63 characters.";
		case EMAIL_LABEL_CHAR:
			return "A domain label may contain only letters, digits and hyphens.";
		case EMAIL_LABEL_HYPHEN:
			return "A domain label may not start or end with a hyphen.";
		case EMAIL_TLD:
			return "The top-level domain must be at least two letters or an \"xn--\" label.";
	}
	return "The address is not valid.";
}

const char *
email_status_hint(EmailStatus status)
{
	switch (status)
	{
		case EMAIL_NON_ASCII:
			return "Write internationalised domains in their \"xn--\" (punycode) form.";
		case EMAIL_LOCAL_CHAR:
			return "Quoted local parts and comments are not supported; use letters, digits and !#$%&'*+/=?^_`{|}~-.";
		case EMAIL_EMPTY:
			return "Use NULL for an unknown address.";
		default:
			return "Enter an address of the form name@example.com.";
	}
}
