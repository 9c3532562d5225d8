/*
 * phone_core.c: telephone numbers as E.164.
 *
 * Input is what people type: an optional "+", digits, and the separators
 * space, hyphen, dot, slash and parentheses.  "(0)" after a country code is
 * the national trunk prefix and is dropped.  A number without "+" is
 * international when it starts with "00" or with the default country's own
 * international prefix (011 in North America, 0011 in Australia...); otherwise
 * it is national and gets the default country's calling code, its trunk prefix
 * (0, 1, 8...) removed.  The national significant number is checked against
 * the rules of its calling code where we have them, and against the general
 * E.164 limits (at most 15 digits in all) everywhere.
 */
#include "phone_core.h"

#include <stdio.h>
#include <string.h>

/* Rules of one country calling code. */
typedef struct CallingRule
{
	int			cc;
	int			min_len;		/* national significant number lengths */
	int			max_len;
	const char *trunk;			/* national (trunk) prefix, "" if none */
	const char *idd;			/* international prefix dialled from there */
	int			zero_ok;		/* national numbers may start with 0 */
	const char *groups;			/* "LEN:GROUPS ..." digit grouping for display */
} CallingRule;

static const CallingRule rules[] = {
	{1, 10, 10, "1", "011", 0, "10:334"},	/* NANP: US, CA and the Caribbean */
	{7, 10, 10, "8", "810", 0, "10:3322"},	/* RU, KZ */
	{20, 8, 10, "0", "00", 0, "10:244 9:135 8:134"},	/* EG */
	{27, 9, 9, "0", "00", 0, "9:234"},	/* ZA */
	{30, 10, 10, "", "00", 0, "10:334"},	/* GR */
	{31, 9, 9, "0", "00", 0, "9:1242"},	/* NL */
	{32, 8, 9, "0", "00", 0, "9:3222 8:1322"},	/* BE */
	{33, 9, 9, "0", "00", 0, "9:12222"},	/* FR */
	{34, 9, 9, "", "00", 0, "9:333"},	/* ES */
	{36, 8, 9, "06", "00", 0, "9:234 8:134"},	/* HU */
	{39, 6, 11, "", "00", 1, "10:334 9:333"},	/* IT */
	{40, 9, 9, "0", "00", 0, "9:333"},	/* RO */
	{41, 9, 9, "0", "00", 0, "9:2322"},	/* CH */
	{43, 4, 13, "0", "00", 0, ""},	/* AT */
	{44, 9, 10, "0", "00", 0, "10:244 9:333"},	/* GB */
	{45, 8, 8, "", "00", 0, "8:2222"},	/* DK */
	{46, 7, 10, "0", "00", 0, "9:2322"},	/* SE */
	{47, 8, 8, "", "00", 0, "8:323"},	/* NO */
	{48, 9, 9, "", "00", 0, "9:333"},	/* PL */
	{49, 6, 13, "0", "00", 0, ""},	/* DE */
	{51, 8, 9, "0", "00", 0, "9:333"},	/* PE */
	{52, 10, 10, "", "00", 0, "10:244"},	/* MX */
	{54, 10, 11, "0", "00", 0, "10:244 11:1244"},	/* AR */
	{55, 10, 11, "0", "00", 0, "11:254 10:244"},	/* BR */
	{56, 9, 9, "", "00", 0, "9:144"},	/* CL */
	{57, 10, 10, "", "00", 0, "10:334"},	/* CO */
	{58, 10, 10, "0", "00", 0, "10:37"},	/* VE */
	{60, 8, 10, "0", "00", 0, "9:234 10:244"},	/* MY */
	{61, 9, 9, "0", "0011", 0, "9:144"},	/* AU */
	{62, 8, 12, "0", "00", 0, ""},	/* ID */
	{63, 8, 10, "0", "00", 0, "10:334"},	/* PH */
	{64, 8, 10, "0", "00", 0, "9:234"},	/* NZ */
	{65, 8, 8, "", "000", 0, "8:44"},	/* SG */
	{66, 8, 9, "0", "00", 0, "9:234 8:134"},	/* TH */
	{81, 9, 10, "0", "010", 0, "10:244 9:144"},	/* JP */
	{82, 8, 10, "0", "00", 0, "10:244 9:234"},	/* KR */
	{84, 9, 10, "0", "00", 0, "9:234 10:334"},	/* VN */
	{86, 10, 11, "0", "00", 0, "11:344 10:244"},	/* CN */
	{90, 10, 10, "0", "00", 0, "10:3322"},	/* TR */
	{91, 10, 10, "0", "00", 0, "10:55"},	/* IN */
	{92, 9, 10, "0", "00", 0, "10:37 9:27"},	/* PK */
	{93, 9, 9, "0", "00", 0, "9:234"},	/* AF */
	{94, 9, 9, "0", "00", 0, "9:234"},	/* LK */
	{95, 7, 10, "0", "00", 0, ""},	/* MM */
	{98, 10, 10, "0", "00", 0, "10:334"},	/* IR */
	{212, 9, 9, "0", "00", 0, "9:234"},	/* MA */
	{213, 8, 9, "0", "00", 0, "9:3222"},	/* DZ */
	{216, 8, 8, "", "00", 0, "8:233"},	/* TN */
	{234, 8, 10, "0", "009", 0, "10:334"},	/* NG */
	{243, 9, 9, "0", "00", 0, "9:333"},	/* CD */
	{249, 9, 9, "0", "00", 0, "9:234"},	/* SD */
	{251, 9, 9, "0", "00", 0, "9:234"},	/* ET */
	{254, 9, 9, "0", "000", 0, "9:333"},	/* KE */
	{255, 9, 9, "0", "000", 0, "9:333"},	/* TZ */
	{256, 9, 9, "0", "000", 0, "9:333"},	/* UG */
	{351, 9, 9, "", "00", 0, "9:333"},	/* PT */
	{353, 7, 9, "0", "00", 0, "9:234"},	/* IE */
	{380, 9, 9, "0", "00", 0, "9:2322"},	/* UA */
	{852, 8, 8, "", "001", 0, "8:44"},	/* HK */
	{853, 8, 8, "", "00", 0, "8:44"},	/* MO */
	{880, 8, 10, "0", "00", 0, "10:46"},	/* BD */
	{886, 8, 9, "0", "002", 0, "9:333 8:134"},	/* TW */
	{964, 8, 10, "0", "00", 0, "10:334"},	/* IQ */
	{966, 8, 9, "0", "00", 0, "9:234"},	/* SA */
	{971, 8, 9, "0", "00", 0, "9:234"},	/* AE */
	{998, 9, 9, "", "00", 0, "9:2322"},	/* UZ */
};

