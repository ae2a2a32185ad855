/* schema_body.c - the body of a write, built from an edited record file
 * (dfs_schema_body, see include/schema.h).
 *
 * Pure, like schema.c whose columns it reads.  Three passes: classify says
 * what to do with every key of the file and gathers what is wrong, so one
 * message names every offending key; resolve asks which table a polymorphic
 * lookup's id belongs to, which costs requests, so only for a file that is
 * otherwise fine; emit builds the body in the file's order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "json.h"
#include "schema.h"
#include "util.h"
#include "banned.h"

#define LOOKUP_HINT "@Microsoft.Dynamics.CRM.lookuplogicalname"
#define BIND_SUFFIX "@odata.bind"

enum act { ACT_SKIP, ACT_COPY, ACT_BIND, ACT_CLEAR };

struct action {
	enum act what;
	const cJSON *item;
	const struct dfs_column *col;
	const struct dfs_lookup_target *t; /* ACT_BIND; NULL until resolved */
	char id[DFS_GUID_LEN + 1];	/* ACT_BIND, lower case */
};

/* What is wrong with a file, gathered so one message names every key. */
struct problems {
	struct dfs_buf unknown;	/* "'a', 'b'" */
	size_t n_unknown;
	struct dfs_buf fixed;	/* changed columns not valid for update */
	size_t n_fixed;
	struct dfs_buf other;	/* whole clauses, "; "-separated */
};

/*
 * Keys and values come from the user's file and may hold anything: in a
 * message they go through dfs_printable, cut after SHOWN_MAX bytes.
 */
#define SHOWN_MAX 160
#define SHOWN_SIZE (SHOWN_MAX + 4)	/* room for "..." and the NUL */

static const char *buf_str(const struct dfs_buf *b)
{
	return b->data ? b->data : "";
}

static void add_name(struct dfs_buf *b, size_t *n, const char *key)
{
	char tmp[SHOWN_SIZE];

	(void)dfs_buf_appendf(b, "%s'%s'", *n ? ", " : "", dfs_printable(key, (size_t)-1, tmp, sizeof(tmp)));
	++*n;
}

static void add_clause(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_clause(struct problems *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)dfs_buf_appendf(&p->other, "%s%s", p->other.len ? "; " : "", line);
}

static int has_problems(const struct problems *p)
{
	return p->n_unknown || p->n_fixed || p->other.len;
}

static void explain(const struct problems *p, const char *entity, char *why, size_t cap)
{
	struct dfs_buf b;

	dfs_buf_init(&b, 0);
	if (p->n_unknown)
		(void)dfs_buf_appendf(&b, "unknown column%s %s: entity '%s' has no such column%s",
				      p->n_unknown > 1 ? "s" : "", buf_str(&p->unknown), entity,
				      p->n_unknown > 1 ? "s" : "");
	if (p->n_fixed)
		(void)dfs_buf_appendf(&b, "%scolumn%s %s cannot be changed (not valid for update)",
				      b.len ? "; " : "", p->n_fixed > 1 ? "s" : "", buf_str(&p->fixed));
	if (p->other.len)
		(void)dfs_buf_appendf(&b, "%s%s", b.len ? "; " : "", buf_str(&p->other));
	snprintf(why, cap, "%s", b.data ? b.data : "out of memory");
	dfs_buf_free(&b);
}

static void problems_free(struct problems *p)
{
	dfs_buf_free(&p->unknown);
	dfs_buf_free(&p->fixed);
	dfs_buf_free(&p->other);
}

/* "account", "account or contact", "account, contact or lead". */
static void target_names(const struct dfs_column *col, char *out, size_t cap)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < col->n_targets && len < cap; i++) {
		int k = snprintf(out + len, cap - len, "%s%s",
				 i == 0 ? "" : i + 1 == col->n_targets ? " or " : ", ",
				 col->targets[i].entity);

		if (k < 0)
			break;
		len += (size_t)k;
	}
}

/* Equal lookup values: GUIDs compare regardless of case. */
static int same_lookup(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcasecmp(a->valuestring, b->valuestring) == 0;
	return dfs_json_same_value(a, b);
}

