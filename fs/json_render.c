/* json_render.c - cJSON trees back to JSON text (see include/json.h).
 *
 * Two forms: pretty, which is what a record file holds and matches Python's
 * json.dumps(indent=2, sort_keys=True, ensure_ascii=False) byte for byte so
 * the same record always gives the same file; and compact, for request
 * bodies, with keys in tree order.  Raw items (the number literals
 * dfs_json_parse makes) are written as they are, so money keeps its digits.
 * The tree is never changed: sorting goes through an array of pointers.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "banned.h"

#define APPEND(out, s, n)					\
	do {							\
		int ret_ = dfs_buf_append((out), (s), (n));	\
		if (ret_ < 0)					\
			return ret_;				\
	} while (0)
#define APPEND_LIT(out, lit) APPEND(out, lit, sizeof(lit) - 1)

/* What follows the backslash for bytes that need escaping; 'u' = \u00XX.
 * Python's json.dumps(ensure_ascii=False) escapes exactly these. */
static const char escape_as[256] = {
	[0x00 ... 0x07] = 'u',
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [0x0b] = 'u',
	['\f'] = 'f', ['\r'] = 'r',
	[0x0e ... 0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\',
};

static int render_string(const char *str, struct dfs_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(str ? str : "");
	const unsigned char *run = p;
	char esc[6];

	APPEND_LIT(out, "\"");
	for (; *p; p++) {
		char e = escape_as[*p];

		if (!e)
			continue;
		if (p > run)
			APPEND(out, run, (size_t)(p - run));
		run = p + 1;
		esc[0] = '\\';
		esc[1] = e;
		if (e != 'u') {
			APPEND(out, esc, 2);
			continue;
		}
		esc[2] = '0';
		esc[3] = '0';
		esc[4] = hex[*p >> 4];
		esc[5] = hex[*p & 15];
		APPEND(out, esc, 6);
	}
	if (p > run)
		APPEND(out, run, (size_t)(p - run));
	APPEND_LIT(out, "\"");
	return 0;
}

static int render_double(double v, struct dfs_buf *out)
{
	char tmp[40];
	int prec, n = 0;

	/* JSON has no NaN or infinity; cJSON prints null for them too. */
	if (!isfinite(v)) {
		APPEND_LIT(out, "null");
		return 0;
	}
	/* Integral and exact in a double: no exponent, no ".0".  (The cast is
	 * defined in this range, and keeps libm out of the link.) */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	    v == (double)(long long)v) {
		n = snprintf(tmp, sizeof(tmp), "%.0f", v);
	} else {
		for (prec = 1; prec <= 17; prec++) {
			n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	APPEND(out, tmp, (size_t)n);
	return 0;
}

static int indent(struct dfs_buf *out, int level)
{
	static const char spaces[] = "                                "; /* 32 */
	size_t n = (size_t)level * 2;

	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		APPEND(out, spaces, k);
		n -= k;
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int render_pretty(const cJSON *item, struct dfs_buf *out, int level,
			 int (*keep)(const char *key));

static int render_scalar(const cJSON *item, struct dfs_buf *out)
{
	switch (item->type & 0xff) {
	case cJSON_False:
		APPEND_LIT(out, "false");
		return 0;
	case cJSON_True:
		APPEND_LIT(out, "true");
		return 0;
	case cJSON_NULL:
		APPEND_LIT(out, "null");
		return 0;
	case cJSON_Number:
		return render_double(item->valuedouble, out);
	case cJSON_String:
		return render_string(item->valuestring, out);
	case cJSON_Raw:
		if (!item->valuestring)
			return -EINVAL;
		APPEND(out, item->valuestring, strlen(item->valuestring));
		return 0;
	}
	return -EINVAL;
}

/* Members are sorted through an array of pointers so the tree stays const;
 * most records fit the on-stack array. */
#define SORT_STACK 64

static int render_object_pretty(const cJSON *obj, struct dfs_buf *out,
				int level, int (*keep)(const char *key))
{
	const cJSON *stackv[SORT_STACK];
	const cJSON **v = stackv;
	const cJSON *c;
	size_t n = 0, i;
	int sorted = 1, ret = 0;

	for (c = obj->child; c; c = c->next)
		if (!keep || keep(c->string ? c->string : ""))
			n++;
	if (n == 0) {
		APPEND_LIT(out, "{}");
		return 0;
	}
	if (n > SORT_STACK) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	i = 0;
	for (c = obj->child; c; c = c->next) {
		if (keep && !keep(c->string ? c->string : ""))
			continue;
		v[i] = c;
		if (i && sorted && cmp_key(&v[i - 1], &v[i]) > 0)
			sorted = 0;
		i++;
	}
	if (!sorted)
		qsort(v, n, sizeof(*v), cmp_key);

	ret = dfs_buf_append(out, "{", 1);
	for (i = 0; i < n && ret == 0; i++) {
		ret = dfs_buf_append(out, "\n", 1);
		if (!ret)
			ret = indent(out, level + 1);
		if (!ret)
			ret = render_string(v[i]->string, out);
		if (!ret)
			ret = dfs_buf_append(out, ": ", 2);
		if (!ret)
			ret = render_pretty(v[i], out, level + 1, NULL);
		if (!ret && i + 1 < n)
			ret = dfs_buf_append(out, ",", 1);
	}
	if (!ret)
		ret = dfs_buf_append(out, "\n", 1);
	if (!ret)
		ret = indent(out, level);
	if (!ret)
		ret = dfs_buf_append(out, "}", 1);
	if (v != stackv)
		free(v);
	return ret;
}

static int render_pretty(const cJSON *item, struct dfs_buf *out, int level,
			 int (*keep)(const char *key))
{
	const cJSON *c;
	int ret;

	switch (item->type & 0xff) {
	case cJSON_Object:
		return render_object_pretty(item, out, level, keep);
	case cJSON_Array:
		if (!item->child) {
			APPEND_LIT(out, "[]");
			return 0;
		}
		APPEND_LIT(out, "[");
		for (c = item->child; c; c = c->next) {
			APPEND_LIT(out, "\n");
			ret = indent(out, level + 1);
			if (ret < 0)
				return ret;
			ret = render_pretty(c, out, level + 1, NULL);
			if (ret < 0)
				return ret;
			if (c->next)
				APPEND_LIT(out, ",");
		}
		APPEND_LIT(out, "\n");
		ret = indent(out, level);
		if (ret < 0)
			return ret;
		APPEND_LIT(out, "]");
		return 0;
	}
	return render_scalar(item, out);
}

int dfs_json_render_pretty(const cJSON *item, struct dfs_buf *out)
{
	if (!item)
		return -EINVAL;
	return render_pretty(item, out, 0, NULL);
}

int dfs_json_render_pretty_filtered(const cJSON *obj,
				    int (*keep)(const char *key),
				    struct dfs_buf *out)
{
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	return render_object_pretty(obj, out, 0, keep);
}

int dfs_json_render_compact(const cJSON *item, struct dfs_buf *out)
{
	const cJSON *c;
	int ret;

	if (!item)
		return -EINVAL;
	switch (item->type & 0xff) {
	case cJSON_Object:
	case cJSON_Array: {
		int is_obj = (item->type & 0xff) == cJSON_Object;

		APPEND(out, is_obj ? "{" : "[", 1);
		for (c = item->child; c; c = c->next) {
			if (is_obj) {
				ret = render_string(c->string, out);
				if (ret < 0)
					return ret;
				APPEND_LIT(out, ":");
			}
			ret = dfs_json_render_compact(c, out);
			if (ret < 0)
				return ret;
			if (c->next)
				APPEND_LIT(out, ",");
		}
		APPEND(out, is_obj ? "}" : "]", 1);
		return 0;
	}
	}
	return render_scalar(item, out);
}