typedef struct IsoCode
{
	const char *iso;
	int			cc;
} IsoCode;

static const IsoCode iso_codes[] = {
	{"AE", 971}, {"AF", 93}, {"AG", 1}, {"AI", 1}, {"AR", 54}, {"AS", 1},
	{"AT", 43}, {"AU", 61}, {"BB", 1}, {"BD", 880}, {"BE", 32}, {"BM", 1},
	{"BR", 55}, {"BS", 1}, {"CA", 1}, {"CD", 243}, {"CH", 41}, {"CL", 56},
	{"CN", 86}, {"CO", 57}, {"DE", 49}, {"DK", 45}, {"DM", 1}, {"DO", 1},
	{"DZ", 213}, {"EG", 20}, {"ES", 34}, {"ET", 251}, {"FR", 33}, {"GB", 44},
	{"GD", 1}, {"GR", 30}, {"GU", 1}, {"HK", 852}, {"HU", 36}, {"ID", 62},
	{"IE", 353}, {"IN", 91}, {"IQ", 964}, {"IR", 98}, {"IT", 39}, {"JM", 1},
	{"JP", 81}, {"KE", 254}, {"KN", 1}, {"KR", 82}, {"KY", 1}, {"KZ", 7},
	{"LC", 1}, {"LK", 94}, {"MA", 212}, {"MM", 95}, {"MO", 853}, {"MP", 1},
	{"MS", 1}, {"MX", 52}, {"MY", 60}, {"NG", 234}, {"NL", 31}, {"NO", 47},
	{"NZ", 64}, {"PE", 51}, {"PH", 63}, {"PK", 92}, {"PL", 48}, {"PR", 1},
	{"PT", 351}, {"RO", 40}, {"RU", 7}, {"SA", 966}, {"SD", 249}, {"SE", 46},
	{"SG", 65}, {"SX", 1}, {"TC", 1}, {"TH", 66}, {"TN", 216}, {"TR", 90},
	{"TT", 1}, {"TW", 886}, {"TZ", 255}, {"UA", 380}, {"UG", 256}, {"US", 1},
	{"UZ", 998}, {"VC", 1}, {"VE", 58}, {"VG", 1}, {"VI", 1}, {"VN", 84},
	{"ZA", 27},
};