/* Pick the target of a lookup to be set to A->id (NULL: ask the resolver). */
static void choose_target(const struct dfs_column *col, const cJSON *file, const char *key,
			  struct action *a, struct problems *p)
{
	char hint_key[300], names[256], tmp[SHOWN_SIZE];
	const char *hint;
	size_t i;

	if (col->n_targets == 1) {
		a->t = &col->targets[0];
		return;
	}
	if (snprintf(hint_key, sizeof(hint_key), "%s" LOOKUP_HINT, key) >= (int)sizeof(hint_key))
		return;
	hint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(file, hint_key));
	if (!hint)
		return;
	for (i = 0; i < col->n_targets; i++) {
		if (strcmp(col->targets[i].entity, hint) == 0) {
			a->t = &col->targets[i];
			return;
		}
	}
	target_names(col, names, sizeof(names));
	add_clause(p, "lookup '%s': '%s' (from '%s') is not one of its tables (%s)", col->name,
		   dfs_printable(hint, (size_t)-1, tmp, sizeof(tmp)), hint_key, names);
}

/* A changed column not valid for update: in a restore it is left out and
 * counted, in an edit it is an error. */
static void changed_fixed(int restore, const char *key, struct problems *p, int *dropped)
{
	if (restore)
		++*dropped;
	else
		add_name(&p->fixed, &p->n_fixed, key);
}

/* First pass: what to do with one member of FILE. */
static void classify(const struct dfs_schema *s, const cJSON *file, const cJSON *base,
		     int restore, const cJSON *item, struct action *a, struct problems *p,
		     int *dropped)
{
	const char *key = item->string;
	const struct dfs_column *col;
	int lv;

	a->what = ACT_SKIP;
	a->item = item;
	if (!key || strchr(key, '@'))
		return;
	/* The id is the URL's business; changing it is not an update. */
	if (strcmp(key, s->primary_id) == 0) {
		if (base && !dfs_json_same_value(item, cJSON_GetObjectItemCaseSensitive(base, key)))
			changed_fixed(restore, key, p, dropped);
		return;
	}
	col = dfs_schema_column(s, key, &lv);
	if (!col) {
		size_t len = strlen(key);

		add_name(&p->unknown, &p->n_unknown, key);
		if (dfs_schema_is_lookup(dfs_schema_find(s, key)))
			add_clause(p, "lookup '%s' is written as '_%s_value'", key, key);
		else if (len > 7 && key[0] == '_' && strcmp(key + len - 6, "_value") == 0 &&
			 len - 7 < 256) {
			char name[256];

			memcpy(name, key + 1, len - 7);
			name[len - 7] = '\0';
			if (dfs_schema_find(s, name))
				add_clause(p, "column '%s' is not a lookup and is written as '%s'",
					   name, name);
		}
		return;
	}
	if (base) {
		const cJSON *was = cJSON_GetObjectItemCaseSensitive(base, key);

		if (lv ? same_lookup(item, was) : dfs_json_same_value(item, was))
			return;
		if (!(col->flags & DFS_COL_UPDATE)) {
			changed_fixed(restore, key, p, dropped);
			return;
		}
	} else {
		if (dfs_json_is_null(item))
			return;
		if (!(col->flags & DFS_COL_CREATE)) {
			++*dropped;
			return;
		}
	}
	a->col = col;
	if (!lv) {
		a->what = ACT_COPY;
		return;
	}
	if (col->n_targets == 0) {
		add_clause(p, "lookup '%s' cannot be %s: none of its tables is available through the Web API",
			   col->name, dfs_json_is_null(item) ? "cleared" : "set");
		return;
	}
	if (dfs_json_is_null(item)) {
		a->what = ACT_CLEAR;
		return;
	}
	if (!cJSON_IsString(item) ||
	    dfs_guid_parse(item->valuestring, strlen(item->valuestring), 0, a->id) < 0) {
		char tmp[SHOWN_SIZE];

		add_clause(p, "lookup '%s': %s%s%s is not a record id (a GUID)", col->name,
			   cJSON_IsString(item) ? "'" : "",
			   cJSON_IsString(item) ? dfs_printable(item->valuestring, (size_t)-1, tmp, sizeof(tmp)) : "the value",
			   cJSON_IsString(item) ? "'" : "");
		return;
	}
	a->what = ACT_BIND;
	choose_target(col, file, key, a, p);
}

