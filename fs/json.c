/* json.c - the strict JSON parser: text to a cJSON tree (see include/json.h).
 *
 * Why not cJSON_Parse: it turns numbers into doubles (losing money digits),
 * accepts some invalid input, allows duplicate keys and only reports where it
 * stopped, not why.  Record files are edited by people, so the parser follows
 * RFC 8259 to the letter and says what it expected at which line and column.
 *
 * The tree is a plain cJSON tree that cJSON_Delete frees and the cJSON API
 * can read and extend: children are linked with first->prev pointing at the
 * last child, as cJSON 1.7.15 itself does (its cJSON_AddItemToArray uses that
 * to append in O(1)).  Strings and keys are allocated with cJSON_malloc so
 * cJSON_Delete releases them with the matching hook.
 *
 * Rendering a tree back to text is json_render.c's; what a parsed number is
 * worth is json_value.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"
#include "banned.h"

/* ---- parser ------------------------------------------------------------ */

/*
 * A key of an object being parsed.  Duplicates are found when the object
 * ends: its keys are sorted and neighbours compared.  (Finding them as each
 * key is read would need a hash table per depth; a record has a hundred
 * keys, and sorting them once is about as fast and far simpler.)
 */
struct keyref {
	const char *key;	/* decoded, owned by the tree or parse_object */
	size_t len;
	const char *at;		/* its opening quote in the input */
};

struct parser {
	const char *text;	/* start of input, for line and column */
	const char *p;		/* next unread byte */
	const char *end;
	char *err;
	size_t errlen;
	int failed;
	const char *err_at;	/* where the reported error is (NULL: out of memory) */
	/* The keys of every object being parsed, the innermost one's last. */
	struct keyref *keys;
	size_t n_keys, cap_keys;
};

/* Bytes that may appear unescaped in a string and are plain ASCII, i.e.
 * everything the fast path can copy without looking closer. */
static const unsigned char str_plain[256] = {
	[0x20 ... 0x21] = 1,	/* all but '"' (0x22) */
	[0x23 ... 0x5b] = 1,	/* all but '\\' (0x5c) */
	[0x5d ... 0x7f] = 1,
};

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_word(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '_';
}

static void line_col(const char *text, const char *at,
		     unsigned long *line, unsigned long *col)
{
	const char *q;

	*line = 1;
	*col = 1;
	/* Columns count characters, not bytes: UTF-8 continuation bytes
	 * don't advance them, so "Müller" is six columns wide as users see. */
	for (q = text; q < at; q++) {
		if (*q == '\n') {
			++*line;
			*col = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			++*col;
		}
	}
}

static void fail(struct parser *ps, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parser *ps, const char *at, const char *fmt, ...)
{
	unsigned long line, col;
	va_list ap;
	int n;

	/* The error that comes first in the text is reported.  Parsing stops
	 * at the first one it meets, but a duplicate key is only found when
	 * its object ends, after what follows it has been read. */
	if (ps->failed && (!ps->err_at || at >= ps->err_at))
		return;
	ps->failed = 1;
	ps->err_at = at;
	if (!ps->err || !ps->errlen)
		return;
	line_col(ps->text, at, &line, &col);
	n = snprintf(ps->err, ps->errlen, "line %lu, column %lu: ", line, col);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void fail_oom(struct parser *ps)
{
	if (ps->failed)
		return;
	ps->failed = 1;
	ps->err_at = NULL;
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "out of memory");
}

/*
 * Length of the valid UTF-8 sequence at P (whose lead byte is >= 0x80), or
 * 0 with *BAD pointing at the first byte that breaks it.  Follows Unicode's
 * table of well-formed sequences: no overlong forms, no encoded surrogates,
 * nothing above U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end,
		       const unsigned char **bad)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad = p;
		return 0;
	}
	for (i = 1; i < n; i++) {
		if (p + i >= end || p[i] < lo || p[i] > hi) {
			*bad = p + i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* Say what is at AT, for "expected X, found Y" messages. */
