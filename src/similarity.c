/*
 * similarity.c: string similarity for finding duplicate customers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#define JW_STACK 64

/*
 * Jaro-Winkler similarity of two character arrays: 1 for equal strings, 0 for
 * strings with nothing in common; the Winkler bonus rewards a common prefix of
 * up to four characters with weight 0.1.
 */
static double
JaroWinkler(const pg_wchar *a, int la, const pg_wchar *b, int lb)
{
	bool		ma_stack[JW_STACK],
				mb_stack[JW_STACK];
	bool	   *ma = la <= JW_STACK ? ma_stack : palloc(la * sizeof(bool));
	bool	   *mb = lb <= JW_STACK ? mb_stack : palloc(lb * sizeof(bool));
	int			window;
	int			matches = 0;
	int			transpositions = 0;
	int			prefix = 0;
	int			i,
				j,
				k;
	double		jaro;

	if (la == 0 && lb == 0)
		return 1.0;
	if (la == 0 || lb == 0)
		return 0.0;
	window = Max(la, lb) / 2 - 1;
	if (window < 0)
		window = 0;
	memset(ma, 0, la * sizeof(bool));
	memset(mb, 0, lb * sizeof(bool));
	for (i = 0; i < la; i++)
	{
		int			lo = Max(0, i - window);
		int			hi = Min(lb - 1, i + window);

		for (j = lo; j <= hi; j++)
		{
			if (!mb[j] && a[i] == b[j])
			{
				ma[i] = mb[j] = true;
				matches++;
				break;
			}
		}
	}
	if (matches == 0)
		return 0.0;
	for (i = 0, k = 0; i < la; i++)
	{
		if (!ma[i])
			continue;
		while (!mb[k])
			k++;
		if (a[i] != b[k])
			transpositions++;
		k++;
	}
	jaro = ((double) matches / la + (double) matches / lb +
			(double) (matches - transpositions / 2) / matches) / 3.0;
	while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
		prefix++;
	if (ma != ma_stack)
		pfree(ma);
	if (mb != mb_stack)
		pfree(mb);
	return jaro + prefix * 0.1 * (1.0 - jaro);
}

/* Decodes a text into characters of the database encoding. */
static pg_wchar *
ToWide(text *t, int *len)
{
	int			bytes = VARSIZE_ANY_EXHDR(t);
	pg_wchar   *w = palloc((bytes + 1) * sizeof(pg_wchar));

	*len = pg_mb2wchar_with_len(VARDATA_ANY(t), w, bytes);
	return w;
}

PG_FUNCTION_INFO_V1(jaro_winkler);
/* SQL: crm.jaro_winkler(text, text) returns float8 in [0, 1]. */
Datum
jaro_winkler(PG_FUNCTION_ARGS)
{
	int			la,
				lb;
	pg_wchar   *a = ToWide(PG_GETARG_TEXT_PP(0), &la);
	pg_wchar   *b = ToWide(PG_GETARG_TEXT_PP(1), &lb);

	PG_RETURN_FLOAT8(JaroWinkler(a, la, b, lb));
}