static int add_bind(cJSON *body, const char *nav, cJSON *value)
{
	char *key = NULL;
	int ok;

	if (!value || asprintf(&key, "%s" BIND_SUFFIX, nav) < 0) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	ok = cJSON_AddItemToObject(body, key, value);
	free(key);
	if (!ok) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	return 0;
}

/* Third pass: the body, in the file's order. */
static int emit(const struct action *a, cJSON *body)
{
	char *ref;
	size_t i, j;
	int ret;

	switch (a->what) {
	case ACT_SKIP:
		return 0;
	case ACT_COPY: {
		cJSON *copy = cJSON_Duplicate(a->item, 1);

		if (!copy || !cJSON_AddItemToObject(body, a->item->string, copy)) {
			cJSON_Delete(copy);
			return -ENOMEM;
		}
		return 0;
	}
	case ACT_BIND:
		if (asprintf(&ref, "/%s(%s)", a->t->set_name, a->id) < 0)
			return -ENOMEM;
		ret = add_bind(body, a->t->nav, cJSON_CreateString(ref));
		free(ref);
		return ret;
	case ACT_CLEAR:
		/* Clearing through another target's navigation property leaves a
		 * polymorphic lookup as it is; nulling all of them clears it
		 * whatever it points at. */
		for (i = 0; i < a->col->n_targets; i++) {
			for (j = 0; j < i; j++)
				if (strcmp(a->col->targets[j].nav, a->col->targets[i].nav) == 0)
					break;
			if (j < i)
				continue;
			if ((ret = add_bind(body, a->col->targets[i].nav, cJSON_CreateNull())) < 0)
				return ret;
		}
		return 0;
	}
	return 0;
}

int dfs_schema_body(const struct dfs_schema *s, const cJSON *file, const cJSON *base,
		    cJSON **body, int *dropped, char *why, size_t cap,
		    dfs_schema_resolve_fn resolve, void *ctx)
{
	struct problems p;
	struct action *acts = NULL;
	const cJSON *item, *ver;
	char names[256];
	size_t n = 0, i;
	int restore = 0, drops = 0, ret;

	*body = NULL;
	if (dropped)
		*dropped = 0;
	if (why && cap)
		why[0] = '\0';
	memset(&p, 0, sizeof(p));
	dfs_buf_init(&p.unknown, 0);
	dfs_buf_init(&p.fixed, 0);
	dfs_buf_init(&p.other, 0);
	if (!cJSON_IsObject(file)) {
		snprintf(why, cap, "a record file must hold one JSON object");
		return -EINVAL;
	}
	if (base && !cJSON_IsObject(base)) {
		snprintf(why, cap, "the record's current version is not a JSON object");
		return -EIO;
	}
	/* Another version of the record (a restored backup, a copy of another
	 * record) carries its own system columns; an edit of this version has
	 * no business changing them. */
	ver = cJSON_GetObjectItemCaseSensitive(file, "versionnumber");
	if (base && ver && !dfs_json_same_value(ver, cJSON_GetObjectItemCaseSensitive(base, "versionnumber")))
		restore = 1;

	cJSON_ArrayForEach(item, file)
		n++;
	if (n && !(acts = calloc(n, sizeof(*acts)))) {
		ret = -ENOMEM;
		goto oom;
	}
	i = 0;
	cJSON_ArrayForEach(item, file)
		classify(s, file, base, restore, item, &acts[i++], &p, &drops);
	if (has_problems(&p)) {
		ret = -EINVAL;
		goto bad;
	}

	/* Probing costs requests, so only a file that is otherwise fine gets it. */
	for (i = 0; i < n; i++) {
		struct action *a = &acts[i];
		const struct dfs_lookup_target *t = NULL;
		size_t k;

		if (a->what != ACT_BIND || a->t)
			continue;
		target_names(a->col, names, sizeof(names));
		if (!resolve) {
			add_clause(&p, "lookup '%s': cannot tell which of %s has id %s", a->col->name,
				   names, a->id);
			continue;
		}
		ret = resolve(ctx, a->col, a->id, &t);
		if (ret == DFS_SCHEMA_DEFER) {
			a->what = ACT_SKIP;
			continue;
		}
		if (ret == -ENOENT) {
			add_clause(&p, "lookup '%s': no %s with id %s", a->col->name, names, a->id);
			continue;
		}
		for (k = 0; ret == 0 && t && k < a->col->n_targets; k++)
			if (t == &a->col->targets[k])
				break;
		if (ret == 0 && (!t || k == a->col->n_targets))
			ret = -EIO;	/* not one of this column's targets */
		if (ret < 0) {
			snprintf(why, cap, "lookup '%s': cannot tell which of %s has id %s: %s",
				 a->col->name, names, a->id, strerror(-ret));
			goto out;
		}
		a->t = t;
	}
	if (has_problems(&p)) {
		ret = -EINVAL;
		goto bad;
	}

	if (!(*body = cJSON_CreateObject())) {
		ret = -ENOMEM;
		goto oom;
	}
	for (i = 0; i < n; i++)
		if ((ret = emit(&acts[i], *body)) < 0)
			goto oom;
	if (dropped)
		*dropped = drops;
	ret = 0;
	goto out;

bad:
	explain(&p, s->entity, why, cap);
	goto out;
oom:
	snprintf(why, cap, "out of memory");
	cJSON_Delete(*body);
	*body = NULL;
out:
	free(acts);
	problems_free(&p);
	return ret;
}