static const char *describe(const struct parser *ps, const char *at,
			    char *buf, size_t size)
{
	const unsigned char *u = (const unsigned char *)at;
	const unsigned char *bad;
	size_t n;

	if (at >= ps->end)
		return "end of input";
	if (is_word(*u)) {
		/* A whole word reads better than its first letter: "NaN". */
		for (n = 0; at + n < ps->end && is_word(at[n]) && n < 24; n++)
			;
		snprintf(buf, size, "'%.*s'%s", (int)n, at,
			 at + n < ps->end && is_word(at[n]) ? "..." : "");
		return buf;
	}
	switch (*u) {
	case '\'':
		return "a single quote (JSON strings use double quotes)";
	case ' ':
		return "a space";
	case '\t':
		return "a tab";
	case '\n':
		return "a line break";
	case '\r':
		return "a carriage return";
	}
	if (*u > 0x20 && *u < 0x7f) {
		snprintf(buf, size, "'%c'", *u);
		return buf;
	}
	if (*u >= 0x80) {
		n = utf8_seq(u, (const unsigned char *)ps->end, &bad);
		if (n == 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
			return "a byte order mark (U+FEFF)";
		if (n) {
			snprintf(buf, size, "'%.*s'", (int)n, at);
			return buf;
		}
	}
	snprintf(buf, size, "byte 0x%02x", *u);
	return buf;
}

static void skip_ws(struct parser *ps)
{
	const char *p = ps->p, *end = ps->end;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

/* A fresh item of TYPE; the cJSON_Create* functions would copy strings we
 * have already allocated, so strings and numbers get their type set here. */
static cJSON *new_item(struct parser *ps, int type)
{
	cJSON *item = cJSON_CreateNull();

	if (!item) {
		fail_oom(ps);
		return NULL;
	}
	item->type = type;
	return item;
}

/* Append ITEM to PARENT in O(1), keeping cJSON's first->prev == last. */
static void link_child(cJSON *parent, cJSON **tail, cJSON *item)
{
	if (!*tail) {
		parent->child = item;
	} else {
		(*tail)->next = item;
		item->prev = *tail;
	}
	parent->child->prev = item;
	*tail = item;
}

/* Remember KEY (LEN bytes, at AT in the input) for the duplicate check. */
static int push_key(struct parser *ps, const char *key, size_t len, const char *at)
{
	if (ps->n_keys == ps->cap_keys) {
		size_t ncap = ps->cap_keys ? ps->cap_keys * 2 : 256;
		struct keyref *nk = realloc(ps->keys, ncap * sizeof(*nk));

		if (!nk) {
			fail_oom(ps);
			return -ENOMEM;
		}
		ps->keys = nk;
		ps->cap_keys = ncap;
	}
	ps->keys[ps->n_keys++] = (struct keyref){ .key = key, .len = len, .at = at };
	return 0;
}

/* By key, then by place in the input. */
static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * Report the first key in the text of the object whose keys are
 * ps->keys[BASE...] that repeats an earlier key of it, and forget those
 * keys.  Sorted, equal keys stand together in text order, so the second
 * of each run is where that key is first repeated.  Returns 0, or -EINVAL
 * if a key repeats.
 */
static int check_keys(struct parser *ps, size_t base)
{
	const struct keyref *dup = NULL;
	size_t n = ps->n_keys - base, i;
	struct keyref *k;
	char shown[80];

	ps->n_keys = base;
	if (n < 2)
		return 0;	/* also before the first key: ps->keys is NULL */
	k = ps->keys + base;
	qsort(k, n, sizeof(*k), cmp_keyref);
	for (i = 1; i < n; i++)
		if (k[i].len == k[i - 1].len && !memcmp(k[i].key, k[i - 1].key, k[i].len) &&
		    (!dup || k[i].at < dup->at))
			dup = &k[i];
	if (!dup)
		return 0;
	fail(ps, dup->at, "duplicate key '%s'",
	     dfs_printable(dup->key, dup->len, shown, sizeof(shown)));
	return -EINVAL;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The 4 hex digits at P as a number, or -1. */
static long hex4(const unsigned char *p, const unsigned char *end)
{
	long v = 0;
	int i, d;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if (is_digit(p[i]))
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * Decode the string at ps->p (which is at its opening quote) into a new
 * cJSON_malloc'd buffer.  Returns 0 and sets *OUT / *OUTLEN, or -EINVAL or
 * -ENOMEM with the error reported in PS.
 */
static int parse_string(struct parser *ps, char **out, size_t *outlen)
{
	const unsigned char *start = (const unsigned char *)ps->p;
	const unsigned char *end = (const unsigned char *)ps->end;
	const unsigned char *s = start + 1, *q = s, *r, *bad;
	char *buf, *o;
	char what[48];
	long cp, lo;
	size_t n;

	/* Fast path: plain ASCII up to the closing quote, copied in one go. */
	while (q < end && str_plain[*q])
		q++;

	/* Otherwise find where the string ends to bound the decoded size
	 * (decoding never makes a string longer). */
	r = q;
	while (r < end && *r != '"')
		r += (*r == '\\' && r + 1 < end) ? 2 : 1;

	buf = cJSON_malloc((size_t)(r - s) + 1);
	if (!buf) {
		fail_oom(ps);
		return -ENOMEM;
	}
	memcpy(buf, s, (size_t)(q - s));
	o = buf + (q - s);

	for (;;) {
		while (q < end && str_plain[*q])
			*o++ = (char)*q++;
		if (q >= end) {
			fail(ps, (const char *)start, "unterminated string");
			goto err;
		}
		if (*q == '"')
			break;
		if (*q < 0x20) {
			static const char *const name[0x20] = {
				['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n",
				['\r'] = "\\r", ['\t'] = "\\t",
			};
			char u[8];

			snprintf(u, sizeof(u), "\\u%04x", *q);
			fail(ps, (const char *)q,
			     "unescaped control character U+%04X in string (write it as %s)",
			     *q, name[*q] ? name[*q] : u);
			goto err;
		}
		if (*q >= 0x80) {
			n = utf8_seq(q, end, &bad);
			if (!n) {
				if (bad == q)
					fail(ps, (const char *)q,
					     "invalid UTF-8 byte 0x%02x in string", *q);
				else if (bad >= end)
					fail(ps, (const char *)q,
					     "invalid UTF-8 in string: byte 0x%02x is cut off by the end of input",
					     *q);
				else
					fail(ps, (const char *)q,
					     "invalid UTF-8 in string: byte 0x%02x followed by 0x%02x",
					     *q, *bad);
				goto err;
			}
			memcpy(o, q, n);
			o += n;
			q += n;
			continue;
		}

		/* A backslash. */
		if (q + 1 >= end) {
			fail(ps, (const char *)start, "unterminated string");
			goto err;
		}
		switch (q[1]) {
		case '"':  *o++ = '"';  q += 2; continue;
		case '\\': *o++ = '\\'; q += 2; continue;
		case '/':  *o++ = '/';  q += 2; continue;
		case 'b':  *o++ = '\b'; q += 2; continue;
		case 'f':  *o++ = '\f'; q += 2; continue;
		case 'n':  *o++ = '\n'; q += 2; continue;
		case 'r':  *o++ = '\r'; q += 2; continue;
		case 't':  *o++ = '\t'; q += 2; continue;
		case 'u':
			break;
		default:
			if (q[1] > 0x20 && q[1] < 0x7f)
				fail(ps, (const char *)q,
				     "invalid escape '\\%c' in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
				     q[1]);
			else
				fail(ps, (const char *)q,
				     "invalid escape in string: '\\' followed by %s",
				     describe(ps, (const char *)q + 1, what, sizeof(what)));
			goto err;
		}
		cp = hex4(q + 2, end);
		if (cp < 0) {
			fail(ps, (const char *)q,
			     "expected 4 hex digits after '\\u' in string");
			goto err;
		}
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			fail(ps, (const char *)q,
			     "lone surrogate '%.6s' in string (a low surrogate must follow a high surrogate \\ud800-\\udbff)",
			     (const char *)q);
			goto err;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			lo = -1;
			if (end - q >= 12 && q[6] == '\\' && q[7] == 'u')
				lo = hex4(q + 8, end);
			if (lo < 0xdc00 || lo > 0xdfff) {
				fail(ps, (const char *)q,
				     "lone surrogate '%.6s' in string (a high surrogate must be followed by a low surrogate \\udc00-\\udfff)",
				     (const char *)q);
				goto err;
			}
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			q += 6;
		}
		if (cp == 0) {
			/* cJSON strings are NUL-terminated; accepting this
			 * would silently cut the string short. */
			fail(ps, (const char *)q,
			     "'\\u0000' in string is not supported (strings cannot contain NUL)");
			goto err;
		}
		o += put_utf8(o, (uint32_t)cp);
		q += 6;
	}

	*o = '\0';
	*out = buf;
	*outlen = (size_t)(o - buf);
	ps->p = (const char *)q + 1;
	return 0;
err:
	cJSON_free(buf);
	return -EINVAL;
}

static cJSON *parse_string_item(struct parser *ps)
{
	cJSON *item;
	char *s;
	size_t len;

	if (parse_string(ps, &s, &len) < 0)
		return NULL;
	item = new_item(ps, cJSON_String);
	if (!item) {
		cJSON_free(s);
		return NULL;
	}
	item->valuestring = s;
	return item;
}

/* Say what dfs_json_scan_number found wrong with the number at S. */
static void number_error(struct parser *ps, const char *s, const struct dfs_json_num *num)
{
	const char *q = num->end, *e;
	char what[48];

	switch (num->err) {
	case DFS_JSON_NUM_LEADING_ZERO:
		for (e = q; e < ps->end && is_digit(*e) && e - s < 32; e++)
			;
		fail(ps, s, "invalid number '%.*s': leading zeros are not allowed",
		     (int)(e - s), s);
		return;
	case DFS_JSON_NUM_NO_FRACTION:
		fail(ps, q, "expected a digit after '.' in number, found %s",
		     describe(ps, q, what, sizeof(what)));
		return;
	case DFS_JSON_NUM_NO_EXPONENT:
		fail(ps, q, "expected a digit in the exponent of number, found %s",
		     describe(ps, q, what, sizeof(what)));
		return;
	default:
		/* parse_value only comes here at a digit or '-'. */
		fail(ps, q, "expected a digit after '-', found %s",
		     describe(ps, q, what, sizeof(what)));
		return;
	}
}

/* A number, kept as the literal (a cJSON_Raw item). */
static cJSON *parse_number(struct parser *ps)
{
	const char *s = ps->p;
	struct dfs_json_num num;
	cJSON *item;
	char *lit;
	size_t len;

	if (dfs_json_scan_number(s, ps->end, &num) < 0) {
		number_error(ps, s, &num);
		return NULL;
	}
	len = (size_t)(num.end - s);
	lit = cJSON_malloc(len + 1);
	if (!lit) {
		fail_oom(ps);
		return NULL;
	}
	memcpy(lit, s, len);
	lit[len] = '\0';
	item = new_item(ps, cJSON_Raw);
	if (!item) {
		cJSON_free(lit);
		return NULL;
	}
	item->valuestring = lit;
	ps->p = num.end;
	return item;
}

static cJSON *parse_word(struct parser *ps)
{
	const char *s = ps->p;
	char what[48];
	size_t n = 0;
	cJSON *item;

	while (s + n < ps->end && is_word(s[n]))
		n++;
	if (n == 4 && !memcmp(s, "true", 4)) {
		item = new_item(ps, cJSON_True);
	} else if (n == 5 && !memcmp(s, "false", 5)) {
		item = new_item(ps, cJSON_False);
	} else if (n == 4 && !memcmp(s, "null", 4)) {
		item = new_item(ps, cJSON_NULL);
	} else {
		fail(ps, s, "expected a value, found %s",
		     describe(ps, s, what, sizeof(what)));
		return NULL;
	}
	if (item)
		ps->p = s + n;
	return item;
}

static cJSON *parse_value(struct parser *ps, int depth);

static cJSON *parse_array(struct parser *ps, int depth)
{
	cJSON *arr, *item, *tail = NULL;
	char what[48];

	if (depth > DFS_JSON_MAX_DEPTH) {
		fail(ps, ps->p, "nesting deeper than %d levels", DFS_JSON_MAX_DEPTH);
		return NULL;
	}
	arr = new_item(ps, cJSON_Array);
	if (!arr)
		return NULL;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return arr;
	}
	for (;;) {
		item = parse_value(ps, depth);
		if (!item)
			goto err;
		link_child(arr, &tail, item);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return arr;
		}
		if (ps->p >= ps->end || *ps->p != ',') {
			fail(ps, ps->p, "expected ',' or ']' after array element, found %s",
			     describe(ps, ps->p, what, sizeof(what)));
			goto err;
		}
		ps->p++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			fail(ps, ps->p, "expected a value after ',', found ']' (trailing commas are not allowed)");
			goto err;
		}
	}
err:
	cJSON_Delete(arr);
	return NULL;
}

static cJSON *parse_object(struct parser *ps, int depth)
{
	cJSON *obj, *item, *tail = NULL;
	size_t keys = ps->n_keys;	/* where this object's keys start */
	const char *keyat;
	char *key = NULL;		/* read, not yet in the tree */
	char what[48];
	size_t keylen, n = 0;

	if (depth > DFS_JSON_MAX_DEPTH) {
		fail(ps, ps->p, "nesting deeper than %d levels", DFS_JSON_MAX_DEPTH);
		return NULL;
	}
	obj = new_item(ps, cJSON_Object);
	if (!obj)
		return NULL;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return obj;
	}
	for (;;) {
		if (ps->p >= ps->end || *ps->p != '"') {
			if (n == 0)
				fail(ps, ps->p, "expected a string key or '}', found %s",
				     describe(ps, ps->p, what, sizeof(what)));
			else if (ps->p < ps->end && *ps->p == '}')
				fail(ps, ps->p, "expected a string key after ',', found '}' (trailing commas are not allowed)");
			else
				fail(ps, ps->p, "expected a string key after ',', found %s",
				     describe(ps, ps->p, what, sizeof(what)));
			goto err;
		}
		keyat = ps->p;
		if (parse_string(ps, &key, &keylen) < 0)
			goto err;
		if (push_key(ps, key, keylen, keyat) < 0)
			goto err;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			fail(ps, ps->p, "expected ':' after object key, found %s",
			     describe(ps, ps->p, what, sizeof(what)));
			goto err;
		}
		ps->p++;
		item = parse_value(ps, depth);
		if (!item)
			goto err;
		item->string = key;
		key = NULL;
		link_child(obj, &tail, item);
		n++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			if (check_keys(ps, keys) < 0)
				goto err;
			return obj;
		}
		if (ps->p >= ps->end || *ps->p != ',') {
			fail(ps, ps->p, "expected ',' or '}' after object member, found %s",
			     describe(ps, ps->p, what, sizeof(what)));
			goto err;
		}
		ps->p++;
		skip_ws(ps);
	}