/* Two-digit calling codes; 1 and 7 are the only one-digit codes. */
static const int two_digit_codes[] = {
	20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
	51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84,
	86, 90, 91, 92, 93, 94, 95, 98
};

/* Assigned three-digit calling codes, as ranges [lo, hi]. */
static const int three_digit_ranges[][2] = {
	{211, 213}, {216, 216}, {218, 218}, {220, 258}, {260, 269}, {290, 291},
	{297, 299}, {350, 359}, {370, 383}, {385, 387}, {389, 389}, {420, 421},
	{423, 423}, {500, 509}, {590, 599}, {670, 670}, {672, 683}, {685, 692},
	{800, 800}, {808, 808}, {850, 850}, {852, 853}, {855, 856}, {870, 870},
	{878, 878}, {880, 883}, {886, 886}, {888, 888}, {960, 968}, {970, 977},
	{979, 979}, {992, 996}, {998, 998}
};

#define lengthof_array(a) ((int) (sizeof(a) / sizeof((a)[0])))

static const CallingRule *
FindRule(int cc)
{
	int			i;

	for (i = 0; i < lengthof_array(rules); i++)
		if (rules[i].cc == cc)
			return &rules[i];
	return NULL;
}

/* Reads the calling code at the start of n digits; returns it and its length. */
static int
DetectCode(const char *d, int n, int *cclen)
{
	int			i;
	int			v;

	if (n < 1 || d[0] == '0')
		return 0;
	if (d[0] == '1' || d[0] == '7')
	{
		*cclen = 1;
		return d[0] - '0';
	}
	if (n < 2)
		return 0;
	v = (d[0] - '0') * 10 + (d[1] - '0');
	for (i = 0; i < lengthof_array(two_digit_codes); i++)
		if (two_digit_codes[i] == v)
		{
			*cclen = 2;
			return v;
		}
	if (n < 3)
		return 0;
	v = v * 10 + (d[2] - '0');
	for (i = 0; i < lengthof_array(three_digit_ranges); i++)
		if (v >= three_digit_ranges[i][0] && v <= three_digit_ranges[i][1])
		{
			*cclen = 3;
			return v;
		}
	return 0;
}

static int
DigitsOf(int cc)
{
	return cc < 10 ? 1 : cc < 100 ? 2 : 3;
}

static int
HasPrefix(const char *d, int n, const char *prefix)
{
	int			len = (int) strlen(prefix);

	return len > 0 && n > len && memcmp(d, prefix, len) == 0;
}