const struct dfs_column *dfs_schema_nav_column(const struct dfs_schema *s, const char *nav,
					       size_t len)
{
	size_t i, j;

	for (i = 0; i < s->n_cols; i++)
		for (j = 0; j < s->cols[i].n_targets; j++)
			if (strlen(s->cols[i].targets[j].nav) == len &&
			    strncmp(s->cols[i].targets[j].nav, nav, len) == 0)
				return &s->cols[i];
	return NULL;
}

/* Does REC's lookup COL hold what the bind VALUE ("/<set>(<id>)" or null) set? */
static int bind_shows(const struct dfs_column *col, const cJSON *value, const cJSON *rec)
{
	const cJSON *have;
	const char *open, *close;
	char key[256], id[DFS_GUID_LEN + 1];

	snprintf(key, sizeof(key), "_%s_value", col->name);
	have = cJSON_GetObjectItemCaseSensitive(rec, key);
	if (cJSON_IsNull(value))
		return !have || cJSON_IsNull(have);
	if (!cJSON_IsString(value) || !cJSON_IsString(have))
		return 0;
	open = strrchr(value->valuestring, '(');
	close = open ? strchr(open, ')') : NULL;
	if (!close || dfs_guid_parse(open + 1, (size_t)(close - open - 1), 0, id) < 0)
		return 0;
	return strcasecmp(have->valuestring, id) == 0;
}

int dfs_schema_applied(const struct dfs_schema *s, const cJSON *body, const cJSON *rec)
{
	const struct dfs_column *col;
	const cJSON *item;
	size_t n;

	if (!cJSON_IsObject(body) || !cJSON_IsObject(rec))
		return 0;
	cJSON_ArrayForEach(item, body) {
		n = strlen(item->string);
		if (dfs_has_suffix(item->string, BIND_SUFFIX)) {
			col = dfs_schema_nav_column(s, item->string, n - strlen(BIND_SUFFIX));
			if (!col || !bind_shows(col, item, rec))
				return 0;
		} else if (!dfs_json_same_value(item, cJSON_GetObjectItemCaseSensitive(rec,
											  item->string))) {
			return 0;
		}
	}
	return 1;
}
