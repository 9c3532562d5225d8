/*
 * fuzz_types.c: feeds random and mutated byte strings to the parsers behind
 * crm.email and crm.phone (the same code the input and receive functions
 * call) and checks their invariants.  Built with AddressSanitizer and
 * UndefinedBehaviorSanitizer by test/fuzz.sh; exits non-zero on any finding.
 *
 * usage: fuzz_types [iterations] [seed]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email_core.h"
#include "phone_core.h"

static uint64_t rng_state;

static uint32_t
Rand(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t) ((rng_state * 2685821657736338717ULL) >> 32);
}

static const char *seeds[] = {
	"john.doe@example.com", "A.B+tag@sub.Example.CO.uk", "o'brien@x-y.example", "a@xn--fsqu00a.xn--0zwm56d",
	"user@[192.168.0.1]", "\"quoted\"@example.com", "x@y", "@example.com", "a@b@c.de", " spaced @ex.com ",
	"+86 138-0013-8000", "(415) 555-2671", "0044 20 7946 0958", "+49 (0)30 1234567", "+1 415 555 2671 ext 3",
	"011 44 20 7946 0958", "8 912 345-67-89", "0011 44 20 7946 0958", "+999 123", "+", "00", "(0)", "+683 4002",
	"010-1234 5678", "+39 06 1234 5678", "1-800-FLOWERS", "+８６ 138", "++86 138 0013 8000",
};

static const int countries[] = {0, 1, 7, 44, 49, 39, 61, 81, 86, 91, 234, 852};

static long failures = 0;

static void
Fail(const char *what, const char *buf, size_t len)
{
	size_t		i;

	failures++;
	fprintf(stderr, "FINDING: %s on input of %zu bytes:", what, len);
	for (i = 0; i < len; i++)
		fprintf(stderr, " %02x", (unsigned char) buf[i]);
	fprintf(stderr, "\n");
}

/* Makes one input: random bytes, random characters from a small alphabet, or a mutated seed. */
static size_t
MakeInput(char *buf, size_t cap)
{
	uint32_t	kind = Rand() % 4;
	size_t		len = 0;
	size_t		i;

	if (kind == 0)
	{
		len = Rand() % 300;
		for (i = 0; i < len; i++)
			buf[i] = (char) (Rand() & 0xff);
	}
	else if (kind == 1)
	{
		static const char alphabet[] = "0123456789+-() ./@aZ._x\t\n(0)00";

		len = Rand() % 40;
		for (i = 0; i < len; i++)
			buf[i] = alphabet[Rand() % (sizeof(alphabet) - 1)];
	}
	else
	{
		const char *s = seeds[Rand() % (sizeof(seeds) / sizeof(seeds[0]))];
		int			m,
					mutations = 1 + Rand() % 4;

		len = strlen(s);
		memcpy(buf, s, len);
		for (m = 0; m < mutations; m++)
		{
			uint32_t	op = Rand() % 5;
			size_t		pos = len ? Rand() % len : 0;

			if (op == 0 && len)
				buf[pos] = (char) (Rand() & 0xff);	/* replace */
			else if (op == 1 && len + 1 < cap)
			{
				memmove(buf + pos + 1, buf + pos, len - pos);	/* insert */
				buf[pos] = (char) (Rand() & 0xff);
				len++;
			}
			else if (op == 2 && len)
			{
				memmove(buf + pos, buf + pos + 1, len - pos - 1);	/* delete */
				len--;
			}
			else if (op == 3 && len && len * 2 < cap)
			{
				memcpy(buf + len, buf, len);	/* duplicate */
				len *= 2;
			}
			else if (op == 4 && len)
				buf[pos] ^= (char) (1 << (Rand() % 8));	/* bit flip */
		}
	}
	return len;
}

static void
CheckEmail(const char *in, size_t len)
{
	char	   *out = malloc(len + 1);
	char	   *again = malloc(len + 1);
	size_t		outlen = 0,
				againlen = 0;
	EmailStatus st = email_normalize(in, len, out, &outlen);

	if (email_status_detail(st) == NULL || email_status_hint(st) == NULL)
		Fail("email status without text", in, len);
	if (st == EMAIL_OK)
	{
		size_t		i,
					ats = 0;

		if (outlen > EMAIL_MAX_LEN || outlen > len)
			Fail("email output too long", in, len);
		for (i = 0; i < outlen; i++)
		{
			if (out[i] == '@')
				ats++;
			if (out[i] >= 'A' && out[i] <= 'Z')
				Fail("email output not lower case", in, len);
		}
		if (ats != 1)
			Fail("email output without exactly one @", in, len);
		if (email_normalize(out, outlen, again, &againlen) != EMAIL_OK ||
			againlen != outlen || memcmp(out, again, outlen) != 0)
			Fail("email normalisation not idempotent", in, len);
	}
	free(out);
	free(again);
}

static void
CheckPhone(const char *in, size_t len)
{
	int			cc = countries[Rand() % (sizeof(countries) / sizeof(countries[0]))];
	uint64_t	v = 0,
				v2 = 0;
	PhoneInfo	info;
	PhoneStatus st = phone_parse(in, len, cc, &v, &info);
	char		detail[256];

	phone_status_detail(st, &info, detail, sizeof(detail));
	if (phone_status_hint(st) == NULL || detail[0] == '\0')
		Fail("phone status without text", in, len);
	if (st == PHONE_OK)
	{
		char		buf[64];
		char	   *exact = malloc(40);	/* exactly the documented size: ASan sees any overrun */
		int			style;

		if (phone_check_value(v, &info) != PHONE_OK)
			Fail("parsed phone fails the value check", in, len);
		for (style = 0; style < 3; style++)
		{
			phone_format(v, (PhoneStyle) style, exact, 40);
			if (strlen(exact) >= 40)
				Fail("phone format overflow", in, len);
		}
		free(exact);
		phone_format(v, PHONE_STYLE_E164, buf, sizeof(buf));
		if (phone_parse(buf, strlen(buf), 0, &v2, &info) != PHONE_OK || v2 != v)
			Fail("E.164 output does not parse back to the same number", in, len);
		phone_format(v, PHONE_STYLE_INTERNATIONAL, buf, sizeof(buf));
		if (phone_parse(buf, strlen(buf), 0, &v2, &info) != PHONE_OK || v2 != v)
			Fail("international output does not parse back to the same number", in, len);
	}
}

int
main(int argc, char **argv)
{
	long		iterations = argc > 1 ? atol(argv[1]) : 1000000;
	uint64_t	seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261123;
	char	   *buf = malloc(1024);
	long		i;

	rng_state = seed ? seed : 1;
	for (i = 0; i < iterations; i++)
	{
		size_t		len = MakeInput(buf, 1024);
		/* exact-size copy so the sanitizer sees any read past the end */
		char	   *in = malloc(len ? len : 1);

		memcpy(in, buf, len);
		CheckEmail(in, len);
		CheckPhone(in, len);
		free(in);
	}
	printf("fuzz: %ld inputs through crm.email and crm.phone parsers, %ld findings\n", iterations, failures);
	free(buf);
	return failures ? 1 : 0;
}