/* Checks the national significant number of calling code cc. */
static PhoneStatus
CheckNational(int cc, const char *nsn, int n, PhoneInfo *info)
{
	const CallingRule *rule = FindRule(cc);

	info->cc = cc;
	info->nsn_len = n;
	info->min_len = rule ? rule->min_len : 4;
	info->max_len = rule ? rule->max_len : PHONE_MAX_DIGITS - DigitsOf(cc);
	if (DigitsOf(cc) + n > PHONE_MAX_DIGITS)
		return PHONE_TOO_LONG;
	if (n < info->min_len || n > info->max_len)
		return PHONE_LENGTH;
	if (rule && !rule->zero_ok && nsn[0] == '0')
		return PHONE_LEADING_ZERO;
	if (cc == 1)
	{
		if (nsn[0] < '2')
			return PHONE_NANP_AREA;
		if (nsn[3] < '2')
			return PHONE_NANP_EXCHANGE;
	}
	return PHONE_OK;
}

static uint64_t
ToValue(int cc, const char *nsn, int n)
{
	uint64_t	v = (uint64_t) cc;
	int			i;

	for (i = 0; i < n; i++)
		v = v * 10 + (uint64_t) (nsn[i] - '0');
	return v;
}

PhoneStatus
phone_parse(const char *in, size_t len, int default_cc, uint64_t *out, PhoneInfo *info)
{
	char		digits[PHONE_MAX_DIGITS + 16];
	int			n = 0;
	int			plus = 0;
	size_t		b = 0;
	size_t		e = len;
	size_t		i;
	const char *d;
	int			cc;
	int			cclen = 0;

	memset(info, 0, sizeof(*info));
	while (b < e && (in[b] == ' ' || in[b] == '\t' || in[b] == '\n' || in[b] == '\r'))
		b++;
	while (e > b && (in[e - 1] == ' ' || in[e - 1] == '\t' || in[e - 1] == '\n' || in[e - 1] == '\r'))
		e--;
	if (b == e)
		return PHONE_EMPTY;
	i = b;
	if (in[i] == '+')
	{
		plus = 1;
		i++;
	}
	for (; i < e; i++)
	{
		char		c = in[i];

		if (c >= '0' && c <= '9')
		{
			if (n >= (int) sizeof(digits))
				return PHONE_TOO_LONG;
			digits[n++] = c;
		}
		else if (c == '(' && i + 2 < e && in[i + 1] == '0' && in[i + 2] == ')')
		{
			/* "(0)": a trunk prefix, dropped after a country code */
			if (!(plus || (n >= 2 && digits[0] == '0' && digits[1] == '0')))
			{
				if (n >= (int) sizeof(digits))
					return PHONE_TOO_LONG;
				digits[n++] = '0';
			}
			i += 2;
		}
		else if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '\t')
			continue;
		else
		{
			info->bad_char = c;
			return PHONE_BAD_CHAR;
		}
	}
	if (n == 0)
		return PHONE_NO_DIGITS;
	d = digits;
	if (!plus)
	{
		const CallingRule *home = default_cc ? FindRule(default_cc) : NULL;

		if (home && strcmp(home->idd, "00") != 0 && HasPrefix(d, n, home->idd))
		{
			plus = 1;
			n -= (int) strlen(home->idd);
			d += strlen(home->idd);
		}
		else if (HasPrefix(d, n, "00"))
		{
			plus = 1;
			n -= 2;
			d += 2;
		}
	}
	if (plus)
	{
		cc = DetectCode(d, n, &cclen);
		if (cc == 0)
			return n < 3 ? PHONE_NO_DIGITS : PHONE_UNKNOWN_CODE;
		d += cclen;
		n -= cclen;
	}
	else
	{
		const CallingRule *rule;

		if (default_cc == 0)
			return PHONE_NO_COUNTRY;
		cc = default_cc;
		rule = FindRule(cc);
		/* Strip the trunk prefix when what remains has a valid length. */
		if (rule && HasPrefix(d, n, rule->trunk))
		{
			int			tl = (int) strlen(rule->trunk);

			if (n - tl >= rule->min_len && n - tl <= rule->max_len)
			{
				d += tl;
				n -= tl;
			}
		}
	}
	if (n <= 0)
		return PHONE_NO_DIGITS;
	{
		PhoneStatus st = CheckNational(cc, d, n, info);

		if (st != PHONE_OK)
			return st;
	}
	*out = ToValue(cc, d, n);
	return PHONE_OK;
}