err:
	/* A key repeated before the error is the error to report. */
	check_keys(ps, keys);
	cJSON_free(key);
	cJSON_Delete(obj);
	return NULL;
}

/* DEPTH is the number of arrays and objects around the value. */
static cJSON *parse_value(struct parser *ps, int depth)
{
	char what[48];

	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, ps->p, "expected a value, found end of input");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
		return parse_object(ps, depth + 1);
	case '[':
		return parse_array(ps, depth + 1);
	case '"':
		return parse_string_item(ps);
	case '-':
	case '0' ... '9':
		return parse_number(ps);
	case '.':
	case '+':
		fail(ps, ps->p, "expected a value, found '%c' (a number must start with a digit or '-')",
		     *ps->p);
		return NULL;
	}
	if (is_word(*ps->p))
		return parse_word(ps);
	fail(ps, ps->p, "expected a value, found %s",
	     describe(ps, ps->p, what, sizeof(what)));
	return NULL;
}

cJSON *dfs_json_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
	struct parser ps;
	char what[48];
	cJSON *item;

	memset(&ps, 0, sizeof(ps));
	ps.text = text ? text : "";
	ps.p = ps.text;
	ps.end = ps.text + (text ? len : 0);
	ps.err = errbuf;
	ps.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';

	item = parse_value(&ps, 0);
	if (item) {
		skip_ws(&ps);
		if (ps.p < ps.end) {
			fail(&ps, ps.p, "expected end of input after the JSON value, found %s",
			     describe(&ps, ps.p, what, sizeof(what)));
			cJSON_Delete(item);
			item = NULL;
		}
	}
	free(ps.keys);
	return item;
}
