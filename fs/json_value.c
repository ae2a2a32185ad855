/* json_value.c - what a parsed value is worth (see include/json.h).
 *
 * The JSON number grammar is written once, in dfs_json_scan_number: the
 * parser uses it to read literals and word its errors, dfs_json_is_number to
 * tell a number literal from other Raw text, and the exact comparison below
 * to find a literal's digits and exponent.  dfs_json_same_value is how a
 * save tells a changed column from an unchanged one: numbers by decimal
 * value, never through a double (money has 19 significant digits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "banned.h"

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * The digits at *Q (before END), of which there must be one at least: their
 * start and count go to *AT and *N, and *Q moves past them.  0, or -EINVAL
 * if there is none.
 */
static int digit_run(const char **q, const char *end, const char **at, size_t *n)
{
	const char *p = *q;

	while (p < end && is_digit(*p))
		p++;
	*at = *q;
	*n = (size_t)(p - *q);
	*q = p;
	return *n ? 0 : -EINVAL;
}

int dfs_json_scan_number(const char *s, const char *end, struct dfs_json_num *num)
{
	const char *q = s;

	memset(num, 0, sizeof(*num));
	if (q < end && *q == '-') {
		num->neg = 1;
		q++;
	}
	if (digit_run(&q, end, &num->intg, &num->n_int) < 0) {
		num->err = DFS_JSON_NUM_NO_DIGIT;
		goto bad;
	}
	/* "0" is the only integer part that may start with a zero. */
	if (num->intg[0] == '0' && num->n_int > 1) {
		q = num->intg + 1;
		num->err = DFS_JSON_NUM_LEADING_ZERO;
		goto bad;
	}
	if (q < end && *q == '.') {
		q++;
		if (digit_run(&q, end, &num->frac, &num->n_frac) < 0) {
			num->err = DFS_JSON_NUM_NO_FRACTION;
			goto bad;
		}
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			num->exp_neg = *q++ == '-';
		if (digit_run(&q, end, &num->exp, &num->n_exp) < 0) {
			num->err = DFS_JSON_NUM_NO_EXPONENT;
			goto bad;
		}
	}
	num->end = q;
	return 0;
bad:
	num->end = q;
	return -EINVAL;
}

/* Is S exactly one JSON number literal? */
static int is_number_literal(const char *s)
{
	struct dfs_json_num num;
	const char *end = s + strlen(s);

	return dfs_json_scan_number(s, end, &num) == 0 && num.end == end;
}

int dfs_json_is_number(const cJSON *item)
{
	if (!item)
		return 0;
	if (cJSON_IsNumber(item))
		return 1;
	return cJSON_IsRaw(item) && item->valuestring &&
	       is_number_literal(item->valuestring);
}

double dfs_json_number(const cJSON *item)
{
	if (!dfs_json_is_number(item))
		return 0;
	if (cJSON_IsNumber(item))
		return item->valuedouble;
	/* The literal is valid JSON, which strtod accepts in the C locale
	 * (the only one dynfs runs in). */
	return strtod(item->valuestring, NULL);
}

/* ---- exact comparison -------------------------------------------------- */

/*
 * A JSON number literal seen as 0.d1d2...dn x 10^pos with d1 and dn
 * non-zero: two literals are the same number exactly when sign, pos and the
 * digits agree.  The digits are read in place (integer digits, then
 * fraction digits), so any number of them compares exactly.
 */
struct decimal {
	struct dfs_json_num num;
	int zero;
	size_t first;		/* index of the first non-zero digit */
	size_t n;		/* significant digits */
	long pos;
};

/* Exponents beyond this are not worth exact arithmetic; such literals
 * compare by their text. */
#define EXP_LIMIT 100000000L

/* Digit I of the mantissa: the integer digits, then the fraction's. */
static char decimal_digit(const struct decimal *d, size_t i)
{
	return i < d->num.n_int ? d->num.intg[i] : d->num.frac[i - d->num.n_int];
}

/* 0, or -EINVAL if S is not one number literal, -ERANGE if its exponent
 * is beyond EXP_LIMIT. */
static int decimal_parse(const char *s, struct decimal *d)
{
	const char *end = s + strlen(s);
	size_t total, last = 0, i;
	int have_first = 0;
	long e = 0;

	memset(d, 0, sizeof(*d));
	if (dfs_json_scan_number(s, end, &d->num) < 0 || d->num.end != end)
		return -EINVAL;
	for (i = 0; i < d->num.n_exp; i++) {
		e = e * 10 + (d->num.exp[i] - '0');
		if (e > EXP_LIMIT)
			return -ERANGE;
	}
	total = d->num.n_int + d->num.n_frac;
	for (i = 0; i < total; i++) {
		if (decimal_digit(d, i) == '0')
			continue;
		if (!have_first) {
			d->first = i;
			have_first = 1;
		}
		last = i;
	}
	if (!have_first) {
		d->zero = 1;	/* -0 == 0 */
		return 0;
	}
	d->n = last - d->first + 1;
	d->pos = (d->num.exp_neg ? -e : e) + (long)d->num.n_int - (long)d->first;
	return 0;
}

static const char *number_text(const cJSON *item, char *buf, size_t cap)
{
	if (cJSON_IsRaw(item))
		return item->valuestring;
	snprintf(buf, cap, "%.17g", item->valuedouble);
	return buf;
}

static int same_number(const cJSON *a, const cJSON *b)
{
	char ta[40], tb[40];
	const char *sa = number_text(a, ta, sizeof(ta));
	const char *sb = number_text(b, tb, sizeof(tb));
	struct decimal da, db;
	size_t i;

	/* "inf" from a double, or an absurd exponent: the text decides. */
	if (decimal_parse(sa, &da) < 0 || decimal_parse(sb, &db) < 0)
		return strcmp(sa, sb) == 0;
	if (da.zero || db.zero)
		return da.zero && db.zero;
	if (da.num.neg != db.num.neg || da.pos != db.pos || da.n != db.n)
		return 0;
	for (i = 0; i < da.n; i++)
		if (decimal_digit(&da, da.first + i) != decimal_digit(&db, db.first + i))
			return 0;
	return 1;
}

int dfs_json_is_null(const cJSON *item)
{
	return !item || cJSON_IsNull(item);
}

int dfs_json_same_value(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;
	int n = 0;

	/* A column a record does not carry holds null. */
	if (dfs_json_is_null(a) || dfs_json_is_null(b))
		return dfs_json_is_null(a) && dfs_json_is_null(b);
	if (dfs_json_is_number(a) && dfs_json_is_number(b))
		return same_number(a, b);
	if ((a->type & 0xff) != (b->type & 0xff))
		return 0;
	switch (a->type & 0xff) {
	case cJSON_True:
	case cJSON_False:
		return 1;
	case cJSON_String:
	case cJSON_Raw:
		return a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0;
	case cJSON_Array:
		for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
			if (!dfs_json_same_value(x, y))
				return 0;
		return !x && !y;
	case cJSON_Object:
		/* Members by name: key order carries no meaning. */
		for (x = a->child; x; x = x->next, n--) {
			y = x->string ? cJSON_GetObjectItemCaseSensitive(b, x->string) : NULL;
			if (!y || !dfs_json_same_value(x, y))
				return 0;
		}
		for (y = b->child; y; y = y->next)
			n++;
		return n == 0;
	}
	return 0;
}