/* Writes the decimal digits of v to buf (at least 21 bytes); returns the count. */
static int
ValueDigits(uint64_t v, char *buf)
{
	char		tmp[24];
	int			n = 0;
	int			i;

	do
	{
		tmp[n++] = (char) ('0' + (v % 10));
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

PhoneStatus
phone_check_value(uint64_t value, PhoneInfo *info)
{
	char		buf[24];
	int			n = ValueDigits(value, buf);
	int			cclen = 0;
	int			cc;

	memset(info, 0, sizeof(*info));
	if (n > PHONE_MAX_DIGITS)
		return PHONE_TOO_LONG;
	cc = DetectCode(buf, n, &cclen);
	if (cc == 0)
		return PHONE_UNKNOWN_CODE;
	if (n == cclen)
		return PHONE_NO_DIGITS;
	return CheckNational(cc, buf + cclen, n - cclen, info);
}

int
phone_country_calling_code(const char *iso)
{
	int			i;
	char		up[3];

	if (iso == NULL || strlen(iso) != 2)
		return 0;
	up[0] = (char) ((iso[0] >= 'a' && iso[0] <= 'z') ? iso[0] - 32 : iso[0]);
	up[1] = (char) ((iso[1] >= 'a' && iso[1] <= 'z') ? iso[1] - 32 : iso[1]);
	up[2] = '\0';
	for (i = 0; i < lengthof_array(iso_codes); i++)
		if (strcmp(iso_codes[i].iso, up) == 0)
			return iso_codes[i].cc;
	return 0;
}

int
phone_split(uint64_t value, char *nsn, size_t nsnsize)
{
	char		buf[24];
	int			n = ValueDigits(value, buf);
	int			cclen = 0;
	int			cc = DetectCode(buf, n, &cclen);

	snprintf(nsn, nsnsize, "%s", buf + cclen);
	return cc;
}

/* Fills sizes[] with the display groups of an n-digit national number. */
static int
Groups(int cc, const char *nsn, int n, int *sizes)
{
	const CallingRule *rule = FindRule(cc);
	const char *p = rule ? rule->groups : "";
	int			count = 0;
	int			rest;

	if (cc == 86 && n == 10 && nsn[0] != '1' && nsn[0] != '2')
		p = "10:334";			/* three-digit area codes */
	while (*p)
	{
		int			len = 0;

		while (*p >= '0' && *p <= '9')
			len = len * 10 + (*p++ - '0');
		if (*p == ':')
			p++;
		if (len == n)
		{
			int			sum = 0;

			while (*p >= '1' && *p <= '9' && count < n)
			{
				sizes[count] = *p++ - '0';
				sum += sizes[count++];
			}
			if (sum == n)
				return count;
			count = 0;			/* a pattern that does not fit: use the general rule */
			break;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	/* General rule: a last group of four, threes before it. */
	if (n <= 4)
	{
		sizes[0] = n;
		return 1;
	}
	rest = n - 4;
	while (rest > 0)
	{
		int			g = rest == 4 ? 2 : (rest < 3 ? rest : 3);

		sizes[count++] = g;
		rest -= g;
	}
	sizes[count++] = 4;
	return count;
}

void
phone_format(uint64_t value, PhoneStyle style, char *buf, size_t bufsize)
{
	char		nsn[24];
	int			cc = phone_split(value, nsn, sizeof(nsn));
	int			n = (int) strlen(nsn);
	int			sizes[24];
	int			ng;
	int			g;
	int			pos = 0;
	size_t		used = 0;
	const CallingRule *rule = FindRule(cc);
	const char *sep = cc == 1 ? "-" : " ";

	if (style == PHONE_STYLE_E164)
	{
		snprintf(buf, bufsize, "+%d%s", cc, nsn);
		return;
	}
	ng = Groups(cc, nsn, n, sizes);
	if (style == PHONE_STYLE_INTERNATIONAL)
		used = (size_t) snprintf(buf, bufsize, "+%d ", cc);
	else if (cc == 1)
	{
		/* North American national style: (415) 555-2671 */
		snprintf(buf, bufsize, "(%.3s) %.3s-%s", nsn, nsn + 3, nsn + 6);
		return;
	}
	else if (rule && rule->trunk[0] && !(cc == 86 && nsn[0] == '1' && n == 11))
		used = (size_t) snprintf(buf, bufsize, strcmp(rule->trunk, "0") == 0 ? "%s" : "%s ",
								 rule->trunk);
	else
		buf[0] = '\0';
	for (g = 0; g < ng && used + 1 < bufsize; g++)
	{
		int			w = snprintf(buf + used, bufsize - used, "%s%.*s",
								 g > 0 ? sep : "", sizes[g], nsn + pos);

		if (w < 0)
			break;
		used += (size_t) w;
		pos += sizes[g];
	}
}

void
phone_status_detail(PhoneStatus status, const PhoneInfo *info, char *buf, size_t bufsize)
{
	switch (status)
	{
		case PHONE_OK:
			snprintf(buf, bufsize, "The number is valid.");
			break;
		case PHONE_EMPTY:
			snprintf(buf, bufsize, "The value is empty.");
			break;
		case PHONE_BAD_CHAR:
			if ((unsigned char) info->bad_char >= 0x20 && (unsigned char) info->bad_char < 0x7f)
				snprintf(buf, bufsize, "The character \"%c\" is not allowed in a telephone number.",
						 info->bad_char);
			else
				snprintf(buf, bufsize, "The byte 0x%02x is not allowed in a telephone number.",
						 (unsigned char) info->bad_char);
			break;
		case PHONE_NO_DIGITS:
			snprintf(buf, bufsize, "The value has too few digits to be a telephone number.");
			break;
		case PHONE_TOO_LONG:
			snprintf(buf, bufsize, "An E.164 number has at most 15 digits including the country code.");
			break;
		case PHONE_NO_COUNTRY:
			snprintf(buf, bufsize, "The number has no country code and crm.default_country is not set.");
			break;
		case PHONE_UNKNOWN_CODE:
			snprintf(buf, bufsize, "No country uses the calling code at the start of the number.");
			break;
		case PHONE_LENGTH:
			if (info->min_len == info->max_len)
				snprintf(buf, bufsize, "National numbers of country code +%d have %d digits, not %d.",
						 info->cc, info->min_len, info->nsn_len);
			else
				snprintf(buf, bufsize, "National numbers of country code +%d have %d to %d digits, not %d.",
						 info->cc, info->min_len, info->max_len, info->nsn_len);
			break;
		case PHONE_LEADING_ZERO:
			snprintf(buf, bufsize, "National numbers of country code +%d do not start with 0.", info->cc);
			break;
		case PHONE_NANP_AREA:
			snprintf(buf, bufsize, "A North American area code does not start with 0 or 1.");
			break;
		case PHONE_NANP_EXCHANGE:
			snprintf(buf, bufsize, "A North American exchange code (digits 4 to 6) does not start with 0 or 1.");
			break;
	}
}

const char *
phone_status_hint(PhoneStatus status)
{
	switch (status)
	{
		case PHONE_NO_COUNTRY:
			return "Write the number with its country code, as in +1 415 555 2671, or set crm.default_country, as in SET crm.default_country = 'US'.";
		case PHONE_BAD_CHAR:
			return "Use digits, a leading \"+\", and spaces, hyphens, dots, slashes or parentheses between them.";
		case PHONE_LEADING_ZERO:
			return "Leave out the national trunk prefix 0 after the country code, or write it as \"(0)\".";
		case PHONE_EMPTY:
			return "Use NULL for an unknown number.";
		default:
			return "Write the number with its country code, as in +44 20 7946 0958.";
	}
}
